"""The release stage: upload what changed, pin it in manifest vX.Y.Z, write the release notes."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import __version__, manifest
from .config import Settings
from .dandi_upload import recorded_assets
from .digests import DigestCache, FileDigests
from .errors import CheckFailed, PublishkitError, UsageError, VersionError
from .inventory import ReleaseFile, collect
from .jsonio import dumps, write_atomic
from .notes import Comparison, compare_manifests, has_section, prepend_section, render_markdown
from .organize import recorded_paths
from .progress import Progress, no_progress
from .s3 import BLAKE2B_METADATA, ConditionFailed, S3Bucket
from .state import StateStore
from .versions import Bump, Version

log = logging.getLogger(__name__)
GROUP_KEY = {"metadata": "metadata_files", "data": "data_files"}
UPLOAD_THREADS = 4


@dataclass(frozen=True)
class ReleaseResult:
    version: str | None  # None when nothing changed
    previous_version: str | None
    comparison: Comparison | None
    uploaded: tuple[str, ...]  # relpaths sent to the bucket (or adopted after a crash)
    unchanged: int
    manifest_url: str | None
    manifest_path: str | None
    notes_repaired: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "released" if self.version else "unchanged",
            "version": self.version,
            "previous_version": self.previous_version,
            "uploaded": list(self.uploaded),
            "unchanged": self.unchanged,
            "manifest_url": self.manifest_url,
            "manifest_path": self.manifest_path,
            "notes_repaired": self.notes_repaired,
            "changes": self.comparison.as_json() if self.comparison else None,
        }


@dataclass(frozen=True)
class _Published:
    latest: Version | None
    versions: frozenset[Version]
    document: dict[str, Any] | None


def cut_release(
    *,
    settings: Settings,
    version: str | None = None,
    bump: Bump | None = None,
    remarks: tuple[str, ...] = (),
    progress: Progress = no_progress,
    staged: Staged | None = None,
) -> ReleaseResult:
    """Cut the next release of the workspace; refuses bad input before writing anything.
    `remarks` go on top of this release's notes (e.g. an inspection override and its reason);
    `staged` is what `stage_release` found, when the caller staged it earlier."""
    if version and bump:
        raise UsageError("give either --version or --bump, not both")
    requested = Version.parse(version) if version else None
    if staged is None:
        staged = stage_release(settings=settings, version=version, progress=progress)
    _abort_leftovers(settings, staged.bucket)
    files, bucket, published, digests, draft = (
        staged.files,
        staged.bucket,
        staged.published,
        staged.digests,
        staged.draft,
    )
    previous = published.document
    old_name = (
        manifest.manifest_name(settings.project, published.latest) if published.latest else None
    )
    comparison = compare_manifests(previous, draft, old_name, "(this release)")
    if previous is not None and not comparison.changes:
        # Nothing to publish; a run that died after publishing left its local copies behind.
        repaired = _repair_local_copy(settings, previous)
        repaired = _repair_notes(settings, bucket, previous) or repaired
        return ReleaseResult(
            None, str(published.latest), None, (), len(files), None, None, repaired
        )
    if requested is not None and requested == published.latest:
        _check_new(requested, published)  # the latest, and the files changed since: refuse
    if requested is None:
        if bump is None:
            raise UsageError(
                f"no --version or --bump given; the changes suggest --bump "
                f"{comparison.suggested_bump}",
                hint="pass --bump major|minor|patch or --version X.Y.Z",
            )
        requested = (published.latest or Version(0, 0, 0)).bump(bump)
        _check_new(requested, published)
    draft["manifest_version"] = str(requested)
    name = manifest.manifest_name(settings.project, requested)
    comparison = compare_manifests(previous, draft, old_name, name)
    uploaded = _upload_changed(settings, bucket, files, digests, draft, progress)
    manifest_url = _publish_manifest(settings, bucket, draft, name)
    _publish_notes(settings, bucket, comparison, remarks)
    return ReleaseResult(
        version=str(requested),
        previous_version=str(published.latest) if published.latest else None,
        comparison=comparison,
        uploaded=tuple(uploaded),
        unchanged=len(files) - len(uploaded),
        manifest_url=manifest_url,
        manifest_path=str(settings.workspace / "manifests" / name),
    )


@dataclass(frozen=True)
class Staged:
    """Everything a release or an S3 upload knows before it writes anything."""

    files: list[ReleaseFile]
    bucket: S3Bucket
    published: _Published
    digests: dict[str, FileDigests]
    draft: dict[str, Any]


def stage_release(
    *, settings: Settings, version: str | None = None, progress: Progress = no_progress
) -> Staged:
    """Read what a release needs (the files and their digests, the bucket, the published
    manifests) and refuse a --version that cannot be cut; writes nothing anywhere."""
    requested = Version.parse(version) if version else None
    files = collect(settings)
    bucket = S3Bucket.connect(
        settings.s3.bucket, settings.s3.region, settings.s3.endpoint_url, write=True
    )
    bucket.require_versioning()
    published = _published(settings, bucket)
    if requested is not None and requested != published.latest:
        _check_new(requested, published)  # the latest itself: see cut_release (a re-run)
    with StateStore.in_dir(settings.state_dir) as store:
        found = DigestCache(store).get_all([f.path for f in files], settings.executor, progress)
        digests = {f.relpath: found[f.path] for f in files}
        on_dandi = dandi_entries(store, settings)
    draft = _draft_manifest(settings, files, digests, published.document, on_dandi)
    return Staged(files, bucket, published, digests, draft)


def _abort_leftovers(settings: Settings, bucket: S3Bucket) -> None:
    if aborted := bucket.abort_incomplete_uploads(_key(settings, "")):
        log.info("aborted %d incomplete multipart upload(s) of an earlier run", aborted)


def preview(*, settings: Settings) -> tuple[Comparison, int, str | None]:
    """What a release would change (comparison, files to upload, latest version); reads only."""
    staged = stage_release(settings=settings)
    latest = staged.published.latest
    old_name = manifest.manifest_name(settings.project, latest) if latest else None
    comparison = compare_manifests(
        staged.published.document, staged.draft, old_name, "(next release)"
    )
    pending = sum(not staged.draft[GROUP_KEY[f.group]][f.name]["version_id"] for f in staged.files)
    return comparison, pending, str(latest) if latest else None


@dataclass(frozen=True)
class S3UploadResult:
    uploaded: tuple[str, ...]
    unchanged: int

    def as_json(self) -> dict[str, Any]:
        return {"uploaded": list(self.uploaded), "unchanged": self.unchanged}


def upload_to_s3(*, settings: Settings, progress: Progress = no_progress) -> S3UploadResult:
    """The upload step of a release alone: changed files go up, no manifest is written; the next
    release adopts them (by their recorded blake2b) instead of uploading them again."""
    staged = stage_release(settings=settings, progress=progress)
    _abort_leftovers(settings, staged.bucket)
    uploaded = _upload_changed(
        settings, staged.bucket, staged.files, staged.digests, staged.draft, progress
    )
    return S3UploadResult(tuple(uploaded), len(staged.files) - len(uploaded))


def dandi_entries(store: StateStore, settings: Settings) -> dict[str, dict[str, str]]:
    """Workspace path -> the manifest keys of its DANDI asset, for files whose uploaded asset
    has the content they have now."""
    dandiset = settings.dandi.dandiset
    assets = recorded_assets(store, dandiset)
    entries = {}
    for source, dandi_path in recorded_paths(store).items():
        if dandi_path in assets and dandiset:
            asset_id, content = assets[dandi_path]
            entries[source] = {
                "dandiset_id": dandiset,
                "dandi_asset_path": dandi_path,
                "dandi_asset_id": asset_id,
                "_blake2b": content,
            }
    return entries


def _key(settings: Settings, relpath: str) -> str:
    return f"{settings.s3.prefix}/{relpath}"


def _published(settings: Settings, bucket: S3Bucket) -> _Published:
    prefix = _key(settings, "manifests/")
    versions = {}
    for key in bucket.list_keys(prefix):
        name = key[len(prefix) :]
        found = manifest.version_from_name(name)
        if found is not None and name == manifest.manifest_name(settings.project, found):
            versions[found] = key
    if not versions:
        return _Published(None, frozenset(), None)
    latest = max(versions)
    data = bucket.get_bytes(versions[latest])
    if data is None:
        raise PublishkitError(f"s3://{bucket.name}/{versions[latest]} vanished while reading it")
    document = manifest.parse_manifest(data, f"s3://{bucket.name}/{versions[latest]}")
    return _Published(latest, frozenset(versions), document)


def _check_new(requested: Version, published: _Published) -> None:
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


def _draft_manifest(
    settings: Settings,
    files: list[ReleaseFile],
    digests: dict[str, FileDigests],
    previous: dict[str, Any] | None,
    on_dandi: dict[str, dict[str, str]],
) -> dict[str, Any]:
    """The new manifest with unchanged entries carried over; changed ones await a version_id."""
    carried = {}
    for group in manifest.GROUPS:
        for entry in (previous or {}).get(group, {}).values():
            carried[manifest.entry_relpath(entry)] = entry
    document: dict[str, Any] = {
        "project_name": settings.project,
        "manifest_version": "0.0.0",
        "metadata_file_id_column_name": settings.id_column,
        "data_pipeline": [
            {"name": "publishkit", "version": __version__, "comment": "cut by publishkit release"}
        ],
        "previous_manifest_version": previous["manifest_version"] if previous else None,
        "created": _now(),
        "metadata_files": {},
        "data_files": {},
    }
    for item in files:
        digest = digests[item.relpath]
        old = carried.get(item.relpath)
        entry = {
            "url": manifest.public_url(
                settings.s3.public_url,
                bucket=settings.s3.bucket,
                region=settings.s3.region,
                key=_key(settings, item.relpath),
            ),
            "path": item.relpath,
            "file_hash": digest.blake2b,
            "sha256": digest.sha256,
            "size": digest.size,
        }
        if old is not None and old["file_hash"] == digest.blake2b:
            entry["version_id"] = old["version_id"]
            if old.get("created"):
                entry["created"] = old["created"]
        else:
            entry |= {"version_id": "", "previous_version_id": old["version_id"] if old else None}
        asset = on_dandi.get(item.relpath)
        if item.group == "data" and asset and asset["_blake2b"] == digest.blake2b:
            entry |= {k: v for k, v in asset.items() if not k.startswith("_")}
        document[GROUP_KEY[item.group]][item.name] = entry
    return document


def _upload_changed(
    settings: Settings,
    bucket: S3Bucket,
    files: list[ReleaseFile],
    digests: dict[str, FileDigests],
    draft: dict[str, Any],
    progress: Progress,
) -> list[str]:
    pending = [f for f in files if not draft[GROUP_KEY[f.group]][f.name]["version_id"]]
    log.info("%d of %d files changed since the last manifest", len(pending), len(files))
    total = sum(digests[f.relpath].size for f in pending)
    new = sum(draft[GROUP_KEY[f.group]][f.name]["previous_version_id"] is None for f in pending)
    existing = _existing_keys(settings, bucket, len(files), new)

    def upload(item: ReleaseFile) -> tuple[ReleaseFile, str]:
        digest = digests[item.relpath]
        key = _key(settings, item.relpath)
        current = bucket.head(key) if existing is None or key in existing else None
        if (
            current is not None
            and current.size == digest.size
            and current.metadata.get(BLAKE2B_METADATA) == digest.blake2b
        ):  # uploaded by a run that crashed before its manifest: adopt, never re-upload
            log.info("adopting s3://%s/%s version %s", bucket.name, key, current.version_id)
            progress("Uploading", digest.size, total)
            return item, current.version_id
        log.info("uploading %s (%d bytes) to s3://%s/%s", item.path, digest.size, bucket.name, key)
        try:
            version_id = bucket.put_file(
                key,
                item.path,
                sha256_hex=digest.sha256,
                blake2b_hex=digest.blake2b,
                multipart_threshold=settings.s3.multipart_threshold,
                on_bytes=lambda n: progress("Uploading", n, total),
                replaces=current,
            )
        except ConditionFailed:
            landed = bucket.head(key)  # our own PUT, applied before its answer was lost?
            if not (landed and landed.metadata.get(BLAKE2B_METADATA) == digest.blake2b):
                raise
            version_id = landed.version_id
        return item, version_id

    failures = []
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for future in _submitted(pool, upload, pending, UPLOAD_THREADS * 4):
            try:
                item, version_id = future.result()
            except PublishkitError as exc:
                failures.append(str(exc))
                continue
            entry = draft[GROUP_KEY[item.group]][item.name]
            entry["version_id"] = version_id
            entry["created"] = _now()
    if failures:
        raise CheckFailed(
            f"{len(failures)} of {len(pending)} uploads failed, no manifest was written; "
            f"first: {failures[0]}",
            hint="fix the cause and run the release again; finished uploads are re-used",
        )
    return [f.relpath for f in pending]


def _existing_keys(settings: Settings, bucket: S3Bucket, files: int, new: int) -> set[str] | None:
    """The keys under the release's prefix, when listing them (a request per 1,000 keys) costs
    fewer requests than asking for each file new to the manifest (a HEAD each; a changed file
    has a key and needs its HEAD anyway); None otherwise. Only keys that exist need a HEAD (to
    adopt an object a crashed run uploaded, or to replace it)."""
    if files // 1000 + 1 >= new:
        return None
    return set(bucket.list_keys(_key(settings, "")))


def _submitted(
    pool: ThreadPoolExecutor, function: Any, items: list[Any], ahead: int
) -> Iterator[Future[Any]]:
    """function(item) for each item on `pool`, in order, with at most `ahead` submitted and
    not yet handed over: memory stays flat in the number of files."""
    waiting: deque[Future[Any]] = deque()
    for item in items:
        waiting.append(pool.submit(function, item))
        if len(waiting) >= ahead:
            yield waiting.popleft()
    yield from waiting


def _publish_manifest(
    settings: Settings, bucket: S3Bucket, document: dict[str, Any], name: str
) -> str:
    manifest.validate(document, name)
    data = dumps(document).encode()
    key = _key(settings, f"manifests/{name}")
    bucket.put_bytes(key, data, content_type="application/json", create_only=True)
    log.info("published manifest s3://%s/%s", bucket.name, key)
    write_atomic(settings.workspace / "manifests" / name, data)  # validated, as published
    return manifest.public_url(
        settings.s3.public_url, bucket=settings.s3.bucket, region=settings.s3.region, key=key
    )


def _publish_notes(
    settings: Settings, bucket: S3Bucket, comparison: Comparison, remarks: tuple[str, ...] = ()
) -> None:
    key = _key(settings, "release_notes.md")
    existing = bucket.get_bytes(key)
    section = render_markdown(comparison, date=_now()[:10], remarks=remarks)
    text = prepend_section(
        existing.decode("utf-8") if existing else None, section, comparison.new_version
    )
    bucket.put_bytes(key, text.encode(), content_type="text/markdown", create_only=False)
    write_atomic(settings.workspace / "release_notes.md", text)


def _repair_local_copy(settings: Settings, latest: dict[str, Any]) -> bool:
    path = (
        settings.workspace
        / "manifests"
        / manifest.manifest_name(settings.project, latest["manifest_version"])
    )
    if path.exists():
        return False
    manifest.write_local(path, latest)
    return True


def _repair_notes(settings: Settings, bucket: S3Bucket, latest: dict[str, Any]) -> bool:
    """A crash between manifest and notes leaves the notes behind; write them on the next run.
    A crash between the bucket's notes and the local copy leaves the local copy behind."""
    existing = bucket.get_bytes(_key(settings, "release_notes.md"))
    version = latest["manifest_version"]
    if existing is not None and has_section(existing.decode("utf-8"), version):
        local = settings.workspace / "release_notes.md"
        if has_section(local.read_text("utf-8") if local.exists() else None, version):
            return False
        write_atomic(local, existing.decode("utf-8"))
        return True
    before = latest.get("previous_manifest_version")
    older = None
    if before:
        data = bucket.get_bytes(
            _key(settings, f"manifests/{manifest.manifest_name(settings.project, before)}")
        )
        older = manifest.parse_manifest(data, before) if data else None
    name = manifest.manifest_name(settings.project, version)
    old_name = manifest.manifest_name(settings.project, before) if older and before else None
    _publish_notes(settings, bucket, compare_manifests(older, latest, old_name, name))
    return True


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
