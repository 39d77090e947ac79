"""`publishkit release`: the stages the workspace enables, in order, each one idempotent.

convert (a `conversion:` section) -> inspect (`inspection:` or `conversion:`) -> organize
(`dandi:`) -> upload (to DANDI with `dandi:`, to S3 with `s3:`; no manifest) -> manifest vX.Y.Z
(`s3:`) -> notes (`s3:`). What would refuse the release later (the tables, the DANDI instance
and key, the bucket, the version) is checked before the first stage writes. Inspection gates
publication: nothing is uploaded while a file fails, unless the caller gives a reason to
publish anyway, which the release notes record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from publishkit.errors import UsageError
from publishkit.formats.notes import Comparison
from publishkit.formats.versions import Bump
from publishkit.progress import Progress, no_progress
from publishkit.release.stages import Request, Run, Stage
from publishkit.workspace.config import Settings
from publishkit.workspace.runlock import exclusive_run

if TYPE_CHECKING:
    from publishkit.dandi.organize import OrganizeReport
    from publishkit.dandi.upload import DandiUploadReport
    from publishkit.inspection.stage import InspectionReport
    from publishkit.nwb.convert import ConversionReport
    from publishkit.release.publish import ManifestResult, NotesResult
    from publishkit.release.s3_upload import S3UploadResult


def dandi_enabled(settings: Settings) -> bool:
    """The workspace uploads to DANDI: its dandi: section names an instance and a dandiset."""
    return bool(settings.dandi.instance and settings.dandi.dandiset)


def _s3_enabled(settings: Settings) -> bool:
    return settings.s3_settings is not None


def _convert(run: Run) -> None:
    from publishkit.nwb.convert import convert_sessions

    run.conversion = convert_sessions(
        settings=run.settings, jobs=run.request.jobs, progress=run.progress
    )
    if not run.conversion.ok and set(run.later("convert")) - {"inspect"}:
        run.stop("convert")  # a release without the failed rows' files is not the one asked for


def _inspect(run: Run) -> None:
    from publishkit.inspection.stage import start_inspection
    from publishkit.workspace.nwb_files import workspace_nwb_files

    settings, later = run.settings, set(run.later("inspect"))
    # Nothing changes an S3-only release's files after inspection: stage it meanwhile.
    early = (
        _s3_enabled(settings)
        and bool(later & {"upload", "manifest"})
        and not (dandi_enabled(settings) and later & {"organize", "upload"})
    )
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
        if early:  # reads only: the gate below still holds
            run.stage_s3()
        run.inspection = pending.finish()
    except BaseException:
        pending.cancel()
        raise
    if not run.inspection.passed:
        if run.request.despite is None:
            run.stop("inspect")
        else:
            run.overridden = run.request.despite


def _organize(run: Run) -> None:
    from publishkit.dandi.organize import organize_files

    run.organized = organize_files(settings=run.settings, progress=run.progress)


def _upload(run: Run) -> None:
    """To DANDI, then what changed to S3; no manifest. A failed DANDI upload stops the run:
    the S3 release would lack what DANDI refused."""
    settings = run.settings
    if dandi_enabled(settings):
        from publishkit.dandi.upload import upload_to_dandi

        run.dandi = upload_to_dandi(settings=settings, progress=run.progress)
        if not run.dandi.ok:
            run.stop("upload")
            return
    if _s3_enabled(settings):
        from publishkit.release.s3_upload import upload_release

        run.s3_upload = upload_release(
            settings=settings, staged=run.stage_s3(), progress=run.progress
        )


def _manifest(run: Run) -> None:
    from publishkit.release.publish import publish_release_manifest

    run.manifest = publish_release_manifest(
        settings=run.settings,
        staged=run.stage_s3(),
        version=run.request.version,
        bump=run.request.bump,
    )


def _notes(run: Run) -> None:
    from publishkit.release.publish import write_release_notes
    from publishkit.release.stage import check_target

    target = run.target or check_target(settings=run.settings)
    latest, comparison = target.published.document, None
    if run.manifest is not None:
        latest = run.manifest.document
        comparison = run.manifest.comparison if run.manifest.version else None
    run.notes = write_release_notes(
        settings=run.settings,
        bucket=target.bucket,
        latest=latest,
        comparison=comparison,
        remarks=run.request.notes + _remarks(run.inspection, run.overridden),
    )


STAGES: tuple[Stage, ...] = (
    Stage("convert", lambda s: s.conversion_settings is not None, _convert),
    Stage("inspect", lambda s: s.conversion_settings is not None or s.inspection_enabled, _inspect),
    Stage("organize", dandi_enabled, _organize),
    Stage("upload", lambda s: dandi_enabled(s) or _s3_enabled(s), _upload),
    Stage("manifest", _s3_enabled, _manifest),
    Stage("notes", _s3_enabled, _notes),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)


@dataclass(frozen=True)
class ReleaseResult:
    """The S3 release of a run: what was uploaded, the manifest published, its notes."""

    version: str | None  # None when nothing changed
    previous_version: str | None
    comparison: Comparison | None
    uploaded: tuple[str, ...]  # relpaths sent to the bucket (or adopted after a crash)
    unchanged: int
    manifest_url: str | None
    manifest_path: str | None
    notes_repaired: bool = False  # notes (or their local copy) a dead run left out, written

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
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
class PipelineResult:
    """What a run of the pipeline did: each stage's report, and the stage that stopped it."""

    stages: tuple[str, ...]  # the stages that ran (or were to run, when one stopped the run)
    conversion: ConversionReport | None = None
    inspection: InspectionReport | None = None
    organized: OrganizeReport | None = None
    dandi: DandiUploadReport | None = None
    s3_upload: S3UploadResult | None = None
    manifest: ManifestResult | None = None
    notes: NotesResult | None = None
    stopped: str | None = None  # the stage that stopped the run: convert, inspect or upload
    overridden: str | None = None  # the reason given to publish despite failed inspection
    skipped: tuple[str, ...] = ()  # selected but not enabled by the workspace
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage that ran

    @property
    def gated(self) -> bool:
        """Inspection failed and stopped the release."""
        return self.stopped == "inspect"

    @property
    def stopped_by_conversion(self) -> bool:
        """A row failed to convert: nothing after convert ran."""
        return self.stopped == "convert"

    @property
    def stopped_by_dandi(self) -> bool:
        """The DANDI upload failed: nothing was published on S3."""
        return self.stopped == "upload"

    @property
    def ok(self) -> bool:
        """No stage stopped the run and none reported a failure."""
        return self.stopped is None and all(
            report is None or report.ok for report in (self.conversion, self.dandi)
        )

    @property
    def release(self) -> ReleaseResult | None:
        """The S3 release, when this run published (or found nothing to publish)."""
        manifest = self.manifest
        if manifest is None:
            return None
        upload = self.s3_upload
        uploaded = upload.uploaded if upload else ()
        unchanged = upload.unchanged if upload else len(_files(manifest.document))
        notes = self.notes
        return ReleaseResult(
            version=manifest.version,
            previous_version=manifest.previous_version,
            comparison=manifest.comparison,
            uploaded=uploaded,
            unchanged=unchanged,
            manifest_url=manifest.manifest_url,
            manifest_path=manifest.manifest_path,
            notes_repaired=bool(
                manifest.repaired
                or (notes and (notes.repaired or (notes.written and not manifest.version)))
            ),
        )

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        from publishkit.inspection.report import as_json as inspection_json

        release = self.release
        return {
            "ok": self.ok,
            "stages": list(self.stages),
            "skipped": list(self.skipped),
            "gated_by_inspection": self.gated,
            "stopped_by_conversion": self.stopped_by_conversion,
            "stopped_by_dandi": self.stopped_by_dandi,
            "inspection_override": self.overridden,
            "convert": self.conversion.as_json() if self.conversion else None,
            "inspect": inspection_json(self.inspection)["header"] if self.inspection else None,
            "organize": self.organized.as_json() if self.organized else None,
            "dandi": self.dandi.as_json() if self.dandi else None,
            "s3_upload": self.s3_upload.as_json() if self.s3_upload and not release else None,
            "release": release.as_json() if release else None,
            "notes": self.notes.as_json() if self.notes else None,
            "seconds": self.seconds,
        }


def _files(document: Any) -> list[Any]:
    if not document:
        return []
    return [*document["metadata_files"].values(), *document["data_files"].values()]


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
        return (only,)
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
    version: str | None = None,
    bump: Bump | None = None,
    publish_despite_inspection: str | None = None,
    notes: tuple[str, ...] = (),
    allow_empty: bool = False,
    dandi_api_key: str | None = None,
    jobs: int = 1,
    wait: bool = False,
    progress: Progress = no_progress,
) -> PipelineResult:
    """Run the selected stages that the workspace enables, in order, as one writing run of
    the workspace. What would refuse the release later is checked before the first stage
    writes; a stage that fails stops every stage after it, so nothing is published from a run
    that went wrong."""
    selected = tuple(s for s in STAGES if s.name in stages and s.enabled(settings))
    names = tuple(s.name for s in selected)
    _check_request(settings, names, version, bump, publish_despite_inspection)
    request = Request(
        version, bump, publish_despite_inspection, notes, allow_empty, dandi_api_key, jobs
    )
    with exclusive_run(settings.state_dir, "release", wait=wait):
        run = Run(settings, request, names, progress)
        _preflight(run)
        since = time.monotonic()
        for stage in selected:
            stage.run(run)
            now = time.monotonic()
            run.seconds[stage.name] = round(now - since, 3)
            since = now
            if run.stopped:
                break
    return PipelineResult(
        stages=names,
        conversion=run.conversion,
        inspection=run.inspection,
        organized=run.organized,
        dandi=run.dandi,
        s3_upload=run.s3_upload,
        manifest=run.manifest,
        notes=run.notes,
        stopped=run.stopped,
        overridden=run.overridden,
        skipped=tuple(s for s in stages if s not in names),
        seconds=run.seconds,
    )


def _check_request(
    settings: Settings,
    names: tuple[str, ...],
    version: str | None,
    bump: Bump | None,
    despite: str | None,
) -> None:
    writes_before = {"convert", "organize"} & set(names) or (
        "upload" in names and dandi_enabled(settings)
    )
    if "manifest" in names and writes_before and not (version or bump):
        raise UsageError(
            "no --version or --bump given",
            hint="`publishkit release --plan` shows the bump the changes suggest",
        )
    if version and bump:
        raise UsageError("give either --version or --bump, not both")
    if despite is not None and not despite.strip():
        raise UsageError(
            "--publish-despite-inspection needs a reason; the release notes record it",
            hint='e.g. --publish-despite-inspection "ages of the legacy cohort were never '
            'recorded"',
        )


def _preflight(run: Run) -> None:
    """Before any stage writes: the tables (when no conversion will rewrite them), the DANDI
    instance, dandiset and key, and the bucket with the version asked for."""
    settings, names = run.settings, set(run.selected)
    s3_stages = {"manifest", "notes"} | ({"upload"} if _s3_enabled(settings) else set())
    if names & s3_stages and "convert" not in names:
        from publishkit.workspace.inventory import collect

        collect(settings)
    if "upload" in names and dandi_enabled(settings):
        from publishkit.dandi.access import check_dandi_access

        check_dandi_access(settings=settings, api_key=run.request.dandi_api_key)
    if names & s3_stages and _s3_enabled(settings):
        from publishkit.release.stage import check_target

        run.target = check_target(settings=settings, version=run.request.version)


def _remarks(inspection: InspectionReport | None, reason: str | None) -> tuple[str, ...]:
    if inspection is None or reason is None:
        return ()
    return (
        f"published although inspection failed ({inspection.failure_summary()}); "
        f"reason given: {reason}",
    )
