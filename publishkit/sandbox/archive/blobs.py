"""Where the local archive keeps blobs: a bucket of the local S3, written by clients through
presigned URLs."""

from __future__ import annotations

import hashlib
from typing import Any

import boto3
from botocore.config import Config

from publishkit.sandbox.s3 import SANDBOX_KEY

PRESIGN_SECONDS = 7 * 24 * 3600


def dandi_etag_parts(size: int) -> list[tuple[int, int]]:
    """(part number, size) per part, as dandi-cli's DandiETag splits a file of `size` bytes."""
    from dandischema.digests.dandietag import PartGenerator

    return [(part.number, part.size) for part in PartGenerator.for_file_size(size)]


class BlobStorage:
    """The bucket holding blobs, reached with the sandbox's credentials; URLs are presigned."""

    def __init__(self, endpoint: str, bucket: str, region: str) -> None:
        self.endpoint, self.bucket = endpoint.rstrip("/"), bucket
        self.client: Any = boto3.session.Session(
            aws_access_key_id=SANDBOX_KEY, aws_secret_access_key=SANDBOX_KEY
        ).client(
            "s3",
            endpoint_url=self.endpoint,
            config=Config(region_name=region, s3={"addressing_style": "path"}),
        )

    def presign(self, operation: str, **params: Any) -> str:
        return str(
            self.client.generate_presigned_url(
                operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=PRESIGN_SECONDS
            )
        )

    def object_url(self, key: str) -> str:
        return f"{self.endpoint}/{self.bucket}/{key}"

    def head(self, key: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.head_object(Bucket=self.bucket, Key=key))
        except self.client.exceptions.ClientError:
            return None

    def sha256(self, key: str) -> str:
        digest = hashlib.sha256()
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(1 << 20), b""):
            digest.update(chunk)
        return digest.hexdigest()


def blob_json(blob_id: str, etag: str, sha256: str | None, size: int) -> dict[str, Any]:
    return {"blob_id": blob_id, "etag": etag, "sha256": sha256, "size": size}
