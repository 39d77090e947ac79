"""The consumer's view of a manifest: each file's bucket, key and pinned version."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import msgspec

from publishkit.formats import manifest
from publishkit.formats.file_digests import FileDigests

if TYPE_CHECKING:  # boto3 is imported only once a bucket is reached
    from publishkit.s3.bucket import S3Bucket
    from publishkit.s3.ranged import RangedReader


class ReadSettings(msgspec.Struct, frozen=True):
    """How to reach the bucket(s) a manifest points at."""

    region: str = "us-east-1"
    endpoint_url: str | None = None
    public_url: str | None = None  # a workspace's s3.public_url, to read its URLs back
    bucket: str | None = None  # a workspace's bucket, for public_url forms without {bucket}


class PinnedFile(msgspec.Struct, frozen=True):
    """A manifest entry resolved to the object it pins: bucket, key, version and digests."""

    group: str  # "metadata_files" or "data_files"
    name: str
    relpath: str
    bucket: str
    key: str
    version_id: str
    file_hash: str  # blake2b
    sha256: str | None
    size: int | None

    def mismatch(self, found: FileDigests) -> Mismatch | None:
        """The first digest the manifest records for this file that `found` contradicts."""
        recorded: tuple[tuple[str, str | int | None, str | int], ...] = (
            ("size", self.size, found.size),
            ("file_hash (blake2b)", self.file_hash, found.blake2b),
            ("sha256", self.sha256, found.sha256),
        )
        for digest, expected, got in recorded:
            if expected is not None and expected != got:
                return Mismatch(digest, *_shortened(expected, got))
        return None


class Mismatch(msgspec.Struct, frozen=True):
    """A digest of a file's content that is not the one its manifest entry records."""

    digest: str  # "size", "file_hash (blake2b)" or "sha256"
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.digest} is {self.found}, the manifest says {self.expected}"


def _shortened(expected: str | int, found: str | int) -> tuple[str, str]:
    """Both values, hex digests cut after 16 characters or just past where they first differ."""
    if isinstance(expected, int) or isinstance(found, int):
        return str(expected), str(found)
    differ = next((n for n, (a, b) in enumerate(zip(expected, found, strict=False)) if a != b), 0)
    keep = max(16, differ + 1)
    return _cut(expected, keep), _cut(found, keep)


def _cut(value: str, keep: int) -> str:
    return value if len(value) <= keep else f"{value[:keep]}…"


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
                    sha256=entry.get("sha256"),
                    size=entry.get("size"),
                )
            )
    return files


class BucketPool:
    """One read-only client per bucket, shared by the worker threads. `digests_checked`: the
    caller checks every body it reads against the manifest's digests, so the store's own
    checksum of each body is not computed as well."""

    def __init__(
        self, read: ReadSettings, *, connections: int = 10, digests_checked: bool = False
    ) -> None:
        self._read = read
        self._store_checksums = not digests_checked
        self._buckets: dict[str, S3Bucket] = {}
        self._connections = connections
        self._ranged_client: Any = None
        self._lock = threading.Lock()

    def get(self, name: str) -> S3Bucket:
        """The read-only client of bucket `name`, made once."""
        from publishkit.s3.bucket import S3Bucket

        with self._lock:
            if name not in self._buckets:
                self._buckets[name] = S3Bucket.connect(
                    name,
                    self._read.region,
                    self._read.endpoint_url,
                    write=False,
                    store_checksums=self._store_checksums,
                )
            return self._buckets[name]

    def ranged(self, item: PinnedFile, size: int) -> RangedReader:
        """A reader of byte ranges of `item`'s pinned version, an object of `size` bytes, on a
        client shared by every file, with `connections` connections, that leaves retries (and
        their count) to the reader."""
        from botocore import UNSIGNED

        from publishkit.s3.bucket import make_client
        from publishkit.s3.ranged import RangedReader

        signing = self.get(item.bucket).client.meta.config.signature_version
        with self._lock:
            if self._ranged_client is None:
                anonymous = signing is UNSIGNED  # as the bucket's client: credentials or none
                self._ranged_client = make_client(
                    self._read.region,
                    self._read.endpoint_url,
                    anonymous=anonymous,
                    pool=self._connections,
                )
        return RangedReader(self._ranged_client, item.bucket, item.key, item.version_id, size)
