"""The object store: a versioned S3 bucket reached through boto3 (AWS, MinIO, Ceph, moto)."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .errors import CredentialsError, StorageError

BLAKE2B_METADATA = "publishkit-blake2b"
MAX_PARTS = 10_000
_HASH_READ_SIZE = 1024 * 1024  # a part's checksum is computed in reads of this size
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchBucket"}


@dataclass(frozen=True)
class ObjectVersion:
    key: str
    version_id: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = ""


def make_client(region: str, endpoint_url: str | None, *, anonymous: bool = False) -> Any:
    """A boto3 S3 client; `anonymous` signs nothing (public buckets, consumers)."""
    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": 5},
        s3={"addressing_style": "path"} if endpoint_url else {},
        signature_version=UNSIGNED if anonymous else None,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def has_credentials() -> bool:
    return boto3.session.Session().get_credentials() is not None


class S3Bucket:
    """One bucket, with the operations a release and its consumers need."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.name = bucket

    @classmethod
    def connect(
        cls, bucket: str, region: str, endpoint_url: str | None, *, write: bool
    ) -> S3Bucket:
        """Writers need credentials; readers without any fall back to unsigned requests."""
        signed = has_credentials()
        if write and not signed:
            raise CredentialsError(
                f"s3://{bucket}: no AWS credentials found",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE "
                "(for the sandbox, export the lines `publishkit sandbox` prints)",
            )
        return cls(make_client(region, endpoint_url, anonymous=not signed), bucket)

    def versioning(self) -> str:
        """'Enabled', 'Suspended' or '' (never enabled); StorageError if the bucket is absent."""
        try:
            self.client.head_bucket(Bucket=self.name)
            return str(self.client.get_bucket_versioning(Bucket=self.name).get("Status", ""))
        except ClientError as exc:
            if _code(exc) in _MISSING:
                raise StorageError(
                    f"s3://{self.name}: the bucket does not exist",
                    hint="create it (with versioning enabled) or fix s3.bucket in publishkit.yaml",
                ) from None
            raise self._error(exc, "") from None
        except BotoCoreError as exc:
            raise self._error(exc, "") from None

    def require_versioning(self) -> None:
        status = self.versioning()
        if status != "Enabled":
            raise StorageError(
                f"s3://{self.name}: versioning is {status or 'not enabled'}; a release needs "
                "it Enabled so that manifests can pin version IDs",
                hint=f"aws s3api put-bucket-versioning --bucket {self.name} "
                "--versioning-configuration Status=Enabled",
            )

    def abort_incomplete_uploads(self, prefix: str) -> int:
        """Abort multipart uploads under `prefix` left by a run that died mid-upload."""
        aborted = 0
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.name, Prefix=prefix
            ):
                for upload in page.get("Uploads", []):
                    self.client.abort_multipart_upload(
                        Bucket=self.name, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, prefix) from None
        return aborted

    def head(self, key: str, version_id: str | None = None) -> ObjectVersion | None:
        """The given (or current) version of `key`, or None when there is none."""
        args = {"Bucket": self.name, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        try:
            response = self.client.head_object(**args)
        except ClientError as exc:
            if _code(exc) in _MISSING or (_code(exc) == "400" and version_id):
                return None
            raise self._error(exc, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None
        return ObjectVersion(
            key=key,
            version_id=str(response.get("VersionId") or "null"),
            size=int(response["ContentLength"]),
            metadata=dict(response.get("Metadata", {})),
            etag=str(response.get("ETag", "")),
        )

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=prefix
            ):
                keys.extend(item["Key"] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, prefix) from None
        return keys

    def get_bytes(self, key: str, version_id: str | None = None) -> bytes | None:
        body = self._get(key, version_id)
        return None if body is None else b"".join(body)

    def stream(self, key: str, version_id: str, consume: Callable[[bytes], object]) -> bool:
        """Feed one version, chunk by chunk, to `consume`; False when that version is absent."""
        body = self._get(key, version_id)
        if body is None:
            return False
        try:
            for chunk in body:
                consume(chunk)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from None
        return True

    def _get(self, key: str, version_id: str | None) -> Iterator[bytes] | None:
        args = {"Bucket": self.name, "Key": key}
        if version_id:
            args["VersionId"] = version_id
        try:
            response = self.client.get_object(**args)
        except ClientError as exc:
            if _code(exc) in _MISSING:
                return None
            raise self._error(exc, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None
        return response["Body"].iter_chunks(1024 * 1024)

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
        try:
            return str(self.client.put_object(**args)["VersionId"])
        except ClientError as exc:
            if _code(exc) == "PreconditionFailed":
                # A retry of our own PUT whose answer was lost finds the key taken by itself.
                if self.get_bytes(key) == data and (mine := self.head(key)) is not None:
                    return mine.version_id
                raise StorageError(
                    f"s3://{self.name}/{key} already exists; it is never overwritten",
                    hint="cut a new version instead",
                ) from None
            raise self._error(exc, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None

    def put_file(
        self,
        key: str,
        path: Path,
        *,
        sha256_hex: str,
        blake2b_hex: str,
        multipart_threshold: int,
        on_bytes: Callable[[int], None],
        replaces: ObjectVersion | None = None,
    ) -> str:
        """Upload a file with S3-verified SHA-256 checksums; returns the new VersionId.

        The PUT is conditional on the key's current state (`replaces`: absent, or that ETag), so
        a retry of a PUT that S3 applied but whose answer was lost cannot add a second version:
        it fails with ConditionFailed, and the caller adopts what is there.
        """
        size = path.stat().st_size
        extra = {
            "ContentType": mimetypes.guess_type(path.name)[0] or "application/octet-stream",
            "Metadata": {BLAKE2B_METADATA: blake2b_hex},
        }
        try:
            if size < multipart_threshold:
                condition = {"IfMatch": replaces.etag} if replaces else {"IfNoneMatch": "*"}
                with open(path, "rb") as body:
                    response = self.client.put_object(
                        Bucket=self.name,
                        Key=key,
                        Body=body,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256_hex)).decode(),
                        **condition,
                        **extra,
                    )
                on_bytes(size)
                return str(response["VersionId"])
            return self._put_multipart(key, path, size, multipart_threshold, extra, on_bytes)
        except ClientError as exc:
            if _code(exc) == "PreconditionFailed":
                raise ConditionFailed(f"s3://{self.name}/{key} changed during the upload") from None
            raise self._error(exc, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None

    def _put_multipart(
        self,
        key: str,
        path: Path,
        size: int,
        part_size: int,
        extra: dict[str, Any],
        on_bytes: Callable[[int], None],
    ) -> str:
        part_size = max(part_size, -(-size // MAX_PARTS))
        upload_id = self.client.create_multipart_upload(
            Bucket=self.name, Key=key, ChecksumAlgorithm="SHA256", **extra
        )["UploadId"]
        parts = []
        try:
            with open(path, "rb", buffering=0) as handle:
                for number, start in enumerate(range(0, size, part_size), start=1):
                    length = min(part_size, size - start)
                    body = _FileRange(handle.fileno(), start, length, str(path))
                    checksum = body.b64_sha256()
                    response = self.client.upload_part(
                        Bucket=self.name,
                        Key=key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=body,
                        ChecksumAlgorithm="SHA256",
                        ChecksumSHA256=checksum,
                    )
                    parts.append(
                        {"ETag": response["ETag"], "PartNumber": number, "ChecksumSHA256": checksum}
                    )
                    on_bytes(length)
            response = self.client.complete_multipart_upload(
                Bucket=self.name, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
            raise
        return str(response["VersionId"])

    def _error(self, exc: Exception, key: str) -> StorageError:
        where = f"s3://{self.name}/{key}" if key else f"s3://{self.name}"
        if isinstance(exc, ClientError):
            code = _code(exc)
            if code in {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
                return StorageError(
                    f"{where}: access denied ({code})",
                    hint="check that your credentials may read and write this bucket",
                )
            message = exc.response.get("Error", {}).get("Message", "")
            return StorageError(f"{where}: S3 answered {code}: {message}".rstrip(": "))
        return StorageError(
            f"{where}: {type(exc).__name__}: {exc}",
            hint="check s3.endpoint_url / AWS_ENDPOINT_URL and that the server is running",
        )


class _FileRange:
    """`length` bytes of an open file from `start`, as a seekable stream of their own.

    A part's body, read from disk as it is hashed and sent: memory stays flat in the part size
    (and so in the file size). Positions are relative to `start`: botocore measures the body with
    seek/tell and rewinds it with seek(0) to retry a request. Reads use pread, so no file
    position is shared.
    """

    def __init__(self, fd: int, start: int, length: int, name: str) -> None:
        self._fd = fd
        self._start = start
        self._length = length
        self._position = 0
        self._label = name

    def __len__(self) -> int:
        return self._length

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._length - self._position
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        if wanted <= 0:
            return b""
        data = os.pread(self._fd, wanted, self._start + self._position)
        if len(data) < wanted:  # short of the size this upload was started with
            raise StorageError(f"{self._label} shrank while it was being uploaded")
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        elif whence == os.SEEK_END:
            position = self._length + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def b64_sha256(self) -> str:
        """The part's SHA-256 (base64), read in bounded chunks; leaves the position at 0."""
        hasher = hashlib.sha256()
        self.seek(0)
        while chunk := self.read(_HASH_READ_SIZE):
            hasher.update(chunk)
        self.seek(0)
        return base64.b64encode(hasher.digest()).decode()


class ConditionFailed(StorageError):
    """A conditional PUT found the key in another state than expected."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
