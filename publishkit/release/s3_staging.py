"""Staging a release: every check and every read it needs, before anything is written.

`check_target` looks at the bucket (credentials, versioning, region, the versions already
published, the release notes); `stage_release` adds the workspace's files, their digests and
the draft manifest: unchanged entries carried over with their version IDs, changed ones
awaiting one. Both read only, so `release --plan` shows exactly what a release would refuse.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from publishkit.errors import (
    PublishkitError,
    StorageError,
    UsageError,
    VersionError,
    WorkspaceError,
)
from publishkit.formats import manifest
from publishkit.formats.comparison import Comparison
from publishkit.formats.manifest import Manifest
from publishkit.formats.notes import drop_newest_section
from publishkit.formats.release_layout import MANIFESTS_FOLDER, NOTES_FILE
from publishkit.formats.versions import Bump, Version
from publishkit.progress import Progress, no_progress
from publishkit.release.draft import DandiEntry, Draft, draft_manifest
from publishkit.s3.bucket import S3Bucket
from publishkit.workspace.config import Settings
from publishkit.workspace.digests import DigestCache, FileDigests
from publishkit.workspace.inventory import ReleaseFile, collect
from publishkit.workspace.state import DandiAssets, OrganizedPaths, StateStore


class Published(msgspec.Struct, frozen=True):
    """The versions published in the bucket, and the latest one's manifest."""

    latest: Version | None
    versions: frozenset[Version]
    document: Manifest | None


def resolve_version(
    published: Published, comparison: Comparison, version: str | None, bump: Bump | None
) -> Version | None:
    """The version a release cuts: --version, or --bump applied to the latest; None when
    nothing changed since the latest (and the version asked for does not promote it)."""
    requested = Version.parse(version) if version else None
    if requested is None and bump is not None:
        requested = (published.latest or Version(0, 0, 0)).bump(bump)
    promotes = requested is not None and _promotes(published.latest, requested)
    if published.document is not None and not comparison.changes and not promotes:
        return None
    if requested is None:
        raise UsageError(
            f"no --version or --bump given; the changes suggest --bump {comparison.suggested_bump}",
            hint="pass --bump major|minor|patch or --version X.Y.Z",
        )
    check_new(requested, published)
    return requested


def _promotes(latest: Version | None, requested: Version) -> bool:
    """`requested` is the final version of the pre-release `latest` (1.0.1-rc1 -> 1.0.1): it
    is published even when no file changed, pinning the same versions."""
    return (
        latest is not None
        and bool(latest.prerelease)
        and not requested.prerelease
        and latest.core == requested.core
    )


class Target(msgspec.Struct, frozen=True):
    """The bucket as a release finds it, checked before anything is written anywhere."""

    bucket: S3Bucket
    published: Published
    notes: bytes | None = None  # release_notes.md in the bucket, as the check read it


def check_target(*, settings: Settings, version: str | None = None) -> Target:
    """Refuse what would stop a release at the bucket, before any stage writes: no
    credentials, no bucket, versioning not Enabled, a region other than the bucket's, a
    --version that cannot be cut, local edits to release_notes.md that a release would lose.
    Reads only: its independent requests at once, their refusals in that order."""
    requested = Version.parse(version) if version else None
    bucket = S3Bucket.connect(
        settings.s3.bucket, settings.s3.region, settings.s3.endpoint_url, write=True
    )
    with ThreadPoolExecutor(4, thread_name_prefix="publishkit-preflight") as pool:
        status = pool.submit(bucket.versioning)
        where = pool.submit(bucket.location)
        found = pool.submit(read_published, settings, bucket)
        notes = pool.submit(bucket.get_bytes, settings.s3.key(NOTES_FILE))
        bucket.require_versioning(status.result())
        _check_region(settings, bucket, where.result())
        published = found.result()
        if requested is not None and requested != published.latest:
            check_new(requested, published)  # the latest itself: a re-run (see resolve_version)
        _check_local_notes(settings, notes.result())
    return Target(bucket, published, notes.result())


class Staged(msgspec.Struct, frozen=True):
    """Everything a release or an S3 upload knows before it writes anything."""

    files: list[ReleaseFile]
    target: Target
    digests: dict[str, FileDigests]
    draft: Draft


def stage_release(
    *,
    settings: Settings,
    version: str | None = None,
    allow_empty: bool = False,
    progress: Progress = no_progress,
    target: Target | None = None,
    files: list[ReleaseFile] | None = None,
) -> Staged:
    """Read what a release needs (the bucket, the published manifests, the files and their
    digests) and refuse what cannot be cut; writes nothing anywhere. `target`: the bucket as
    `check_target` found it earlier in this run; `files`: the workspace's files as `collect`
    found them earlier in this run (nothing converted since)."""
    files = collect(settings) if files is None else files
    if target is None:
        target = check_target(settings=settings, version=version)
    if target.published.document is None and not allow_empty:
        _refuse_empty(settings, files)
    with StateStore.in_dir(settings.state_dir) as store:
        found = DigestCache(store).get_all([f.path for f in files], settings.executor, progress)
        digests = {f.relpath: found[f.path] for f in files}
        on_dandi = dandi_entries(store, settings)
    draft = draft_manifest(settings, files, digests, target.published.document, on_dandi)
    return Staged(files, target, digests, draft)


def _check_region(settings: Settings, bucket: S3Bucket, where: str) -> None:
    """Every URL a manifest pins names the region: it must be the bucket's own (`where`, as
    `S3Bucket.location` found it)."""
    if where and where != settings.s3.region:
        raise StorageError(
            f"s3://{bucket.name} lives in region {where}, but the release would name region "
            f"{settings.s3.region} in every manifest URL",
            hint=f"set s3.region: {where} in publishkit.yaml (or AWS_DEFAULT_REGION={where})",
        )


def _refuse_empty(settings: Settings, files: list[ReleaseFile]) -> None:
    """A first release without a single data file is permanent: refuse it unless meant."""
    if any(f.group == "data" for f in files):
        return
    tables = ", ".join(name for name, _ in settings.metadata_files) or "none"
    raise WorkspaceError(
        f"{settings.workspace}: the first release would have no data file (tables: {tables}; "
        f"none lists files with both {settings.id_column} and {settings.path_column})",
        hint="list the data files in a metadata table (run `publishkit convert` first when "
        "the workspace converts), or pass --allow-empty if an empty release is meant",
    )


def _check_local_notes(settings: Settings, remote: bytes | None) -> None:
    """A release rewrites release_notes.md from the bucket's copy: refuse to drop local edits.
    A local copy one section behind or ahead of the bucket's (a run died between writing the
    two) is publishkit's own, not an edit."""
    local_path = settings.workspace / NOTES_FILE
    if not local_path.is_file():
        return
    local = local_path.read_text(encoding="utf-8", errors="replace")
    if remote is not None:
        text = remote.decode("utf-8", errors="replace")
        behind, ahead = drop_newest_section(text), drop_newest_section(local)
        if local.strip() in (text.strip(), behind.strip()) or ahead.strip() == text.strip():
            return
    where = "the bucket's copy" if remote is not None else "the bucket, which has none yet"
    raise WorkspaceError(
        f"{local_path}: differs from {where}; a release rewrites it from the bucket and would "
        "lose the local edits",
        hint="pass what you wrote with --note TEXT (it goes on top of this release's notes), "
        f"then delete {NOTES_FILE} so the release writes it afresh",
    )


def record_dandi_assets(settings: Settings, draft: Draft) -> None:
    """Record in the draft each data file's DANDI asset as the workspace's records have it now
    (after a DANDI upload: the assets it just made), without staging the release again."""
    with StateStore.in_dir(settings.state_dir) as store:
        draft.record_dandi_assets(dandi_entries(store, settings))


def dandi_entries(store: StateStore, settings: Settings) -> dict[str, DandiEntry]:
    """Workspace path -> its DANDI asset as last uploaded (the draft records it only when the
    asset has the content the file has now)."""
    dandiset = settings.dandi.dandiset
    if not dandiset:
        return {}
    assets = DandiAssets(store, dandiset).all()
    return {
        source: DandiEntry(dandiset, dandi_path, asset.asset_id, asset.blake2b)
        for source, dandi_path in OrganizedPaths(store).paths().items()
        if (asset := assets.get(dandi_path)) is not None
    }


def read_published(settings: Settings, bucket: S3Bucket) -> Published:
    """The versions published in the bucket, and the latest one's manifest: listed with their
    ETags (the same one request), the latest read from the workspace's own copy when the
    listing vouches for it (`_local_copy`), else from the bucket."""
    prefix = settings.s3.key(MANIFESTS_FOLDER + "/")
    versions, etags = {}, {}
    for key, etag in bucket.etags(prefix).items():
        name = key[len(prefix) :]
        found = manifest.version_from_name(name)
        if found is not None and name == manifest.manifest_name(settings.project, found):
            versions[found], etags[found] = key, etag
    if not versions:
        return Published(None, frozenset(), None)
    latest = max(versions)
    local = settings.workspace / MANIFESTS_FOLDER / versions[latest][len(prefix) :]
    data = _local_copy(local, etags[latest]) or bucket.get_bytes(versions[latest])
    if data is None:
        raise PublishkitError(f"s3://{bucket.name}/{versions[latest]} vanished while reading it")
    document = manifest.parse_manifest(data, f"s3://{bucket.name}/{versions[latest]}")
    return Published(latest, frozenset(versions), document)  # type: ignore[arg-type]


def _local_copy(path: Path, etag: str) -> bytes | None:
    """The workspace's copy of a published manifest (`_put_manifest` writes the bytes it puts),
    when its MD5 is the ETag the bucket listed for the manifest's key; else None, and the
    manifest is read from the bucket. Safe to read instead of a GET: a manifest is put in one
    PUT (never in parts) and never replaced (`If-None-Match: *`), so its ETag is the MD5 of the
    bytes the bucket holds, and a copy with that MD5 holds those bytes (short of an MD5
    collision forged by someone who can write both the workspace and the bucket). A store whose
    ETags are not MD5s (SSE-KMS, SSE-C; a multipart ETag, with its "-N") matches no copy: the
    bucket's is read, as before."""
    if not etag or "-" in etag:
        return None
    try:
        data = path.read_bytes()
    except OSError:  # none (a fresh clone), or unreadable: the bucket's
        return None
    return data if hashlib.md5(data, usedforsecurity=False).hexdigest() == etag else None


def check_new(requested: Version, published: Published) -> None:
    """Refuse a version already published or older than the latest: a published manifest is never
    overwritten."""
    if requested in published.versions:
        raise VersionError(
            f"version {requested} is already published; a published manifest is never overwritten",
            hint=f"cut a newer version, e.g. --version {published.latest.bump('patch')}"
            if published.latest
            else None,
        )
    if published.latest is not None and requested < published.latest:
        raise VersionError(
            f"version {requested} is older than the latest release {published.latest}",
            hint=f"cut a newer version, e.g. --version {published.latest.bump('patch')}",
        )
