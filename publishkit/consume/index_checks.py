"""Verify's check of the LINDI indexes a manifest records, one check per index.

An index is checked where the release put it, `<prefix>/<lindi_index.path>`, at the version
the manifest records: present (a HEAD of that version); deep, its bytes hashed against the
recorded blake2b, read as a LINDI index, and every URL in it the pinned URL of its own data
file (what a reader of the index reads). A replaced latest version of the key does not matter:
the pinned one is what `open_nwb` reads.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Literal

from publishkit.errors import PublishkitError
from publishkit.formats.lindi_index import (
    IndexRecord,
    key_beside,
    parse_index,
    pinned_url,
    with_urls,
)
from publishkit.s3.pinned import PinnedFile

if TYPE_CHECKING:
    from publishkit.s3.bucket import S3Bucket

Problem = tuple[Literal["missing", "hash-mismatch", "error"], str]  # a status, its detail


class _Elsewhere(Exception):
    """A URL in an index that is not its data file's pinned URL."""


def indexes_of(
    document: dict[str, Any], files: list[PinnedFile]
) -> list[tuple[PinnedFile, IndexRecord, str]]:
    """Each data file a manifest records an index for, with its record and its pinned URL."""
    found = []
    for item in files:
        entry = document[item.group][item.name]
        record: IndexRecord | None = entry.get("lindi_index")
        if item.group == "data_files" and record is not None:
            found.append((item, record, pinned_url(entry["url"], item.version_id)))
    return found


def check_index(
    bucket: S3Bucket, item: PinnedFile, record: IndexRecord, url: str, *, deep: bool
) -> Problem | None:
    """What is wrong with the index `record` of data file `item` (whose pinned URL is `url`),
    or None."""
    key = key_beside(item.key, item.relpath, record["path"])
    gone: Problem = ("missing", f"s3://{item.bucket}/{key} has no version {record['version_id']}")
    if not deep:
        return gone if bucket.head(key, record["version_id"]) is None else None
    data = bucket.get_bytes(key, record["version_id"])
    if data is None:
        return gone
    found = hashlib.blake2b(data).hexdigest()
    if found != record["file_hash"]:
        expected = record["file_hash"]
        return "hash-mismatch", f"blake2b is {found[:16]}…, the manifest says {expected[:16]}…"
    try:
        with_urls(parse_index(data, f"s3://{item.bucket}/{key}"), lambda ref: _pinned(ref, url))
    except PublishkitError as exc:
        return "error", str(exc)
    except _Elsewhere as exc:
        return "error", f"a reference points at {exc}, not {item.relpath}'s pinned version"
    return None


def _pinned(found: str, url: str) -> str:
    if found != url:
        raise _Elsewhere(found)
    return found
