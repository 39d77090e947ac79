"""`publishkit release`: the stages the workspace enables, in order, each one idempotent.

convert (a `conversion:` section) -> inspect (`inspection:` or `conversion:`) -> organize
(`dandi:`) -> upload (to DANDI with `dandi:`, to S3 with `s3:`; no manifest) -> publish (a DANDI
version, with `dandi: {publish: true}`) -> manifest vX.Y.Z (`s3:`, recording the DANDI version)
-> notes (`s3:`). What would refuse the release later (the tables, the DANDI instance and key,
the dandiset's metadata, the bucket, the version) is checked before the first stage writes.
Inspection gates publication, and so do the checks publishkit.yaml's `tables:` declares: nothing
is uploaded while a file or a table fails, unless the caller gives a reason to publish anyway,
which the release notes record.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from publishkit.errors import UsageError
from publishkit.formats.manifest import DandiRelease
from publishkit.interrupts import Interrupt, never
from publishkit.progress import Progress, no_progress
from publishkit.release.preflight import (
    check_request,
    decide,
    decides_while_inspecting,
    preflight,
    stage_once_files_are_known,
)
from publishkit.release.results import PipelineResult
from publishkit.release.site_ahead import start_site
from publishkit.release.stages import Request, Run, Stage
from publishkit.workspace.config import Settings
from publishkit.workspace.runlock import exclusive_run
from publishkit.workspace.settings import StageName
from publishkit.workspace.state import STATE_FILE, StateStore

if TYPE_CHECKING:
    from publishkit.dandi.version_publish import NotesLink, PublishReport
    from publishkit.site.pages import InspectionSummary


__all__ = [
    "STAGES",
    "STAGE_NAMES",
    "inspect_stage",
    "run_release",
]


def _convert(run: Run) -> None:
    from publishkit.nwb.convert import convert_sessions

    run.result.conversion = convert_sessions(
        settings=run.settings,
        jobs=run.request.jobs,
        progress=run.progress,
        interrupt=run.interrupt,
    )
    if not run.result.conversion.ok and set(run.later(StageName.CONVERT)) - {StageName.INSPECT}:
        # a release without the failed rows' files is not the one asked for
        run.stop(StageName.CONVERT)
        return
    stage_once_files_are_known(run)


def inspect_stage(run: Run) -> None:
    """The NWB files' inspection and the tables' checks; either failing gates the release."""
    if run.settings.inspects_files:
        _inspect_files(run)
    if run.settings.tables_checked:
        from publishkit.workspace.table_checks import check_tables

        run.result.tables = check_tables(settings=run.settings)
    inspected, tables = run.result.inspection, run.result.tables
    if (inspected and not inspected.passed) or (tables and not tables.passed):
        if run.request.despite is None:
            run.stop(StageName.INSPECT)
        else:
            run.result.overridden = run.request.despite


def _inspect_files(run: Run) -> None:
    from publishkit.inspection.inspect_files import start_inspection
    from publishkit.workspace.nwb_files import workspace_nwb_files

    settings = run.settings
    # The release is settled (reads only) while the files are inspected; the gate still holds.
    early = decides_while_inspecting(settings, run.selected)
    pending = start_inspection(
        files=workspace_nwb_files(settings),
        config=settings.inspection,
        cache_dir=settings.state_dir,
        fail_on=settings.fail_on,
        jobs=run.request.jobs,
        relative_to=settings.workspace,
        progress=run.progress,
        background=early,
        executor=settings.executor,
    )
    try:
        if early:  # staged (hashed) while the workers inspect; the version refused now if it
            stage_once_files_are_known(run)  # must be; the summaries are the workers'
        if early and StageName.MANIFEST in run.selected:
            decide(run, provisional=True)
        run.result.inspection = pending.finish()
    except BaseException:
        pending.cancel()
        raise
    if early and StageName.MANIFEST in run.selected:
        decide(run)  # settled with the summaries inspection recorded: none read again


def _organize(run: Run) -> None:
    from publishkit.dandi.organize import organize_files

    run.result.organized = organize_files(settings=run.settings, progress=run.progress)


def _upload(run: Run) -> None:
    """To DANDI, then what changed to S3; no manifest. A failed DANDI upload stops the run:
    the S3 release would lack what DANDI refused."""
    settings = run.settings
    if settings.s3_enabled and StageName.MANIFEST in run.selected:
        decide(run)  # the version, before the first byte goes to DANDI or S3
        start_site(run)
    if settings.dandi_enabled:
        from publishkit.dandi.upload import upload_to_dandi

        run.result.dandi = upload_to_dandi(
            settings=settings,
            api_key=run.request.dandi_api_key,
            progress=run.progress,
            interrupt=run.interrupt,
        )
        if not run.result.dandi.ok:
            run.stop(StageName.UPLOAD)
            return
        if settings.s3_enabled:  # the assets just uploaded, recorded in the staged draft
            from publishkit.release.s3_staging import record_dandi_assets

            record_dandi_assets(settings, run.s3_release.draft)
    if settings.s3_enabled:
        from publishkit.release.s3_upload import upload_release

        run.interrupt("the S3 upload")
        run.result.s3_upload = upload_release(
            settings=settings, staged=run.s3_release, progress=run.progress, interrupt=run.interrupt
        )


def _publish(run: Run) -> None:
    """Publish the DANDI draft when it changed; a refusal stops the run: the S3 release would
    record no DANDI version."""
    from publishkit.dandi.version_publish import publish_dandiset

    run.result.published = publish_dandiset(
        settings=run.settings,
        api_key=run.request.dandi_api_key,
        link=notes_link(run) if run.settings.s3_enabled else None,
        progress=run.progress,
    )
    if not run.result.published.ok:
        run.stop(StageName.PUBLISH)


def _manifest(run: Run) -> None:
    from publishkit.release.manifest_and_notes import publish_release_manifest

    found = run.result.published.version if run.result.published is not None else None
    if found is not None:
        assert run.settings.dandi_target is not None  # it published a version there
        dandi: DandiRelease = {
            "instance": run.settings.dandi_target[0],
            "dandiset_id": found.dandiset,
            "version": found.version,
        }
        if found.url:
            dandi["url"] = found.url
        if found.doi:
            dandi["doi"] = found.doi
        run.s3_release.draft.record_dandi(dandi, found.assets)
    decision = decide(run)
    run.result.manifest = publish_release_manifest(
        settings=run.settings,
        staged=run.s3_release,
        decision=decision,
        interrupt=run.interrupt,
    )


def _notes(run: Run) -> None:
    from publishkit.release.manifest_and_notes import write_release_notes
    from publishkit.release.s3_staging import check_target

    target = run.target or check_target(settings=run.settings)
    latest, comparison = target.published.document, None
    if run.result.manifest is not None:
        latest = run.result.manifest.document
        comparison = run.result.manifest.comparison if run.result.manifest.version else None
    run.result.notes = write_release_notes(
        settings=run.settings,
        bucket=target.bucket,
        latest=latest,
        comparison=comparison,
        remarks=run.request.notes
        + dandi_remarks(run.result.published)
        + _remarks(run, run.result.overridden)
        + _not_compared(run),
        inspection=_inspection_summary(run),
        seen=target,
        tables={f.name: f.path for f in run.staged.files if f.group == "metadata"}
        if run.staged is not None
        else None,
        drafted=run.site_index if comparison is not None else None,
    )


def _inspection_summary(run: Run) -> InspectionSummary | None:
    """What this run's inspection found, for the release's page (None: it did not inspect)."""
    from collections import Counter

    from publishkit.site.pages import InspectionSummary
    from publishkit.workspace.inspection_settings import rank

    inspected, tables = run.result.inspection, run.result.tables
    if inspected is None and tables is None:
        return None
    found = Counter(f.importance for f in (inspected.findings if inspected is not None else ()))
    found.update(f.importance for f in (tables.findings if tables is not None else ()))
    return InspectionSummary(
        files=len(inspected.files) if inspected is not None else 0,
        findings=tuple(sorted(found.items(), key=lambda item: rank(item[0]))),
        suppressed=len(inspected.suppressed) if inspected is not None else 0,
        overridden=run.result.overridden,
    )


STAGES: tuple[Stage, ...] = (
    Stage(StageName.CONVERT, _convert),
    Stage(StageName.INSPECT, inspect_stage),
    Stage(StageName.ORGANIZE, _organize),
    Stage(StageName.UPLOAD, _upload),
    Stage(StageName.PUBLISH, _publish),
    Stage(StageName.MANIFEST, _manifest),
    Stage(StageName.NOTES, _notes),
)
STAGE_NAMES: tuple[StageName, ...] = tuple(stage.name for stage in STAGES)
assert tuple(StageName) == STAGE_NAMES  # every stage, in StageName's order


def select_stages(
    first: str | None = None, last: str | None = None, only: str | None = None
) -> tuple[str, ...]:
    """The stages --from/--to or --only select, in order."""
    for name in (first, last, only):
        if name is not None and name not in STAGE_NAMES:
            raise UsageError(f"unknown stage {name!r}", hint=f"stages: {', '.join(STAGE_NAMES)}")
    if only:
        if first or last:
            raise UsageError("give --only alone, or --from/--to")
        return (StageName(only),)
    start = STAGE_NAMES.index(first) if first else 0
    stop = STAGE_NAMES.index(last) if last else len(STAGE_NAMES) - 1
    if start > stop:
        raise UsageError(f"--from {first} comes after --to {last}")
    return STAGE_NAMES[start : stop + 1]


def enabled_stages(settings: Settings) -> set[str]:
    """The names of the stages the workspace's publishkit.yaml enables."""
    return {stage.name for stage in STAGES if stage.enabled(settings)}


def run_release(
    *,
    settings: Settings,
    stages: tuple[str, ...] = STAGE_NAMES,
    request: Request = Request(),
    wait: bool = False,
    progress: Progress = no_progress,
    interrupt: Interrupt = never,
) -> PipelineResult:
    """Run the selected stages that the workspace enables, in order, as one writing run of
    the workspace, for what the release engineer asked (`request`). What would refuse the
    release later is checked before the first stage writes; a stage that fails stops every
    stage after it, so nothing is published from a run that went wrong. `interrupt` is
    checked before each stage and before each write that must not follow an interrupt
    (errors.Interrupted)."""
    selected = tuple(s for s in STAGES if s.name in stages and s.enabled(settings))
    names = tuple(s.name for s in selected)
    check_request(request)
    with (
        exclusive_run(settings.state_dir, "release", wait=wait),
        _state_held_open(settings.state_dir),
    ):
        run = Run(settings, request, names, progress, interrupt=interrupt)
        preflight(run)
        since = time.monotonic()
        for stage in selected if not run.result.stopped else ():
            interrupt(f"the {stage.name} stage")
            stage.run(run)
            now = time.monotonic()
            run.result.seconds[stage.name] = round(now - since, 3)
            since = now
            if run.result.stopped:
                break
    run.result.skipped = tuple(s for s in stages if s not in names)
    run.result.warnings = run.decision.warnings() if run.decision else ()
    return run.result


def _state_held_open(state_dir: Path) -> AbstractContextManager[object]:
    """The state database held open for the run, when there is one (a refused release makes
    none): SQLite moves its write-ahead log into the database, and syncs both, as the last
    connection to it closes (~5-10 ms); the stages' own connections then close without it,
    and that happens once per run instead of once per stage."""
    path = state_dir / STATE_FILE
    return StateStore(path) if path.exists() else nullcontext()


def notes_link(run: Run) -> NotesLink:
    """Where the notes of the release this run cuts (else of the latest) are in the bucket."""
    from publishkit.dandi.version_publish import NotesLink
    from publishkit.formats.manifest import public_url
    from publishkit.formats.release_layout import NOTES_FILE
    from publishkit.release.s3_staging import check_target

    settings = run.settings
    cut = decide(run).version if run.staged is not None else None  # else it cuts none
    version = cut or (run.target or check_target(settings=settings)).published.latest
    s3 = settings.s3
    url = public_url(s3.public_url, bucket=s3.bucket, region=s3.region, key=s3.key(NOTES_FILE))
    name = f"Release notes of {settings.project}" + (f" v{version}" if version else "")
    return NotesLink(url, name)


def dandi_remarks(published: PublishReport | None) -> tuple[str, ...]:
    """The release notes' line naming the DANDI version the release's files are in."""
    found = published.version if published is not None else None
    if found is None:
        return ()
    line = f"DANDI: {found.dandiset}/{found.version}"
    line += f" (<{found.url}>)" if found.url else ""
    return (line + (f", DOI {found.doi}" if found.doi else ""),)


def _remarks(run: Run, reason: str | None) -> tuple[str, ...]:
    failed = [
        report.failure_summary()
        for report in (run.result.inspection, run.result.tables)
        if report is not None and not report.passed
    ]
    if not failed or reason is None:
        return ()
    return (f"published although inspection failed ({'; '.join(failed)}); reason given: {reason}",)


def _not_compared(run: Run) -> tuple[str, ...]:
    """The notes' line naming the NWB files whose contents could not be compared."""
    unreadable = run.decision.unreadable if run.decision else {}
    if not unreadable:
        return ()
    named = ", ".join(f"{path} ({why})" for path, why in sorted(unreadable.items())[:5])
    more = f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
    return (f"contents not compared for files not readable as NWB: {named}{more}",)
