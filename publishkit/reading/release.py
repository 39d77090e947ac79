"""`open_release`: a published release, read where it lies, every file at its pinned version.

A consumer lists a release's files, reads its metadata tables and the NWB summaries it
published, and streams any NWB file without downloading it. Every request for a file's bytes
names the version the manifest pins (`versionId`), so an object replaced or deleted since the
release cannot change what is read. Requests are signed when the usual AWS chain finds
credentials, unsigned otherwise (a public bucket), as `publishkit fetch` reads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from publishkit.background import in_background
from publishkit.errors import CheckFailed, StorageError, UsageError
from publishkit.formats.lindi_index import IndexRecord, key_beside, parse_index, pinned_url
from publishkit.formats.summaries import SUMMARIES_FOLDER, Summary, parse_summaries, summaries_name
from publishkit.reading.nwb_stream import reachable_index, reader_ahead, stream_nwb
from publishkit.reading.sources import load_manifest
from publishkit.s3.pinned import BucketPool, PinnedFile, ReadSettings, pinned_files
from publishkit.workspace.digests import FileDigests

if TYPE_CHECKING:
    from pynwb import NWBFile

    from publishkit.s3.bucket import S3Bucket

_GROUP = {"metadata_files": "metadata", "data_files": "data"}
URL_LIFETIME = 12 * 3600  # seconds a signed URL of a pinned version stays valid


class PublishedFile(msgspec.Struct, frozen=True):
    """One file of a release: its id, path, size and hashes, and its URL at the pinned version."""

    id: str  # a data file's id (the id column's value), or a metadata table's name
    group: str  # "metadata" or "data"
    path: str  # POSIX, relative to the release prefix
    size: int | None
    hashes: Mapping[str, str]  # "blake2b" (the manifest's file_hash), "sha256" when recorded
    url: str  # the manifest's URL with ?versionId=: never the key's latest version
    version_id: str
    index: IndexRecord | None  # its LINDI index, for an HDF5 NWB file the release indexed


class Release:
    """A release as its manifest pins it: `.version`, `.files`, `.table(name)`,
    `.open_nwb(file_id)` and `.summaries()`."""

    def __init__(
        self, document: dict[str, Any], source: str, pool: BucketPool, read: ReadSettings
    ) -> None:
        self.manifest = document
        self.source = source
        self.project: str = document["project_name"]
        self.version: str = document["manifest_version"]
        self._pool = pool
        self._pinned = {(p.group, p.name): p for p in pinned_files(document, read)}
        self.files: tuple[PublishedFile, ...] = tuple(
            _published(pinned, document[pinned.group][pinned.name])
            for pinned in self._pinned.values()
        )

    def __repr__(self) -> str:
        return f"<Release {self.project} v{self.version}: {len(self.files)} files>"

    def file(self, file_id: str) -> PublishedFile:
        """The data file `file_id` (else the metadata table of that name)."""
        return _published(*self._entry(file_id))

    def table(self, name: str) -> Any:
        """The rows of metadata table `name` at its pinned version, checked against its hash:
        a pandas DataFrame when pandas is installed (every value a string, as published),
        else a list of dicts."""
        pinned = self._pinned.get(("metadata_files", name))
        if pinned is None:
            tables = ", ".join(sorted(n for g, n in self._pinned if g == "metadata_files"))
            raise UsageError(
                f"{self.source}: no metadata table {name!r}", hint=f"the tables: {tables}"
            )
        text = self._read_pinned(pinned).decode("utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        rows = [row for row in reader if row]
        try:
            import pandas
        except ImportError:
            return [dict(zip(header, row, strict=False)) for row in rows]
        return pandas.DataFrame(rows, columns=header, dtype=str)

    def open_nwb(
        self, file_id: str, *, index: bool = True, read_ahead: bool = True
    ) -> AbstractContextManager[NWBFile]:
        """A context manager yielding data file `file_id` as a pynwb NWBFile, streamed from
        its pinned version: through its LINDI index when the release published one (all the
        metadata in one request, then each chunk by byte range), else with remfile.
        `index=False`: remfile even when there is an index. `read_ahead=False`: read only the
        bytes asked for (remfile's growing read-ahead and its cache off)."""
        pinned, entry = self._entry(file_id, groups=("data_files",))
        record: IndexRecord | None = entry.get("lindi_index") if index else None
        if record is None:
            return stream_nwb(self._url(pinned), pinned.size, index=None, read_ahead=read_ahead)
        bucket = self._pool.get(pinned.bucket)
        # the index's GET sent first: what does not need its bytes is done while it travels
        arriving = in_background("publishkit-index", self._index_bytes, bucket, pinned, record)
        url = self._url(pinned)
        ahead = reader_ahead()
        document = self._index(pinned, record, arriving.result())
        expected = pinned_url(entry["url"], pinned.version_id)
        return stream_nwb(
            url,
            pinned.size,
            index=reachable_index(document, expected, url),
            read_ahead=read_ahead,
            ahead=ahead,
        )

    def summaries(self, *, required: bool = True) -> dict[str, Summary]:
        """The summaries of the release's NWB files (fields, objects, shapes, rows), by data
        file id, from the one document the release published beside its manifest. A release
        that published none: a StorageError, or (`required=False`) no summaries."""
        data_files = [p for p in self._pinned.values() if p.group == "data_files"]
        if not data_files:
            return {}
        first = data_files[0]
        key = _key(first, f"{SUMMARIES_FOLDER}/{summaries_name(self.project, self.version)}")
        data = self._pool.get(first.bucket).get_bytes(key)
        if data is None and not required:
            return {}
        if data is None:
            raise StorageError(
                f"s3://{first.bucket}/{key}: release v{self.version} published no summaries",
                hint="releases cut before publishkit published summaries have none",
            )
        published = parse_summaries(data, f"s3://{first.bucket}/{key}")
        found = published.many([p.file_hash for p in data_files])
        return {p.name: found[p.file_hash] for p in data_files if p.file_hash in found}

    def _entry(
        self, file_id: str, groups: tuple[str, ...] = ("data_files", "metadata_files")
    ) -> tuple[PinnedFile, dict[str, Any]]:
        for group in groups:
            pinned = self._pinned.get((group, file_id))
            if pinned is not None:
                return pinned, self.manifest[group][file_id]
        kind = "data file" if groups == ("data_files",) else "file"
        raise UsageError(
            f"{self.source}: no {kind} with id {file_id!r} in release v{self.version}",
            hint="`publishkit ls MANIFEST` lists the files",
        )

    def _url(self, pinned: PinnedFile) -> str:
        """A URL of the pinned version that reaches the store as configured (signed when
        there are credentials)."""
        client = self._pool.get(pinned.bucket).client
        params = {"Bucket": pinned.bucket, "Key": pinned.key, "VersionId": pinned.version_id}
        return str(client.generate_presigned_url("get_object", params, ExpiresIn=URL_LIFETIME))

    def _read_pinned(self, pinned: PinnedFile) -> bytes:
        data = self._pool.get(pinned.bucket).get_bytes(pinned.key, pinned.version_id)
        where = f"s3://{pinned.bucket}/{pinned.key}"
        if data is None:
            raise StorageError(
                f"{where}: version {pinned.version_id}, which release v{self.version} pins, is "
                "gone from the bucket",
                hint="`publishkit verify` the manifest and tell the bucket's owner",
            )
        wrong = pinned.mismatch(digest_bytes(data))
        if wrong is not None:
            raise CheckFailed(f"{where}: {wrong}; not used", hint="tell the bucket's owner")
        return data

    def _index_bytes(self, bucket: S3Bucket, pinned: PinnedFile, record: IndexRecord) -> bytes:
        """The bytes of the file's LINDI index at the version the manifest records."""
        key = _key(pinned, record["path"])
        data = bucket.get_bytes(key, record["version_id"])
        if data is None:
            raise StorageError(
                f"s3://{pinned.bucket}/{key}: version {record['version_id']} of the LINDI index "
                f"of {pinned.relpath} is gone from the bucket",
                hint="open the file without it: open_nwb(file_id, index=False)",
            )
        return data

    def _index(self, pinned: PinnedFile, record: IndexRecord, data: bytes) -> dict[str, Any]:
        """The file's LINDI index from its bytes, refused unless their hash is the one the
        manifest records (checked before anything reads them)."""
        where = f"s3://{pinned.bucket}/{_key(pinned, record['path'])}"
        found = hashlib.blake2b(data).hexdigest()  # its sha256 is not recorded: not computed
        if found != record["file_hash"]:
            raise CheckFailed(
                f"{where}: the LINDI index's blake2b is {found[:16]}…, the manifest says "
                f"{record['file_hash'][:16]}…; the index was not used",
                hint="open the file without it: open_nwb(file_id, index=False)",
            )
        return parse_index(data, where)


def _published(pinned: PinnedFile, entry: Mapping[str, Any]) -> PublishedFile:
    hashes = {"blake2b": pinned.file_hash}
    if pinned.sha256:
        hashes["sha256"] = pinned.sha256
    return PublishedFile(
        id=pinned.name,
        group=_GROUP[pinned.group],
        path=pinned.relpath,
        size=pinned.size,
        hashes=hashes,
        url=pinned_url(entry["url"], pinned.version_id),
        version_id=pinned.version_id,
        index=entry.get("lindi_index"),
    )


def _key(pinned: PinnedFile, relpath: str) -> str:
    """The key of `relpath` under the release prefix `pinned` is in."""
    return key_beside(pinned.key, pinned.relpath, relpath)


def open_release(
    manifest_source: str | Path,
    version: str | None = None,
    *,
    endpoint_url: str | None = None,
    region: str = "us-east-1",
    read: ReadSettings | None = None,
) -> Release:
    """A published release: `manifest_source` a manifest file, its `s3://` or `https://` URL,
    or `s3://BUCKET/PREFIX` (a project's release prefix) with `version` (the latest when
    None). `endpoint_url` and `region`: the store's, for a store other than AWS (botocore's own
    configuration, e.g. AWS_ENDPOINT_URL, applies when none is given); `read`: all of a
    workspace's read settings at once."""
    read = read or ReadSettings(region=region, endpoint_url=endpoint_url)
    pool = _pool(read)
    document, source = load_manifest(manifest_source, version, pool)
    return Release(document, source, pool, read)


_POOLS: dict[tuple[ReadSettings, bool], BucketPool] = {}
_POOLS_LOCK = threading.Lock()


def _pool(read: ReadSettings) -> BucketPool:
    """The clients of this process for `read` (a client costs ~0.3 s to make), signed or
    not as credentials are found now."""
    key = (read, _signed())
    with _POOLS_LOCK:
        if key not in _POOLS:
            _POOLS[key] = BucketPool(read)
        return _POOLS[key]


def _signed() -> bool:
    """Credentials are found now: the chain's first provider (the environment's keys, ~0.01
    ms) before the whole chain (a botocore session, ~10-40 ms an `open_release`)."""
    from botocore.credentials import EnvProvider

    from publishkit.s3.bucket import has_credentials

    return EnvProvider().load() is not None or has_credentials()


def digest_bytes(data: bytes) -> FileDigests:
    """The size, blake2b and sha256 of `data`."""
    blake2b, sha256 = hashlib.blake2b(data).hexdigest(), hashlib.sha256(data).hexdigest()
    return FileDigests(len(data), blake2b, sha256)
