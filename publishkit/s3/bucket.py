"""The object store: a versioned S3 bucket reached through botocore (AWS, MinIO, Ceph, moto).

botocore alone, not boto3 over it: boto3's session adds nothing a client of ours uses (its
resources and the transfer methods it injects into every S3 client, which import s3transfer),
and costs ~40 ms of CPU to import and set up, a tenth of a one-change release."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Collection, Iterator
from typing import Any, TypeVar

import botocore.loaders
import botocore.session
import msgspec
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from publishkit.errors import CredentialsError, StorageError
from publishkit.s3.refusals import error_code, refusal_code, storage_error

BLAKE2B_METADATA = "publishkit-blake2b"
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchBucket"}
_Answer = TypeVar("_Answer")


class ObjectVersion(msgspec.Struct, frozen=True):
    """One version of an object: its key, version ID, size, metadata and ETag."""

    key: str
    version_id: str
    size: int
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    etag: str = ""


def make_client(
    region: str,
    endpoint_url: str | None,
    *,
    anonymous: bool = False,
    pool: int = 0,
    using: botocore.session.Session | None = None,
    store_checksums: bool = True,
) -> Any:
    """An S3 client; `anonymous` signs nothing (public buckets, consumers); `pool`: for a
    caller that retries (and counts retries) itself, `pool` connections and no retries;
    `using`: a session made just before (`session()`), else one made here. Not
    `store_checksums`: a body read is not hashed again against the checksum the store keeps
    (botocore's default), for a caller that checks every body against a manifest's digests
    (a third digest over every byte, ~0.6 ms a MB)."""
    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": 0 if pool else 5},  # after the 1st
        max_pool_connections=pool or 10,
        s3={"addressing_style": "path"} if endpoint_url else {},
        signature_version=UNSIGNED if anonymous else None,
        response_checksum_validation="when_supported" if store_checksums else "when_required",
    )
    return (using or session()).create_client("s3", endpoint_url=endpoint_url, config=config)


_models: list[Any] = []  # botocore's loader of its service models, once made: shared
_models_lock = threading.Lock()


def session() -> botocore.session.Session:
    """A botocore session of its own (credentials and settings read afresh) that reads
    botocore's S3 model through the process's one loader: a client then costs ~0.04 s, not
    ~0.2 s of parsing the same JSON again (a release makes three or more)."""
    core = botocore.session.Session()
    with _models_lock:
        if not _models:
            _models.append(_S3Models.on(core.get_config_variable("data_path")))
        core.register_component("data_loader", _models[0])
    return core


class _S3Models(botocore.loaders.Loader):
    """botocore's loader of its JSON models, but for one question: which services exist.
    botocore asks it before it loads a service's model, and answers by listing every service
    folder it has (455, each looked into, once per kind of model: ~18 ms of a release's start,
    a twentieth of a release after one change). Only S3's models are loaded here: S3 is the
    answer when it has a model of that kind (else botocore's DataNotFoundError, as for a
    missing model)."""

    @classmethod
    def on(cls, data_path: str | None) -> _S3Models:
        """The loader botocore's `create_loader` makes for `data_path` (AWS_DATA_PATH), as
        this class."""
        if not data_path:
            return cls()
        paths = [os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)]
        return cls(extra_search_paths=paths)

    def list_available_services(self, type_name: str) -> list[str]:
        self.list_api_versions("s3", type_name)  # (cached by botocore's loader)
        return ["s3"]


def has_credentials() -> bool:
    """The usual AWS chain finds credentials (environment, ~/.aws, instance role)."""
    return botocore.session.Session().get_credentials() is not None


class S3Bucket:
    """One bucket, with the operations a release and its consumers need."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        made_by: botocore.session.Session | None = None,
    ) -> None:
        self.client = client
        self.name = bucket
        self.endpoint_url = endpoint_url  # as configured (None: AWS, or not known)
        self._session = made_by  # the session that made the client: `tuned` makes its own too

    @classmethod
    def connect(
        cls,
        bucket: str,
        region: str,
        endpoint_url: str | None,
        *,
        write: bool,
        store_checksums: bool = True,
    ) -> S3Bucket:
        """Writers need credentials; readers without any fall back to unsigned requests. One
        session finds the credentials and makes the client (each costs ~0.03 s).
        `store_checksums`: as `make_client` says."""
        made = session()
        signed = made.get_credentials() is not None
        if write and not signed:
            raise CredentialsError(
                f"s3://{bucket}: no AWS credentials found",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE "
                "(for the sandbox, export the lines `publishkit sandbox` prints)",
            )
        client = make_client(
            region, endpoint_url, anonymous=not signed, using=made, store_checksums=store_checksums
        )
        return cls(client, bucket, endpoint_url=endpoint_url, made_by=made)

    def versioning(self) -> str:
        """'Enabled', 'Suspended' or '' (never enabled); StorageError if the bucket is absent.
        One request: GetBucketVersioning is refused as HeadBucket is (no such bucket, no
        access, credentials refused), with the code in its body."""
        try:
            return str(self.client.get_bucket_versioning(Bucket=self.name).get("Status", ""))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise StorageError(
                    f"s3://{self.name}: the bucket does not exist",
                    hint="create it (with versioning enabled) or fix s3.bucket in publishkit.yaml",
                ) from None
            raise self.error(exc, "") from None
        except BotoCoreError as exc:
            raise self.error(exc, "") from None

    def require_versioning(self, status: str | None = None) -> None:
        """A StorageError, with the command that fixes it, unless the bucket's versioning is
        Enabled (`status`: as `versioning()` found it just before, else asked here)."""
        status = self.versioning() if status is None else status
        if status != "Enabled":
            raise StorageError(
                f"s3://{self.name}: versioning is {status or 'not enabled'}; a release needs "
                "it Enabled so that manifests can pin version IDs",
                hint=f"aws s3api put-bucket-versioning --bucket {self.name} "
                "--versioning-configuration Status=Enabled",
            )

    def location(self) -> str:
        """The region the bucket lives in, as S3 reports it (GetBucketLocation, else the
        region header of HeadBucket); '' when the store tells neither."""
        try:
            found = self.client.get_bucket_location(Bucket=self.name).get("LocationConstraint")
            return str(found or "us-east-1")  # S3 reports us-east-1 as no constraint
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise self.error(exc, "") from None
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        except BotoCoreError as exc:
            raise self.error(exc, "") from None
        try:  # GetBucketLocation may be denied to a release role: HeadBucket says it too
            response = self.client.head_bucket(Bucket=self.name)
            headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        except ClientError as exc:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or headers
        except BotoCoreError as exc:
            raise self.error(exc, "") from None
        return str(headers.get("x-amz-bucket-region", ""))

    def abort_upload(self, key: str, upload_id: str) -> bool:
        """Abort one multipart upload; False when it was no longer open."""
        answer = self._ask(
            key,
            lambda: self.client.abort_multipart_upload(
                Bucket=self.name, Key=key, UploadId=upload_id
            ),
            absent={"NoSuchUpload", *_MISSING},
        )
        return answer is not None

    def open_uploads(self, key: str) -> list[str]:
        """The ids of the multipart uploads open on exactly `key`."""
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.name, Prefix=key
        )
        found = self._ask(
            key,
            lambda: [
                str(u["UploadId"]) for p in pages for u in p.get("Uploads", []) if u["Key"] == key
            ],
        )
        return found or []

    def deleted(self, key: str) -> bool:
        """The latest version of `key` is a delete marker (its older versions remain)."""
        try:
            self.client.head_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            return str(headers.get("x-amz-delete-marker", "")).lower() == "true"
        except BotoCoreError:
            return False
        return False

    def head(self, key: str, version_id: str | None = None) -> ObjectVersion | None:
        """The given (or current) version of `key`, or None when there is none."""
        args = {"Bucket": self.name, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        absent = _MISSING | ({"400"} if version_id else set())  # a malformed version id: none
        response = self._ask(key, lambda: self.client.head_object(**args), absent=absent)
        if response is None:
            return None
        return ObjectVersion(
            key=key,
            version_id=str(response.get("VersionId") or "null"),
            size=int(response["ContentLength"]),
            metadata=dict(response.get("Metadata", {})),
            etag=str(response.get("ETag", "")),
        )

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under `prefix`."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        keys = self._ask(
            prefix, lambda: [str(item["Key"]) for p in pages for item in p.get("Contents", [])]
        )
        return keys or []

    def etags(self, prefix: str) -> dict[str, str]:
        """Every key under `prefix` with the ETag of its latest version (quotes removed): one
        request per 1,000 keys."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=prefix
        )
        found = self._ask(
            prefix,
            lambda: {
                str(item["Key"]): str(item.get("ETag", "")).strip('"')
                for p in pages
                for item in p.get("Contents", [])
            },
        )
        return found or {}

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes | None:
        """The content of the given (or current) version of `key`; None when there is none."""
        body = self._get(key, version_id)
        return None if body is None else b"".join(body)

    def stream(self, key: str, version_id: str, consume: Callable[[bytes], object]) -> bool:
        """Feed one version, chunk by chunk, to `consume`; False when that version is absent."""
        body = self._get(key, version_id)
        if body is None:
            return False

        def read() -> bool:
            for chunk in body:
                consume(chunk)
            return True

        return bool(self._ask(key, read))

    def _get(self, key: str, version_id: str | None) -> Iterator[bytes] | None:
        args = {"Bucket": self.name, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        response = self._ask(key, lambda: self.client.get_object(**args), absent=_MISSING)
        return None if response is None else response["Body"].iter_chunks(1024 * 1024)

    def put_bytes(self, key: str, data: bytes, *, content_type: str, create_only: bool) -> str:
        """Store `data`; `create_only` fails rather than add a version to an existing key."""
        args: dict[str, Any] = {
            "Bucket": self.name,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
            "ChecksumAlgorithm": "SHA256",
            "ChecksumSHA256": _b64_sha256(data),
        }
        if create_only:
            args["IfNoneMatch"] = "*"
        taken = {"PreconditionFailed"}
        answer = self._ask(key, lambda: self.client.put_object(**args), absent=taken)
        if answer is not None:
            return str(answer["VersionId"])
        # A retry of our own PUT whose answer was lost finds the key taken by itself.
        if self.get_bytes(key) == data and (mine := self.head(key)) is not None:
            return mine.version_id
        raise ConditionFailed(
            f"s3://{self.name}/{key} already exists; it is never overwritten",
            hint="cut a new version instead",
        )

    def _ask(
        self, key: str, send: Callable[[], _Answer], *, absent: Collection[str] = ()
    ) -> _Answer | None:
        """`send()`'s answer, or None when the store answers one of the `absent` codes; any
        other refusal or failure of a request on `key` ("" for the bucket) raised as one line
        naming it, with its fix (refusals.storage_error). Every request but versioning's,
        location's and deleted's (which read the refusal's headers) goes through this."""
        try:
            return send()
        except ClientError as exc:
            if _code(exc) in absent:
                return None
            raise self.error(exc, key) from None
        except BotoCoreError as exc:
            raise self.error(exc, key) from None

    def error(self, exc: Exception, key: str) -> StorageError:
        """A failed request on `key` (or the bucket) as one line naming it, with its fix."""
        where = f"s3://{self.name}/{key}" if key else f"s3://{self.name}"
        return storage_error(exc, where, lambda: refusal_code(self.client, self.name))

    def tuned(self, *, connections: int, attempts: int, sign_payload: bool = True) -> S3Bucket:
        """The same bucket through a client of its own: a pool of `connections` connections,
        botocore's standard retries up to `attempts` attempts (1: none, the caller retries).
        Without `sign_payload`, bodies are not read a second time to sign them (as botocore
        does over HTTPS): for requests that carry a signed checksum header of the body."""
        meta = self.client.meta
        config = meta.config.merge(
            Config(
                max_pool_connections=connections,
                retries={"mode": "standard", "total_max_attempts": attempts},
                s3={**(meta.config.s3 or {}), "payload_signing_enabled": sign_payload},
            )
        )
        endpoint = self.endpoint_url or meta.endpoint_url
        made = self._session or session()  # the same credentials: no second session (~30 ms)
        client = made.create_client("s3", endpoint_url=endpoint, config=config)
        return S3Bucket(client, self.name, endpoint_url=self.endpoint_url, made_by=made)


class ConditionFailed(StorageError):
    """A conditional PUT found the key in another state than expected."""


_code = error_code


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
