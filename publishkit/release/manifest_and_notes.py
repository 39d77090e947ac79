"""Publishing a release: manifest vX.Y.Z, pinning what is uploaded, then its release notes.

The manifest step publishes the summaries of the release's NWB files first (see
`release.changelog`), and says what changed inside the tables and NWB files: the bump it
suggests weighs a removed row or column as it weighs a deleted file.

The manifest step pins only versions that hold the files' content: uploaded in this run, or
found in the bucket (uploaded by `release --to upload` or a run that died before its manifest);
a file that is not there yet is refused by name. A published manifest is never overwritten.
The notes step writes the notes of the latest manifest unless the bucket's notes have them
already, and restores the local copies a run that died after publishing left behind.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from msgspec.structs import replace

from publishkit.errors import CheckFailed, UsageError
from publishkit.formats import manifest
from publishkit.formats.comparison import Comparison, compare_manifests
from publishkit.formats.jsonio import dumps
from publishkit.formats.manifest import Manifest
from publishkit.formats.notes import has_section, prepend_section, render_markdown
from publishkit.formats.release_layout import MANIFESTS_FOLDER, NOTES_FILE
from publishkit.formats.summaries import Summaries
from publishkit.interrupts import Interrupt, never
from publishkit.local_files import write_atomic
from publishkit.release.draft import now
from publishkit.release.lindi_indexes import publish_indexes
from publishkit.release.published_readback import (
    Place,
    changes_nwb,
    compared_in_bucket,
    compared_in_run,
    put_summaries,
    release_summaries,
)
from publishkit.release.s3_staging import Staged, Target
from publishkit.release.s3_upload import holds
from publishkit.s3 import content_types
from publishkit.s3.bucket import S3Bucket
from publishkit.workspace.config import Settings

if TYPE_CHECKING:
    from publishkit.release.decision import Decision
    from publishkit.site.pages import InspectionSummary
    from publishkit.site.publishing import DraftedIndex

log = logging.getLogger(__name__)


class ManifestResult(msgspec.Struct, frozen=True):
    """What the manifest step published, or why it had nothing to publish."""

    version: str | None  # None: nothing changed since previous_version
    previous_version: str | None
    comparison: Comparison | None
    document: Manifest | None  # the manifest published, or the latest when nothing changed
    manifest_url: str | None = None
    manifest_path: str | None = None
    repaired: bool = False  # the local copy of the latest manifest, restored


def publish_release_manifest(
    *,
    settings: Settings,
    staged: Staged,
    decision: Decision,
    interrupt: Interrupt = never,
) -> ManifestResult:
    """Publish the manifest of the release `decision` settled, pinning what the bucket holds;
    refused, naming the files, when one is not uploaded yet. The latest manifest's local copy is
    restored first if a dead run left it missing (killed between the bucket's PUT and the local
    write); nothing changed: nothing is published."""
    published, draft = staged.target.published, staged.draft
    previous = published.document
    latest = str(published.latest) if published.latest else None
    repaired = previous is not None and _restore_local_manifest(settings, previous)
    requested, comparison = decision.version, decision.comparison
    if requested is None:
        assert previous is not None
        return ManifestResult(None, latest, None, previous, repaired=repaired)
    _pin_uploaded(settings, staged)
    name = manifest.manifest_name(settings.project, requested)
    document = draft.versioned(str(requested))
    comparison = replace(comparison, new_name=name, new_version=str(requested))
    interrupt(f"the manifest {name}")  # the reads above may have swallowed a KeyboardInterrupt
    publish_indexes(
        settings=settings,
        bucket=staged.target.bucket,
        document=document,
        files=staged.files,
        previous=previous,
    )
    put_summaries(settings, staged.target.bucket, str(requested), decision.summaries)
    url = _put_manifest(settings, staged.target.bucket, document, name)
    return ManifestResult(
        version=str(requested),
        previous_version=latest,
        comparison=comparison,
        document=document,
        manifest_url=url,
        manifest_path=str(settings.workspace / MANIFESTS_FOLDER / name),
        repaired=repaired,
    )


def compare_staged(
    settings: Settings, staged: Staged, *, read: bool = True, build_indexes: bool = False
) -> tuple[Comparison, Summaries, dict[str, str]]:
    """What the staged release changes since the latest one, inside its tables and NWB files
    too; the summaries of its NWB files; and why each NWB file that cannot be read as NWB is
    not compared (reads only). Without `read`, only the summaries on record (see
    `release_summaries`). `build_indexes`: each NWB file read builds its LINDI index too."""
    published, draft = staged.target.published, staged.draft
    previous = published.document
    latest = published.latest
    old_name = manifest.manifest_name(settings.project, latest) if latest else None
    comparison = compare_manifests(previous, draft.document, old_name, "(this release)")
    place = Place(staged.target.bucket, settings.s3.prefix)
    with ThreadPoolExecutor(1, thread_name_prefix="publishkit-readback") as pool:
        earlier = None  # the previous release's summaries, read while this one's are found
        if previous is not None and changes_nwb(comparison):
            earlier = pool.submit(
                place.summaries, previous["project_name"], previous["manifest_version"]
            )
        summaries, unreadable = release_summaries(
            settings, staged.files, staged.digests, read=read, build_indexes=build_indexes
        )
        if previous is None or not comparison.changes:
            return comparison, summaries, unreadable
        detailed = compared_in_run(
            comparison,
            previous,
            draft.document,
            old_place=place,
            files=staged.files,
            summaries=summaries,
            old_summaries=earlier,
        )
    return detailed, summaries, unreadable


def _pin_uploaded(settings: Settings, staged: Staged) -> None:
    """Pin, for each file the draft does not pin yet, the version the bucket holds of it."""
    bucket, draft = staged.target.bucket, staged.draft
    missing = []
    for item in draft.pending():
        current = bucket.head(settings.s3.key(item.relpath))
        if holds(current, staged.digests[item.relpath]):
            assert current is not None
            draft.pin(item, current.version_id)
        else:
            missing.append(item.relpath)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckFailed(
            f"{len(missing)} file(s) of the release are not uploaded yet: "
            f"{', '.join(missing[:3])}{more}; no manifest was written",
            hint="run the upload first: `publishkit release --to upload` (or the whole release)",
        )


def _put_manifest(settings: Settings, bucket: S3Bucket, document: Manifest, name: str) -> str:
    manifest.validate(document, name)
    data = dumps(document).encode()
    key = settings.s3.key(f"{MANIFESTS_FOLDER}/{name}")
    bucket.put_bytes(key, data, content_type=content_types.JSON, create_only=True)
    log.info("published manifest s3://%s/%s", bucket.name, key)
    write_atomic(settings.workspace / MANIFESTS_FOLDER / name, data)  # validated, as published
    return manifest.public_url(
        settings.s3.public_url, bucket=settings.s3.bucket, region=settings.s3.region, key=key
    )


def _restore_local_manifest(settings: Settings, latest: Manifest) -> bool:
    name = manifest.manifest_name(settings.project, latest["manifest_version"])
    path = settings.workspace / MANIFESTS_FOLDER / name
    if path.exists():
        return False
    manifest.write_local(path, dict(latest))
    return True


class NotesResult(msgspec.Struct, frozen=True):
    """What the notes step did for the notes of manifest `version`."""

    version: str
    written: bool  # False: the bucket's notes had this version's section already
    repaired: bool  # the local copy, restored from the bucket's
    page_url: str | None = None  # the release's page (None: `site: false`)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "version": self.version,
            "written": self.written,
            "repaired": self.repaired,
            "page_url": self.page_url,
        }


def write_release_notes(
    *,
    settings: Settings,
    bucket: S3Bucket,
    latest: Manifest | None,
    comparison: Comparison | None = None,
    remarks: tuple[str, ...] = (),
    inspection: InspectionSummary | None = None,
    seen: Target | None = None,
    tables: dict[str, Path] | None = None,
    drafted: Future[DraftedIndex] | None = None,
) -> NotesResult:
    """The notes of the `latest` manifest, on top of the bucket's release_notes.md, unless they
    are there already (then only a missing local copy is restored); then, unless the workspace
    says `site: false`, the release site (`site.publishing`: the release's page, the index).
    `comparison`: what changed, when the caller has it; else it is read from the previous
    manifest in the bucket. `seen`: the bucket as this run's preflight found it (its
    release_notes.md is not read again, nor its manifests listed: this run is the workspace's
    one writer). `tables`: the release's tables in the workspace (name -> path), read for the
    site when they have the content the manifest pins. `drafted`: the index as the caller drew
    it meanwhile (`site.publishing.draft_index`; put only when drawn with the facts of the
    record this release puts), else drawn here while the notes are put."""
    existing = seen.notes if seen is not None else bucket.get_bytes(settings.s3.key(NOTES_FILE))
    if not settings.site or latest is None:
        return _write_notes(settings, bucket, latest, comparison, remarks, existing)
    from publishkit.site.page_record import PageRecord
    from publishkit.site.publishing import draft_index, publish_site

    s3 = settings.s3
    versions = None  # the manifests in the bucket: those the preflight listed, and this one
    if seen is not None:
        versions = {str(v) for v in seen.published.versions} | {latest["manifest_version"]}
    version = latest["manifest_version"]
    text = existing.decode("utf-8") if existing is not None else None
    new = not has_section(text, version)  # the notes are written now: the page is not there
    with (
        ThreadPoolExecutor(1, thread_name_prefix="publishkit-site") as pool,
        ThreadPoolExecutor(1, thread_name_prefix="publishkit-notes") as notes,
    ):
        # a release cut in this run: its index drawn while its notes and page are put
        if drafted is None and comparison is not None:
            drafted = pool.submit(draft_index, bucket, s3.prefix, latest, comparison, versions)
        # the notes put while the page goes up: a run that dies between them leaves a page the
        # next run finds (create-only), and notes without this section, which it writes
        written = notes.submit(
            _write_notes, settings, bucket, latest, comparison, remarks, existing
        )
        site = publish_site(
            bucket=bucket,
            prefix=s3.prefix,
            url_of=lambda key: manifest.public_url(
                s3.public_url, bucket=s3.bucket, region=s3.region, key=key
            ),
            document=latest,
            comparison=lambda: comparison or _from_previous(settings, bucket, latest),
            record=PageRecord(settings.project, version, remarks, inspection),
            new=new,
            drafted=drafted,
            versions=versions,
            tables=tables,
        )
        result = written.result()
    return replace(result, page_url=site.page_url)


def _write_notes(
    settings: Settings,
    bucket: S3Bucket,
    latest: Manifest | None,
    comparison: Comparison | None,
    remarks: tuple[str, ...],
    existing: bytes | None,
) -> NotesResult:
    if latest is None:
        raise UsageError(
            f"s3://{bucket.name}/{settings.s3.key(MANIFESTS_FOLDER + '/')}: no release is "
            "published yet, so there are no release notes to write",
            hint="publish a manifest first: `publishkit release --version X.Y.Z`",
        )
    version = latest["manifest_version"]
    text = existing.decode("utf-8") if existing is not None else None
    if text is not None and has_section(text, version):
        local = settings.workspace / NOTES_FILE
        if has_section(local.read_text("utf-8") if local.exists() else None, version):
            return NotesResult(version, written=False, repaired=False)
        write_atomic(local, text)
        return NotesResult(version, written=False, repaired=True)
    if comparison is None:
        comparison = _from_previous(settings, bucket, latest)
    section = render_markdown(comparison, date=now()[:10], remarks=remarks)
    document = prepend_section(text, section, comparison.new_version)
    bucket.put_bytes(
        settings.s3.key(NOTES_FILE),
        document.encode(),
        content_type=content_types.MARKDOWN,
        create_only=False,
    )
    write_atomic(settings.workspace / NOTES_FILE, document)
    return NotesResult(version, written=True, repaired=False)


def _from_previous(settings: Settings, bucket: S3Bucket, latest: Manifest) -> Comparison:
    """What changed in `latest` since the manifest before it, read from the bucket."""
    before = latest.get("previous_manifest_version")
    older = None
    if before:
        name = manifest.manifest_name(settings.project, before)
        data = bucket.get_bytes(settings.s3.key(f"{MANIFESTS_FOLDER}/{name}"))
        older = manifest.parse_manifest(data, name) if data else None
    name = manifest.manifest_name(settings.project, latest["manifest_version"])
    old_name = manifest.manifest_name(settings.project, before) if older and before else None
    comparison = compare_manifests(older, dict(latest), old_name, name)
    if older is None or not comparison.changes:
        return comparison
    place = Place(bucket, settings.s3.prefix)
    return compared_in_bucket(comparison, older, dict(latest), place, place)
