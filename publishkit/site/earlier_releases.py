"""What the bucket says of a project's releases before the one being published: the site's
history document (one GET), completed from the pages' records and the manifests for a release it
lacks; and the manifests and records themselves."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from publishkit.errors import ManifestError
from publishkit.formats.changes import compare
from publishkit.formats.manifest import manifest_name, parse_manifest, version_from_name
from publishkit.formats.release_layout import MANIFESTS_FOLDER
from publishkit.formats.versions import Version
from publishkit.s3.bucket import S3Bucket
from publishkit.site import page_record, site_history
from publishkit.site.history import PAGES_FOLDER, ReleaseFacts, ordered, release_facts
from publishkit.site.page_record import PageRecord
from publishkit.site.site_history import HISTORY

log = logging.getLogger(__name__)


def record_name(version: str) -> str:
    """A release's page record, beside its page."""
    return f"{PAGES_FOLDER}/v{version}.json"


class Earlier(msgspec.Struct, frozen=True):
    """The manifests' versions in the bucket (this release's too); each release's facts as the
    site's history document says them, completed for the releases before this one that it
    lacks; and the document as read (None: absent)."""

    versions: tuple[str, ...]
    facts: dict[str, ReleaseFacts]
    stored: bytes | None
    bucket: S3Bucket
    prefix: str


def earlier_releases(
    bucket: S3Bucket,
    prefix: str,
    document: Mapping[str, Any],
    versions: Collection[str] | None = None,
) -> Earlier:
    """One GET (the history document) when it lists every release before `document`; a
    release it lacks (made while the site was off, or before the document existed) is read
    from its page's record, else from its manifest and the one before it."""
    if versions is None:
        versions = manifest_keys(bucket, prefix, str(document["project_name"])).keys()
    keys = tuple(versions)
    before = [v for v in keys if v != str(document["manifest_version"])]
    stored = bucket.get_bytes(f"{prefix}/{HISTORY}") if before else None
    facts = {v: f for v, f in _stored_facts(bucket, prefix, stored).items() if v in keys}
    missing = [v for v in before if v not in facts]
    if missing:
        records = records_in(bucket, prefix, missing)
        facts.update((v, r.facts) for v, r in records.items() if r.facts is not None)
        rest = [v for v in missing if v not in facts]
        if rest:
            facts.update(_facts_from_manifests(bucket, prefix, document, keys, rest))
    return Earlier(keys, facts, stored, bucket, prefix)


def _stored_facts(bucket: S3Bucket, prefix: str, stored: bytes | None) -> dict[str, ReleaseFacts]:
    """The facts the history document holds; one that is not valid is drawn again, said in the
    log (the release is published by now: its site is completed, not refused)."""
    if stored is None:
        return {}
    try:
        return site_history.parse(stored, f"s3://{bucket.name}/{prefix}/{HISTORY}")
    except ManifestError as exc:
        log.warning("%s; drawing it again from the records and manifests", exc)
        return {}


def _facts_from_manifests(
    bucket: S3Bucket,
    prefix: str,
    document: Mapping[str, Any],
    versions: tuple[str, ...],
    wanted: list[str],
) -> dict[str, ReleaseFacts]:
    """Releases `wanted`'s facts from their manifests, each compared with the release before
    it (`versions`: every release; `document` is in hand)."""
    project, mine = str(document["project_name"]), str(document["manifest_version"])
    order = sorted({*versions, mine}, key=Version.parse)
    previous = {v: order[n - 1] if n else None for n, v in enumerate(order)}
    needed = sorted({*wanted, *(p for v in wanted if (p := previous[v]) is not None)} - {mine})
    keys = [f"{prefix}/{MANIFESTS_FOLDER}/{manifest_name(project, v)}" for v in needed]
    read: dict[str, Mapping[str, Any]] = {mine: document}
    for version, key, data in zip(needed, keys, _read_all(bucket, keys), strict=True):
        if data is not None:
            read[version] = parse_manifest(data, f"s3://{bucket.name}/{key}")
    found = {}
    for version in wanted:
        before = previous[version]
        if version in read and (before is None or before in read):
            earlier = read[before] if before is not None else None
            found[version] = release_facts(read[version], compare(earlier, read[version]))
    return found


def manifest_keys(bucket: S3Bucket, prefix: str, project: str) -> dict[str, str]:
    """The key of each manifest of `project` in the bucket's `manifests/`, by version."""
    found = {}
    for key in bucket.list_keys(f"{prefix}/{MANIFESTS_FOLDER}/"):
        name = key.rsplit("/", 1)[-1]
        version = version_from_name(name)
        if name.startswith(f"{project}_project_manifest_v") and version is not None:
            found[str(version)] = key
    return found


def manifests_in(bucket: S3Bucket, prefix: str, like: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every manifest of `like`'s project in the bucket's `manifests/`, parsed and validated."""
    keys = list(manifest_keys(bucket, prefix, str(like["project_name"])).values())
    found = []
    for key, data in zip(keys, _read_all(bucket, keys), strict=True):
        if data is not None:
            found.append(parse_manifest(data, f"s3://{bucket.name}/{key}"))
    return ordered(found)


def records_in(bucket: S3Bucket, prefix: str, versions: list[str]) -> dict[str, PageRecord]:
    """The page records the bucket has, by version."""
    keys = [f"{prefix}/{record_name(version)}" for version in versions]
    found = {}
    for version, key, data in zip(versions, keys, _read_all(bucket, keys), strict=True):
        if data is not None:
            found[version] = page_record.parse(data, f"s3://{bucket.name}/{key}")
    return found


READS_AT_ONCE = 8  # small records or manifests, read at once (within the client's 10 connections)


def _read_all(bucket: S3Bucket, keys: list[str]) -> list[bytes | None]:
    """Each key's bytes (None: absent), read READS_AT_ONCE at a time."""
    if len(keys) <= 1:
        return [bucket.get_bytes(key) for key in keys]
    with ThreadPoolExecutor(min(READS_AT_ONCE, len(keys))) as pool:
        return list(pool.map(bucket.get_bytes, keys))
