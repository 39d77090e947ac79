"""A local, versioned S3 on loopback (moto's server) for rehearsals, demos and tests."""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from typing import Any

import boto3
import msgspec
from botocore.config import Config
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from publishkit.errors import UsageError
from publishkit.formats.schemas import load_schema
from publishkit.sandbox.s3_credentials import CredentialCheck
from publishkit.sandbox.s3_multipart import complete_without_holding_objects

SANDBOX_KEY = "sandbox"  # the key and secret the sandbox accepts by default; not secrets
DEFAULT_BUCKET = "demo-release"
DEFAULT_REGION = "us-west-2"
DANDI_BLOB_BUCKET = "dandi-blobs"  # where the sandbox's DANDI archive keeps its blobs


class SandboxInfo(msgspec.Struct, frozen=True):
    endpoint_url: str
    bucket: str
    region: str

    def environment(self) -> dict[str, str]:
        """What a shell needs to release into the sandbox."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": SANDBOX_KEY,
            "AWS_SECRET_ACCESS_KEY": SANDBOX_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "PUBLISHKIT_BUCKET": self.bucket,
        }


def check_names(bucket: str, region: str) -> None:
    """A UsageError unless S3 (and publishkit.yaml) would accept this bucket and region name."""
    s3 = load_schema("config")["properties"]["s3"]["properties"]
    if not re.fullmatch(s3["bucket"]["pattern"], bucket):
        raise UsageError(
            f"--bucket {bucket!r}: not a valid S3 bucket name",
            hint="use 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending "
            "with a letter or digit, e.g. demo-release",
        )
    if bucket == DANDI_BLOB_BUCKET:
        raise UsageError(
            f"--bucket {bucket}: the sandbox keeps its DANDI archive's files in this bucket",
            hint="choose another name, e.g. demo-release",
        )
    if not re.fullmatch(s3["region"]["pattern"], region):
        raise UsageError(
            f"--region {region!r}: not a valid region name",
            hint="use lowercase letters, digits and hyphens, e.g. us-west-2",
        )


class LoopbackServer:
    """A WSGI app served on 127.0.0.1 by a daemon thread, from `start` until `stop`: what each
    sandbox (S3, DANDI) runs its app in."""

    def __init__(self, name: str, port: int) -> None:
        self.name, self._port = name, port  # port 0: a free one
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """http://127.0.0.1:PORT, while it runs."""
        if self._server is None:
            raise RuntimeError(f"the {self.name} sandbox is not running")
        return f"http://127.0.0.1:{self._server.port}"

    def start(self, app: Any, handler: type[WSGIRequestHandler]) -> None:
        """Serve `app`. The port is bound here, first: one in use is a UsageError at once,
        never a server thread that dies unseen."""
        port = self._port
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug does
            listener.bind(("127.0.0.1", port))
            listener.listen(128)
            server = make_server(
                "127.0.0.1", port, app, threaded=True, request_handler=handler, fd=listener.fileno()
            )
        except (OSError, OverflowError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(
                f"cannot listen on 127.0.0.1:{port}: {reason}",
                hint=f"pass --port 0 to pick a free port, or stop the program using port {port}",
            ) from None
        finally:
            listener.close()  # the server holds its own duplicate of the socket
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"{self.name.lower()}-sandbox", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=10)
            self._server = self._thread = None


class S3Sandbox:
    """moto's S3 server in a background thread, bound to 127.0.0.1; a context manager."""

    def __init__(self, port: int = 0, *, key: str = SANDBOX_KEY, secret: str = SANDBOX_KEY) -> None:
        self._keys = {key: secret}  # the credentials it accepts; others get S3's 403s
        self._loopback = LoopbackServer("S3", port)

    def start(self) -> str:
        # moto is a heavy import, only when a sandbox runs
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        _list_versions_without_copying_bodies()
        _ranges_without_copying_bodies()
        complete_without_holding_objects()
        app = CredentialCheck(DomainDispatcherApplication(create_backend_app), self._keys)
        self._loopback.start(app, MotoRequestHandler)
        return self.endpoint_url

    def accept(self, key: str, secret: str) -> None:
        """Accept these credentials too (a test's own distinctive secret, say)."""
        self._keys[key] = secret

    @property
    def endpoint_url(self) -> str:
        return self._loopback.url

    def stop(self) -> None:
        self._loopback.stop()

    def __enter__(self) -> S3Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, region: str = DEFAULT_REGION) -> Any:
        return boto3.session.Session(
            aws_access_key_id=SANDBOX_KEY, aws_secret_access_key=SANDBOX_KEY
        ).client(
            "s3",
            endpoint_url=self.endpoint_url,
            config=Config(region_name=region, s3={"addressing_style": "path"}),
        )

    def create_bucket(
        self, bucket: str = DEFAULT_BUCKET, region: str = DEFAULT_REGION, *, versioned: bool = True
    ) -> SandboxInfo:
        """A bucket like a public release bucket: anyone may read, versioning on."""
        client = self.client(region)
        args: dict[str, Any] = {"Bucket": bucket}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        client.create_bucket(**args)
        if versioned:
            client.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}
            )
        client.put_bucket_policy(Bucket=bucket, Policy=json.dumps(_public_read(bucket)))
        return SandboxInfo(self.endpoint_url, bucket, region)


def _list_versions_without_copying_bodies() -> None:
    """Patch moto (in this process, once) so that listing versions copies no object body.

    moto's `list_object_versions` deep-copies every version it lists to mark the latest one. A
    deep copy of a `FakeKey` writes its body into a new `SpooledTemporaryFile` (a deleted file on
    disk past 5 MB), and moto's `BaseModel` keeps every instance ever made in `instances_tracked`,
    so no copy is ever freed: each listing of a bucket of 2 GB held 2 GB more of disk until the
    disk was full. Our copy shares the original's body (and its lock), is not tracked, and never
    closes what it borrowed; the body stays the original's, freed when the original is.
    """
    from moto.s3.models import FakeKey

    if getattr(FakeKey, "_publishkit_shallow_listing", False):
        return

    def listed_copy(self: Any, memo: dict[int, Any]) -> Any:
        clone = object.__new__(type(self))  # object's __new__: not kept in instances_tracked
        clone.__dict__.update(self.__dict__)
        clone.__dict__["dispose"] = _borrowed_body_kept  # its __del__ leaves the body open
        return clone

    FakeKey.__deepcopy__ = listed_copy  # type: ignore[attr-defined]
    FakeKey._publishkit_shallow_listing = True  # type: ignore[attr-defined]


_RANGED = threading.local()  # set while moto answers a GET with a Range header


def _ranges_without_copying_bodies() -> None:
    """Patch moto (in this process, once) so that a ranged GET reads only its range.

    moto answers every GET with the whole body (`FakeKey.value`, a copy under the key's lock),
    runs a regex over it and only then slices the range out: a ranged GET of 8 MiB of a 1 GiB
    object copied and scanned 1 GiB, so a parallel download's speed measured moto's memcpy, not
    the client. While moto answers a GET with a Range header, the body is a view that reads
    only the bytes sliced from it; anything else made of it (a range moto serves whole) reads
    the whole body as before.
    """
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    if getattr(S3Response, "_publishkit_ranged_reads", False):
        return
    whole_value: Any = FakeKey.value  # the property object
    get_object, handle_range = S3Response.get_object, S3Response._handle_range_header

    def value(self: Any) -> Any:
        return _BodyView(self) if getattr(_RANGED, "on", False) else whole_value.fget(self)

    def ranged_get_object(self: Any) -> Any:
        ranged = bool(self.headers.get("range")) and "partNumber" not in self.querystring
        _RANGED.on = ranged
        try:
            return get_object(self)
        finally:
            _RANGED.on = False

    def range_of(self: Any, request: Any, headers: Any, content: Any) -> Any:
        # moto calls this for every 200 answer to a GET with a Range header: a view made for
        # one always comes here, and leaves as bytes (a range moto serves whole: all of them)
        status, headers, body = handle_range(self, request, headers, content)
        return status, headers, body.whole() if isinstance(body, _BodyView) else body

    FakeKey.value = property(value, whole_value.fset)  # type: ignore[method-assign,assignment]
    S3Response.get_object = ranged_get_object  # type: ignore[method-assign]
    S3Response._handle_range_header = range_of  # type: ignore[method-assign,assignment]
    S3Response._publishkit_ranged_reads = True  # type: ignore[attr-defined]


class _BodyView:
    """An object's body as moto's range handling uses it (its length, a slice of it), read
    from the stored body under the key's lock only where sliced."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.size)

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(len(self))
        with self._key.lock:
            self._key._value_buffer.seek(start)
            return bytes(self._key._value_buffer.read(max(0, stop - start)))

    def whole(self) -> bytes:
        return self[0 : len(self)]


def _borrowed_body_kept(garbage: bool = False) -> None:
    """A listed copy's dispose(): the body belongs to the stored version, which closes it."""


def _public_read(bucket: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
            {
                "Sid": "PublicList",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:ListBucket", "s3:ListBucketVersions"],
                "Resource": f"arn:aws:s3:::{bucket}",
            },
        ],
    }
