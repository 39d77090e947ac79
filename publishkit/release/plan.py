"""`publishkit release --plan`: what a release would do, computed without writing anything.

The plan runs the release's own preflight (`release.preflight`: the request, the tables, the
DANDI instance and key, the dandiset's metadata, the bucket, the version), then, when the files
are known (nothing left to convert), the inspect stage's gate (NWB files and tables; findings
are cached by content, so the release reuses them) and the release's decision (the version, the
bump, what changed). The first refusal is the plan's, so a plan that passes is a release that
starts, and one that fails names what the release would refuse. It names the LINDI index of
each HDF5 NWB file the release would build, upload (built before) or keep from the previous
release (`lindi_indexes.index_work`, the release's own choice).
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec.structs import replace

from publishkit.errors import PublishkitError
from publishkit.formats.versions import Bump
from publishkit.progress import no_progress
from publishkit.release.decision import shown_warnings
from publishkit.release.lindi_indexes import PlannedIndex, index_work
from publishkit.release.pipeline import STAGES, inspect_stage
from publishkit.release.preflight import (
    check_request,
    decide,
    files_known,
    preflight,
    stage_once_files_are_known,
)
from publishkit.release.stages import Request, Run
from publishkit.workspace.config import Settings
from publishkit.workspace.settings import METADATA, StageName


class ReleasePlan(msgspec.Struct, frozen=True):
    """What a release would do, and the first thing it would refuse."""

    lines: tuple[str, ...]
    notes: str | None  # draft release notes (Markdown)
    suggested_bump: Bump | None
    next_version: str | None
    refusal: str | None = None  # why the release would be refused, when it would
    warnings: tuple[str, ...] = ()
    indexes: tuple[PlannedIndex, ...] = ()  # the LINDI indexes the release would publish

    @property
    def ok(self) -> bool:
        """The release would start: nothing would refuse it."""
        return self.refusal is None

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "ok": self.ok,
            "refusal": self.refusal,
            "plan": list(self.lines),
            "draft_notes": self.notes,
            "suggested_bump": self.suggested_bump,
            "next_version": self.next_version,
            "warnings": list(self.warnings),
            "lindi_indexes": [
                {"path": index.path, "file": index.file, "action": index.action}
                for index in self.indexes
            ],
        }


def plan_release(
    *,
    settings: Settings,
    stages: tuple[str, ...],
    request: Request = Request(),
) -> ReleasePlan:
    """What `run_release` with these arguments would do, and the first thing it would refuse."""
    names = tuple(s.name for s in STAGES if s.name in stages and s.enabled(settings))
    run = Run(settings, request, names, no_progress)
    lines: list[str] = []
    refusal = None
    try:
        check_request(request)
        known = _plan_conversion(settings, names, lines)
        _plan_dandi(settings, names, lines)
        preflight(run, suggest=True)
        if run.result.stopped == METADATA and run.result.dandiset_metadata is not None:
            refusal = (
                f"{run.result.dandiset_metadata.path}: the archive would refuse to publish this "
                "dandiset metadata"
            )
        elif known:
            refusal = _plan_release(run, lines)
    except PublishkitError as exc:
        refusal = exc.message + (f" (fix: {exc.hint})" if exc.hint else "")
    if run.result.dandiset_metadata is not None:
        lines += _metadata_lines(run.result.dandiset_metadata)
    decision = run.decision
    if decision is not None and not refusal:
        comparison, cut = decision.comparison, decision.version
        lines.append(
            f"S3: {len(run.s3_release.draft.pending())} file(s) to upload to "
            f"s3://{settings.s3.bucket}; "
            + (f"v{cut}" if cut else "nothing changed, nothing to publish")
            + (
                f" (the changes suggest --bump {comparison.suggested_bump})"
                if comparison.suggested_bump
                else ""
            )
        )
    elif (
        refusal is None
        and settings.s3_enabled
        and {StageName.UPLOAD, StageName.MANIFEST} & set(names)
    ):
        lines.append(
            f"S3: s3://{settings.s3.bucket} is ready; what to upload is known once the rows "
            "are converted (run `publishkit convert`, then plan again for the draft notes)"
        )
    indexes: list[PlannedIndex] = []
    if decision is not None and decision.version and not refusal and "manifest" in names:
        indexes = _plan_indexes(run, lines)
    if not lines and refusal is None:
        lines.append("nothing to do: publishkit.yaml enables none of the selected stages")
    return replace(_plan(lines, run, refusal), indexes=tuple(indexes))


SHOWN_INDEXES = 20  # indexes named one a line; the JSON plan has them all


def _plan_indexes(run: Run, lines: list[str]) -> list[PlannedIndex]:
    """The LINDI indexes the release would publish, and the plan's lines on them."""
    staged = run.s3_release
    planned = index_work(
        settings=run.settings,
        document=staged.draft.document,
        files=staged.files,
        previous=staged.target.published.document,
    ).plan()
    if not planned:
        return planned
    counts = {a: sum(i.action == a for i in planned) for a in ("build", "upload", "keep")}
    lines.append(
        f"LINDI: {len(planned)} index(es): {counts['build']} to build and upload, "
        f"{counts['upload']} to upload (built before), {counts['keep']} kept from the "
        "previous release"
    )
    shown = [index for index in planned if index.action != "keep"]
    lines += [f"  {index.action}: {index.path}" for index in shown[:SHOWN_INDEXES]]
    if len(shown) > SHOWN_INDEXES:
        lines.append(f"  … and {len(shown) - SHOWN_INDEXES} more (--format json lists them)")
    return planned


def _plan_conversion(settings: Settings, names: tuple[StageName, ...], lines: list[str]) -> bool:
    """The plan's lines on conversion; whether the release's files are known now. A row that
    fails already in planning would stop the release: refused."""
    if StageName.CONVERT not in names:
        return True
    from publishkit.errors import CheckFailed
    from publishkit.nwb.convert import plan_conversion

    todo, unchanged, failing = plan_conversion(settings=settings)
    lines.append(
        f"convert: {todo} row(s) to convert, {unchanged} unchanged, {len(failing)} failing"
    )
    lines += [f"  row {o.row}: {o.reason}" for o in failing]
    if failing:
        raise CheckFailed(
            f"{len(failing)} row(s) would fail to convert, which stops the release",
            hint="correct the rows named above",
        )
    return files_known(settings)


def _plan_dandi(settings: Settings, names: tuple[StageName, ...], lines: list[str]) -> None:
    if {StageName.ORGANIZE, StageName.UPLOAD} & set(names) and settings.dandi_enabled:
        lines.append(
            f"DANDI: organize into {settings.dandi.folder.name}/ and upload what changed "
            f"to dandiset {settings.dandi.dandiset} on {settings.dandi.instance}"
        )


def _plan_release(run: Run, lines: list[str]) -> str | None:
    """The inspect stage's gate and the release's decision, on files that are known."""
    stage_once_files_are_known(run)  # nothing left to convert: the files are the release's
    if StageName.INSPECT in run.selected:
        inspect_stage(run)
        if run.result.inspection is not None:
            inspected = run.result.inspection
            lines.append(
                f"inspect: {len(inspected.files)} NWB file(s): "
                + ("pass" if inspected.passed else inspected.failure_summary())
            )
        if run.result.tables is not None:
            lines.append(
                "inspect: the checks tables: declares: "
                + ("pass" if run.result.tables.passed else run.result.tables.failure_summary())
            )
        if run.result.stopped == StageName.INSPECT:
            return (
                "inspection failed, which stops the release (fix: correct the files or "
                "tables, or pass --publish-despite-inspection REASON)"
            )
    if StageName.MANIFEST in run.selected and run.settings.s3_enabled:
        decide(run, suggest=True)
    elif {StageName.UPLOAD} & set(run.selected) and run.settings.s3_enabled:
        lines.append(
            f"S3: {len(run.s3_release.draft.pending())} file(s) to upload to "
            f"s3://{run.settings.s3.bucket}; no manifest (--to upload)"
        )
    return None


def _plan(lines: list[str], run: Run, refusal: str | None) -> ReleasePlan:
    from publishkit.formats.notes import render_markdown

    decision, notes = run.decision, None
    suggested = cut = None
    if decision is not None:
        suggested = decision.comparison.suggested_bump
        cut = str(decision.version) if decision.version else None
        if cut and refusal is None:
            notes = render_markdown(
                replace(decision.comparison, new_name="(next release)", new_version=cut)
            )
    warnings = decision.warnings() if decision else ()
    lines += [f"warning: {w}" for w in shown_warnings(warnings)]
    return ReleasePlan(tuple(lines), notes, suggested, cut, refusal, warnings)


def _metadata_lines(report: Any) -> list[str]:
    """The plan's lines on dandiset.yaml."""
    lines = [
        "DANDI: publish a version of the draft once the archive has validated it, "
        f"with {report.path}'s metadata: "
        + ("valid" if report.ok else f"{len(report.errors)} problem(s)")
    ]
    lines += [
        f"  line {p.line}: {p.field + ': ' if p.field else ''}{p.message}"
        + (f" (fix: {p.fix})" if p.fix else "")
        for p in report.problems
    ]
    return lines
