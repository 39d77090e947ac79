"""The consumer's view of a manifest: each file's bucket, key and pinned version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import manifest

if TYPE_CHECKING:  # boto3 is imported only once a bucket is reached
    from .s3 import S3Bucket


@dataclass(frozen=True)
class ReadSettings:
    """How to reach the bucket(s) a manifest points at."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    public_url: str | None = None  # a workspace's s3.public_url, to read its URLs back
    bucket: str | None = None  # a workspace's bucket, for public_url forms without {bucket}


@dataclass(frozen=True)
class PinnedFile:
    group: str  # "metadata_files" or "data_files"
    name: str
    relpath: str
    bucket: str
    key: str
    version_id: str
    file_hash: str
    size: int | None


def pinned_files(document: dict[str, Any], read: ReadSettings) -> list[PinnedFile]:
    """Every entry of a validated manifest, metadata tables first, each resolved to an object."""
    files = []
    for group in manifest.GROUPS:
        for name in sorted(document[group]):
            entry = document[group][name]
            where = manifest.locate(entry["url"], read.public_url, read.bucket)
            files.append(
                PinnedFile(
                    group=group,
                    name=name,
                    relpath=manifest.entry_relpath(entry),
                    bucket=where.bucket,
                    key=where.key,
                    version_id=entry["version_id"],
                    file_hash=entry["file_hash"],
                    size=entry.get("size"),
                )
            )
    return files


class BucketPool:
    """One read-only client per bucket, shared by the worker threads."""

    def __init__(self, read: ReadSettings) -> None:
        self._read = read
        self._buckets: dict[str, S3Bucket] = {}

    def get(self, name: str) -> S3Bucket:
        from .s3 import S3Bucket

        if name not in self._buckets:
            self._buckets[name] = S3Bucket.connect(
                name, self._read.region, self._read.endpoint_url, write=False
            )
        return self._buckets[name]
