"""`publishkit release`: the stages the workspace enables, in order, each one idempotent.

convert (a `conversion:` section) -> inspect (`inspection:` or `conversion:`) -> organize and
upload to DANDI (`dandi:` with instance and dandiset) -> upload, manifest and notes on S3 (`s3:`).
Inspection gates publication: nothing is uploaded while a file fails, unless the caller gives a
reason to publish anyway, which the release notes record.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from publishkit.errors import UsageError
from publishkit.formats.versions import Bump
from publishkit.inspection.stage import InspectionReport, start_inspection
from publishkit.progress import Progress, no_progress
from publishkit.workspace.config import Settings
from publishkit.workspace.nwb_files import workspace_nwb_files
from publishkit.workspace.runlock import exclusive_run

if TYPE_CHECKING:
    from publishkit.nwb.convert import ConversionReport
    from publishkit.release.stage import Target

STAGES = ("convert", "inspect", "organize", "upload", "manifest", "notes")


@dataclass(frozen=True)
class PipelineResult:
    stages: tuple[str, ...]  # the stages that ran
    conversion: ConversionReport | None = None
    inspection: InspectionReport | None = None
    organized: Any = None  # OrganizeReport
    dandi: Any = None  # DandiUploadReport
    s3_upload: Any = None  # S3UploadResult
    release: Any = None  # ReleaseResult
    gated: bool = False  # inspection failed and stopped the release
    stopped_by_conversion: bool = False  # a row failed to convert: nothing after convert ran
    stopped_by_dandi: bool = False  # a DANDI upload failed: nothing was published on S3
    overridden: str | None = None  # the reason given to publish despite failed inspection
    skipped: tuple[str, ...] = field(default=())  # selected but not enabled by the workspace
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage that ran

    @property
    def ok(self) -> bool:
        return not (self.gated or self.stopped_by_conversion or self.stopped_by_dandi) and all(
            report is None or report.ok for report in (self.conversion, self.dandi)
        )

    def as_json(self) -> dict[str, Any]:
        from publishkit.inspection.report import as_json as inspection_json

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
            "s3_upload": self.s3_upload.as_json() if self.s3_upload else None,
            "release": self.release.as_json() if self.release else None,
            "seconds": self.seconds,
        }


def select_stages(
    first: str | None = None, last: str | None = None, only: str | None = None
) -> tuple[str, ...]:
    for name in (first, last, only):
        if name is not None and name not in STAGES:
            raise UsageError(f"unknown stage {name!r}", hint=f"stages: {', '.join(STAGES)}")
    if only:
        if first or last:
            raise UsageError("give --only alone, or --from/--to")
        return (only,)
    start = STAGES.index(first) if first else 0
    stop = STAGES.index(last) if last else len(STAGES) - 1
    if start > stop:
        raise UsageError(f"--from {first} comes after --to {last}")
    return STAGES[start : stop + 1]


def enabled_stages(settings: Settings) -> set[str]:
    enabled: set[str] = set()
    if settings.conversion_settings is not None:
        enabled |= {"convert", "inspect"}
    if settings.inspection_enabled:
        enabled.add("inspect")
    if dandi_enabled(settings):
        enabled |= {"organize", "upload"}
    if settings.s3_settings is not None:
        enabled |= {"upload", "manifest", "notes"}
    return enabled


def run_release(
    *,
    settings: Settings,
    stages: tuple[str, ...] = STAGES,
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
    the workspace. What would refuse the release later (the DANDI instance or key, the bucket,
    the version) is checked before the first stage writes; a stage that fails stops every
    stage after it, so nothing is published from a run that went wrong."""
    enabled = enabled_stages(settings)
    run = tuple(s for s in stages if s in enabled)
    skipped = tuple(s for s in stages if s not in enabled)
    publishes = "manifest" in run
    to_dandi = "upload" in run and dandi_enabled(settings)
    writes_before = {"convert", "organize"} & set(run) or to_dandi
    if publishes and writes_before and not (version or bump):
        raise UsageError(
            "no --version or --bump given",
            hint="`publishkit release --plan` shows the bump the changes suggest",
        )
    if version and bump:
        raise UsageError("give either --version or --bump, not both")
    if publish_despite_inspection is not None and not publish_despite_inspection.strip():
        raise UsageError(
            "--publish-despite-inspection needs a reason; the release notes record it",
            hint='e.g. --publish-despite-inspection "ages of the legacy cohort were never '
            'recorded"',
        )
    with exclusive_run(settings.state_dir, "release", wait=wait):
        target = None
        if publishes and "convert" not in run:  # the tables as they will be released: read now
            from publishkit.workspace.inventory import collect

            collect(settings)
        if to_dandi:
            from publishkit.dandi.access import check_dandi_access

            check_dandi_access(settings=settings, api_key=dandi_api_key)
        if publishes and settings.s3_settings is not None:
            from publishkit.release.stage import check_target

            target = check_target(settings=settings, version=version)
        return _run(
            settings,
            run,
            skipped,
            _Request(version, bump, publish_despite_inspection, notes, allow_empty),
            target,
            dandi_api_key,
            jobs,
            progress,
        )


@dataclass(frozen=True)
class _Request:
    """What the release engineer asked of the S3 release."""

    version: str | None
    bump: Bump | None
    despite: str | None  # the reason to publish despite failed inspection
    notes: tuple[str, ...]
    allow_empty: bool


def _run(
    settings: Settings,
    run: tuple[str, ...],
    skipped: tuple[str, ...],
    request: _Request,
    target: Target | None,
    dandi_api_key: str | None,
    jobs: int,
    progress: Progress,
) -> PipelineResult:
    publishes = "manifest" in run
    timer = _Timer()
    result: dict[str, Any] = {"stages": run, "skipped": skipped, "seconds": timer.seconds}
    if "convert" in run:
        from publishkit.nwb.convert import convert_sessions

        conversion = convert_sessions(settings=settings, jobs=jobs, progress=progress)
        result["conversion"] = conversion
        timer.lap("convert")
        if not conversion.ok and set(run) - {"convert", "inspect"}:
            # a release without the failed rows' files is not the release asked for
            return PipelineResult(**result, stopped_by_conversion=True)
    staged = None
    # Nothing changes an S3-only release's files after inspection: stage it while inspecting.
    stage_early = publishes and not ({"organize", "upload"} & set(run) and dandi_enabled(settings))
    if "inspect" in run:
        pending = start_inspection(
            files=workspace_nwb_files(settings),
            config=settings.inspection,
            cache_dir=settings.state_dir,
            fail_on=settings.fail_on,
            jobs=jobs,
            relative_to=settings.workspace,
            progress=progress,
            background=stage_early,
            executor=settings.executor,
        )
        try:
            if stage_early:  # reads only: the gate below still holds
                from publishkit.release.stage import stage_release

                staged = stage_release(
                    settings=settings,
                    version=request.version,
                    allow_empty=request.allow_empty,
                    progress=progress,
                    target=target,
                )
            report = pending.finish()
        except BaseException:
            pending.cancel()
            raise
        result["inspection"] = report
        timer.lap("inspect")  # with the S3 side staged meanwhile, when it was
        if not report.passed:
            if request.despite is None:
                return PipelineResult(**result, gated=True)
            result["overridden"] = request.despite
    if "organize" in run and dandi_enabled(settings):
        from publishkit.dandi.organize import organize_files

        result["organized"] = organize_files(settings=settings, progress=progress)
        timer.lap("organize")
    if "upload" in run and dandi_enabled(settings):
        from publishkit.dandi.upload import upload_to_dandi

        dandi = upload_to_dandi(settings=settings, progress=progress)
        result["dandi"] = dandi
        timer.lap("upload_dandi")
        if not dandi.ok:  # the S3 release would lack what failed on DANDI: publish nothing
            return PipelineResult(**result, stopped_by_dandi=True)
    if settings.s3_settings is not None:
        if publishes:
            from publishkit.release.cut import cut_release

            remarks = _remarks(result.get("inspection"), result.get("overridden"))
            if staged is None:
                from publishkit.release.stage import stage_release

                staged = stage_release(
                    settings=settings,
                    version=request.version,
                    allow_empty=request.allow_empty,
                    progress=progress,
                    target=target,
                )
            result["release"] = cut_release(
                settings=settings,
                version=request.version,
                bump=request.bump,
                remarks=request.notes + remarks,
                progress=progress,
                staged=staged,
            )
        elif "upload" in run:
            from publishkit.release.cut import upload_to_s3

            result["s3_upload"] = upload_to_s3(settings=settings, progress=progress)
        timer.lap("s3")  # upload, manifest and notes
    return PipelineResult(**result)


class _Timer:
    """Wall time per stage, for the JSON summary (CI logs, benchmarks/scale.py)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._since = time.monotonic()

    def lap(self, stage: str) -> None:
        now = time.monotonic()
        self.seconds[stage] = round(now - self._since, 3)
        self._since = now


def dandi_enabled(settings: Settings) -> bool:
    """The workspace uploads to DANDI: its dandi: section names an instance and a dandiset."""
    return bool(settings.dandi.instance and settings.dandi.dandiset)


def _remarks(inspection: InspectionReport | None, reason: str | None) -> tuple[str, ...]:
    if inspection is None or reason is None:
        return ()
    return (
        f"published although inspection failed ({inspection.failure_summary()}); "
        f"reason given: {reason}",
    )
