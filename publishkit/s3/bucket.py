"""The object store: a versioned S3 bucket reached through boto3 (AWS, MinIO, Ceph, moto)."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from publishkit.errors import CredentialsError, StorageError
from publishkit.s3 import content_types
from publishkit.s3.put import Content, Parts, changed, multipart_etag, whole_file
from publishkit.s3.refusals import error_code, refusal_code, storage_error

BLAKE2B_METADATA = "publishkit-blake2b"
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchBucket"}


@dataclass(frozen=True)
class ObjectVersion:
    """One version of an object: its key, version ID, size, metadata and ETag."""

    key: str
    version_id: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str = ""


class MultipartLog(Protocol):
    """Where a run records the multipart uploads it has open, so that only a dead run's are
    ever aborted: `begin` before the upload exists, `started` once it has an id, `ended` once it
    is completed or aborted."""

    def begin(self, bucket: str, key: str) -> int:
        """Record that an upload of `key` is about to start; a token for the calls that follow."""

    def started(self, token: int, upload_id: str) -> None:
        """Record the upload's id, once S3 has given it."""

    def ended(self, token: int) -> None:
        """Forget the upload: it was completed or aborted."""


def make_client(
    region: str, endpoint_url: str | None, *, anonymous: bool = False, pool: int = 0
) -> Any:
    """A boto3 S3 client; `anonymous` signs nothing (public buckets, consumers); `pool`: for a
    caller that retries (and counts retries) itself, `pool` connections and no retries."""
    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": 0 if pool else 5},  # after the 1st
        max_pool_connections=pool or 10,
        s3={"addressing_style": "path"} if endpoint_url else {},
        signature_version=UNSIGNED if anonymous else None,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def has_credentials() -> bool:
    """The usual AWS chain finds credentials (environment, ~/.aws, instance role)."""
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
        """A StorageError, with the command that fixes it, unless the bucket's versioning is
        Enabled."""
        status = self.versioning()
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
                raise self._error(exc, "") from None
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        except BotoCoreError as exc:
            raise self._error(exc, "") from None
        try:  # GetBucketLocation may be denied to a release role: HeadBucket says it too
            response = self.client.head_bucket(Bucket=self.name)
            headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        except ClientError as exc:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or headers
        except BotoCoreError as exc:
            raise self._error(exc, "") from None
        return str(headers.get("x-amz-bucket-region", ""))

    def abort_upload(self, key: str, upload_id: str) -> bool:
        """Abort one multipart upload; False when it was no longer open."""
        try:
            self.client.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if _code(exc) in {"NoSuchUpload", *_MISSING}:
                return False
            raise self._error(exc, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None
        return True

    def open_uploads(self, key: str) -> list[str]:
        """The ids of the multipart uploads open on exactly `key`."""
        found = []
        try:
            for page in self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.name, Prefix=key
            ):
                found += [str(u["UploadId"]) for u in page.get("Uploads", []) if u["Key"] == key]
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, key) from None
        return found

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
        """Every key under `prefix`."""
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
        """The content of the given (or current) version of `key`; None when there is none."""
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
                raise ConditionFailed(
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
        content: Content,
        multipart_threshold: int,
        on_bytes: Callable[[int], None],
        replaces: ObjectVersion | None = None,
        uploads: MultipartLog | None = None,
    ) -> str:
        """Upload a file that must be `content`, with S3-verified SHA-256 checksums; returns the
        new VersionId. The bytes sent are hashed as they are sent: a file that is not `content`
        (rewritten since it was hashed, or while it uploads) leaves no version (ContentChanged).

        The PUT is conditional on the key's current state (`replaces`: absent, or that ETag), so
        a retry of a PUT that S3 applied but whose answer was lost cannot add a second version:
        it fails with ConditionFailed, and the caller adopts what is there. `uploads` records
        each multipart upload while it is open, so that a later run can abort a dead run's.
        """
        extra = {
            "ContentType": content_types.for_file(path),
            "Metadata": {BLAKE2B_METADATA: content.blake2b},
        }
        try:
            with open(path, "rb", buffering=0) as handle:
                if os.fstat(handle.fileno()).st_size != content.size:
                    raise changed(str(path), "its size is not the one recorded for the release")
                if content.size >= multipart_threshold:
                    parts = Parts(handle.fileno(), content, multipart_threshold, str(path))
                    return self._put_multipart(key, parts, extra, on_bytes, uploads)
                condition = {"IfMatch": replaces.etag} if replaces else {"IfNoneMatch": "*"}
                response = self.client.put_object(
                    Bucket=self.name,
                    Key=key,
                    Body=whole_file(handle.fileno(), content, str(path)),
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=content.b64_sha256(),
                    **condition,
                    **extra,
                )
                on_bytes(content.size)
                return str(response["VersionId"])
        except ClientError as exc:
            if _code(exc) == "PreconditionFailed":
                raise ConditionFailed(f"s3://{self.name}/{key} changed during the upload") from None
            raise self._error(exc, key) from None
        except BotoCoreError as exc:
            raise self._error(exc, key) from None

    def _put_multipart(
        self,
        key: str,
        parts: Parts,
        extra: dict[str, Any],
        on_bytes: Callable[[int], None],
        uploads: MultipartLog | None,
    ) -> str:
        token = uploads.begin(self.name, key) if uploads else None
        upload_id = self.client.create_multipart_upload(
            Bucket=self.name, Key=key, ChecksumAlgorithm="SHA256", **extra
        )["UploadId"]
        if uploads and token is not None:
            uploads.started(token, upload_id)
        sent = []
        try:
            for number, start, length in parts.ranges():
                body, checksum = parts.body(start, length)
                response = self.client.upload_part(
                    Bucket=self.name,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                    ChecksumAlgorithm="SHA256",
                    ChecksumSHA256=checksum,
                )
                sent.append(
                    {"ETag": response["ETag"], "PartNumber": number, "ChecksumSHA256": checksum}
                )
                on_bytes(length)
            parts.check_whole()
            version_id = self._complete(key, upload_id, sent, extra)
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.name, Key=key, UploadId=upload_id)
            if uploads and token is not None:
                uploads.ended(token)
            raise
        if uploads and token is not None:
            uploads.ended(token)
        return version_id

    def _complete(
        self, key: str, upload_id: str, parts: list[dict[str, Any]], extra: dict[str, Any]
    ) -> str:
        """Complete the upload; a retry whose first attempt landed (its answer lost) finds the
        upload gone and recognises the object it made by its ETag and blake2b."""
        try:
            response = self.client.complete_multipart_upload(
                Bucket=self.name, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as exc:
            if _code(exc) != "NoSuchUpload":
                raise
            landed = self.head(key)
            expected = multipart_etag([part["ETag"] for part in parts])
            blake2b = extra["Metadata"][BLAKE2B_METADATA]
            if landed is None or (landed.etag, landed.metadata.get(BLAKE2B_METADATA)) != (
                expected,
                blake2b,
            ):
                raise
            return landed.version_id
        return str(response["VersionId"])

    def _error(self, exc: Exception, key: str) -> StorageError:
        where = f"s3://{self.name}/{key}" if key else f"s3://{self.name}"
        return storage_error(exc, where, lambda: refusal_code(self.client, self.name))


class ConditionFailed(StorageError):
    """A conditional PUT found the key in another state than expected."""


_code = error_code


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
