"""The release stage: upload what changed, pin it in manifest vX.Y.Z, write the release notes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from publishkit.errors import UsageError
from publishkit.formats import manifest
from publishkit.formats.notes import Comparison, compare_manifests
from publishkit.formats.versions import Bump
from publishkit.progress import Progress, no_progress
from publishkit.release.publish import (
    publish_manifest,
    publish_notes,
    repair_local_copy,
    repair_notes,
)
from publishkit.release.s3_upload import abort_dead_uploads, upload_pending
from publishkit.release.stage import GROUP_KEY, Staged, now, resolve_version, stage_release
from publishkit.workspace.config import Settings
from publishkit.workspace.inventory import ReleaseFile
from publishkit.workspace.runlock import exclusive_run
from publishkit.workspace.state import StateStore

log = logging.getLogger(__name__)


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


def cut_release(
    *,
    settings: Settings,
    version: str | None = None,
    bump: Bump | None = None,
    remarks: tuple[str, ...] = (),
    allow_empty: bool = False,
    wait: bool = False,
    progress: Progress = no_progress,
    staged: Staged | None = None,
) -> ReleaseResult:
    """Cut the next release of the workspace; refuses bad input before writing anything.
    `remarks` go on top of this release's notes (e.g. an inspection override and its reason);
    `staged` is what `stage_release` found, when the caller staged it earlier. One writing run
    per workspace: another one running is refused, or waited for (`wait`)."""
    if version and bump:
        raise UsageError("give either --version or --bump, not both")
    with exclusive_run(settings.state_dir, "release", wait=wait):
        if staged is None:
            staged = stage_release(
                settings=settings, version=version, allow_empty=allow_empty, progress=progress
            )
        return _cut(settings, staged, version, bump, remarks, progress)


def _cut(
    settings: Settings,
    staged: Staged,
    version: str | None,
    bump: Bump | None,
    remarks: tuple[str, ...],
    progress: Progress,
) -> ReleaseResult:
    bucket, published, draft = staged.target.bucket, staged.target.published, staged.draft
    with StateStore.in_dir(settings.state_dir) as store:
        abort_dead_uploads(store, bucket)
    previous = published.document
    old_name = (
        manifest.manifest_name(settings.project, published.latest) if published.latest else None
    )
    comparison = compare_manifests(previous, draft, old_name, "(this release)")
    requested = resolve_version(published, comparison, version, bump)
    if requested is None:
        # Nothing to publish; a run that died after publishing left its local copies behind.
        assert previous is not None
        repaired = repair_local_copy(settings, previous)
        repaired = repair_notes(settings, bucket, previous) or repaired
        return ReleaseResult(
            version=None,
            previous_version=str(published.latest),
            comparison=None,
            uploaded=(),
            unchanged=len(staged.files),
            manifest_url=None,
            manifest_path=None,
            notes_repaired=repaired,
        )
    draft["manifest_version"] = str(requested)
    name = manifest.manifest_name(settings.project, requested)
    comparison = compare_manifests(previous, draft, old_name, name)
    uploaded = _upload(settings, staged, progress)
    manifest_url = publish_manifest(settings, bucket, draft, name)
    publish_notes(settings, bucket, comparison, remarks)
    return ReleaseResult(
        version=str(requested),
        previous_version=str(published.latest) if published.latest else None,
        comparison=comparison,
        uploaded=tuple(uploaded),
        unchanged=len(staged.files) - len(uploaded),
        manifest_url=manifest_url,
        manifest_path=str(settings.workspace / "manifests" / name),
    )


@dataclass(frozen=True)
class Preview:
    """What a release would do, found without writing anything."""

    comparison: Comparison
    uploads: int  # files to upload
    latest: str | None
    version: str | None  # the version it would cut; None when nothing changed


def preview(
    *,
    settings: Settings,
    version: str | None = None,
    bump: Bump | None = None,
    allow_empty: bool = False,
) -> Preview:
    """What `cut_release` with these arguments would do, refused as it would be; reads only.
    Without --version or --bump, the version the changes suggest."""
    staged = stage_release(settings=settings, version=version, allow_empty=allow_empty)
    published = staged.target.published
    latest = published.latest
    old_name = manifest.manifest_name(settings.project, latest) if latest else None
    comparison = compare_manifests(published.document, staged.draft, old_name, "(next release)")
    chosen = bump if (version or bump) else comparison.suggested_bump
    cut = resolve_version(published, comparison, version, chosen)
    return Preview(
        replace(comparison, new_version=str(cut)) if cut else comparison,
        len(staged.pending()),
        str(latest) if latest else None,
        str(cut) if cut else None,
    )


@dataclass(frozen=True)
class S3UploadResult:
    uploaded: tuple[str, ...]
    unchanged: int

    def as_json(self) -> dict[str, Any]:
        return {"uploaded": list(self.uploaded), "unchanged": self.unchanged}


def upload_to_s3(
    *, settings: Settings, wait: bool = False, progress: Progress = no_progress
) -> S3UploadResult:
    """The upload step of a release alone: changed files go up, no manifest is written; the next
    release adopts them (by their recorded blake2b) instead of uploading them again."""
    with exclusive_run(settings.state_dir, "upload", wait=wait):
        staged = stage_release(settings=settings, allow_empty=True, progress=progress)
        with StateStore.in_dir(settings.state_dir) as store:
            abort_dead_uploads(store, staged.target.bucket)
        uploaded = _upload(settings, staged, progress)
    return S3UploadResult(tuple(uploaded), len(staged.files) - len(uploaded))


def _upload(settings: Settings, staged: Staged, progress: Progress) -> list[str]:
    """Upload what the draft does not pin yet, pinning each new version in the draft."""
    draft = staged.draft
    pending = staged.pending()
    log.info("%d of %d files changed since the last manifest", len(pending), len(staged.files))

    def pin(item: ReleaseFile, version_id: str) -> None:
        entry = draft[GROUP_KEY[item.group]][item.name]
        entry["version_id"] = version_id
        entry["created"] = now()

    return upload_pending(
        settings=settings,
        bucket=staged.target.bucket,
        pending=pending,
        digests=staged.digests,
        new=sum(draft[GROUP_KEY[f.group]][f.name]["previous_version_id"] is None for f in pending),
        listed=len(staged.files),
        pin=pin,
        progress=progress,
    )
