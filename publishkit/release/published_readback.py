"""What changed inside a release: its tables read at their pinned versions, its NWB summaries.

A release publishes the summaries of its NWB files beside its manifest, in
`summaries/<project>_summaries_vX.Y.Z.json` (outside the manifest, and outside manifests/,
which AllenSDK lists as manifests). Notes
between two releases read the tables that changed at the versions the manifests pin and the
two releases' summaries, all from the bucket, so a fresh clone cuts the same notes as the
release did.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import PurePosixPath
from typing import Any

import msgspec
from msgspec.structs import replace

from publishkit.errors import ManifestError, StorageError
from publishkit.formats import manifest
from publishkit.formats.comparison import Comparison
from publishkit.formats.content_changes import Reader, with_contents
from publishkit.formats.jsonio import dumps
from publishkit.formats.summaries import (
    SUMMARIES_FOLDER,
    SUMMARY_VERSION,
    Summaries,
    content_key,
    parse_summaries,
    summaries_document,
    summaries_name,
)
from publishkit.release.lindi_indexes import built_while_summarizing
from publishkit.s3 import content_types
from publishkit.s3.bucket import ConditionFailed, S3Bucket
from publishkit.s3.pinned import BucketPool, ReadSettings
from publishkit.workspace.config import Settings
from publishkit.workspace.digests import FileDigests
from publishkit.workspace.inventory import ReleaseFile
from publishkit.workspace.nwb_summaries import SummaryCache
from publishkit.workspace.state import StateStore


class Place(msgspec.Struct, frozen=True):
    """Where a release lives: its bucket and the prefix its manifest's paths are under."""

    bucket: S3Bucket
    prefix: str

    def key(self, relpath: str) -> str:
        """The object key of a path under the prefix."""
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def pinned(self, name: str, entry: Mapping[str, Any]) -> bytes:
        """The content of a manifest entry at the version it pins."""
        key = self.key(manifest.entry_relpath(dict(entry)))
        data = self.bucket.get_bytes(key, entry["version_id"])
        if data is None:
            raise StorageError(
                f"s3://{self.bucket.name}/{key}: version {entry['version_id']} of table {name}, "
                "which a published manifest pins, is gone from the bucket",
                hint="`publishkit verify` that manifest; `publishkit notes --files-only` "
                "compares releases file by file",
            )
        return data

    def summaries(self, project: str, version: str) -> Summaries | None:
        """The summaries release `version` published; None for a release that has none."""
        key = self.key(f"{SUMMARIES_FOLDER}/{summaries_name(project, version)}")
        data = self.bucket.get_bytes(key)
        return None if data is None else parse_summaries(data, f"s3://{self.bucket.name}/{key}")


def place_of(document: Mapping[str, Any], read: ReadSettings, pool: BucketPool) -> Place:
    """The bucket and prefix of a manifest's files, from the URL of one of its entries."""
    entries = [*document["metadata_files"].values(), *document["data_files"].values()]
    if not entries:
        raise ManifestError(f"manifest v{document['manifest_version']} lists no file")
    entry = dict(entries[0])
    where = manifest.locate(entry["url"], read.public_url, read.bucket)
    relpath = manifest.entry_relpath(entry)
    if not where.key.endswith(relpath):
        raise ManifestError(
            f"{entry['url']}: cannot tell the release prefix (the key does not end in {relpath})",
            hint="pass --files-only to compare the releases file by file",
        )
    return Place(pool.get(where.bucket), where.key[: -len(relpath)].rstrip("/"))


def compared_in_bucket(
    comparison: Comparison,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    old_place: Place,
    new_place: Place,
) -> Comparison:
    """`comparison` with what changed inside the tables and NWB files, all read from the
    bucket: the tables at their pinned versions, both releases' published summaries."""
    nwb = changes_nwb(comparison)
    tables = any(c.group == "metadata" and c.kind == "changed" for c in comparison.changes)
    old_summaries = new_summaries = None
    if nwb:
        old_summaries = old_place.summaries(old["project_name"], old["manifest_version"])
    if nwb or tables:  # the tables' keys are recorded with the summaries
        new_summaries = new_place.summaries(new["project_name"], new["manifest_version"])
    found = new_summaries or old_summaries
    keys = found.keys if found else {}
    return with_contents(
        comparison,
        old,
        new,
        read_old=old_place.pinned,
        read_new=new_place.pinned,
        old_summaries=old_summaries,
        new_summaries=new_summaries,
        keys=keys,
    )


def compared_where_published(
    comparison: Comparison, old: Mapping[str, Any], new: Mapping[str, Any], read: ReadSettings
) -> Comparison:
    """`comparison` of two manifests with what changed inside, read from the bucket(s) their
    URLs name (`publishkit notes`); reaches no bucket when no table or NWB file changed."""
    if not any(c.kind == "changed" for c in comparison.changes):
        return replace(comparison, tables=(), nwb_files=())
    pool = BucketPool(read)
    return compared_in_bucket(
        comparison, old, new, place_of(old, read, pool), place_of(new, read, pool)
    )


def compared_in_run(
    comparison: Comparison,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    old_place: Place,
    files: list[ReleaseFile],
    summaries: Summaries,
    old_summaries: Future[Summaries | None] | None = None,
) -> Comparison:
    """`comparison` of the previous release and the one being cut: the previous release's
    tables and summaries from the bucket, this release's from the workspace (its tables are
    checked against the draft's hashes, so the notes say what the bucket will hold).
    `old_summaries`: the previous release's, as the caller is reading them (when an NWB file
    changed); else read here when one did."""
    tables = {item.name: item.path for item in files if item.group == "metadata"}

    def local(name: str, entry: Mapping[str, Any]) -> bytes:
        return tables[name].read_bytes()

    earlier = None
    if old_summaries is not None:
        earlier = old_summaries.result()
    elif changes_nwb(comparison):
        earlier = old_place.summaries(old["project_name"], old["manifest_version"])
    reader: Reader = local
    return with_contents(
        comparison,
        old,
        new,
        read_old=old_place.pinned,
        read_new=reader,
        old_summaries=earlier,
        new_summaries=summaries,
        keys=summaries.keys,
    )


def changes_nwb(comparison: Comparison) -> bool:
    """An NWB data file changed: its summaries are compared."""
    return any(
        c.group == "data" and c.kind == "changed" and c.path.lower().endswith(".nwb")
        for c in comparison.changes
    )


def release_summaries(
    settings: Settings,
    files: list[ReleaseFile],
    digests: Mapping[str, FileDigests],
    *,
    read: bool = True,
    build_indexes: bool = False,
) -> tuple[Summaries, dict[str, str]]:
    """The summaries of a release's NWB data files (from the state store, else read with h5py
    and recorded), and relpath -> why, for each one that cannot be read as NWB. Without `read`,
    those on record only (none is read, none said unreadable): while inspection, which records
    them from its own read of each file, is under way. `build_indexes`: each file read here
    builds its LINDI index in the same open (`built_while_summarizing`), for the release to
    publish."""
    nwb = {
        item.path: digests[item.relpath].blake2b
        for item in files
        if item.group == "data" and PurePosixPath(item.relpath).suffix.lower() == ".nwb"
    }
    hashes = {relpath: found.blake2b for relpath, found in digests.items()}
    sizes = {relpath: found.size for relpath, found in digests.items()}
    also = built_while_summarizing(settings, files, hashes, sizes) if build_indexes else {}
    with StateStore.in_dir(settings.state_dir) as store:  # each new file's index in its read
        cache = SummaryCache(store)
        found = cache.get_all(nwb, settings.executor, read=read, also=also)
        why = cache.why_unreadable(
            {path: content for path, content in nwb.items() if found.get(content, "") is None}
        )
    encoded = {content_key(c): text for c, text in found.items() if text is not None}
    unreadable = {item.relpath: why[item.path] for item in files if item.path in why}
    summaries = Summaries("(this release)", SUMMARY_VERSION, settings.table_keys(), encoded)
    return summaries, unreadable


def put_summaries(settings: Settings, bucket: S3Bucket, version: str, summaries: Summaries) -> str:
    """Publish release `version`'s summaries, validated, before its manifest (a published
    manifest never lacks them); the key. A run that died after publishing these same summaries
    left them in place: they get no second version."""
    name = summaries_name(settings.project, version)
    document = summaries_document(settings.project, version, summaries.keys, summaries.files)
    data = dumps(document).encode()
    key = settings.s3.key(f"{SUMMARIES_FOLDER}/{name}")
    try:
        bucket.put_bytes(key, data, content_type=content_types.JSON, create_only=True)
    except ConditionFailed:  # a dead run's summaries of this unpublished version, since changed
        bucket.put_bytes(key, data, content_type=content_types.JSON, create_only=False)
    return key
