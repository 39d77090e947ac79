"""`publishkit release --plan`: what a release would do, computed without writing anything.

The plan runs the checks the release itself would run first (the DANDI instance and key, the
bucket, the version asked for, the files) and reports the first refusal, so that a plan that
passes is a release that starts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from publishkit.errors import PublishkitError
from publishkit.formats.notes import Comparison
from publishkit.formats.versions import Bump
from publishkit.release.pipeline import (
    check_dandiset_metadata,
    dandi_enabled,
    enabled_stages,
    publish_enabled,
)
from publishkit.release.publish import compare_staged
from publishkit.release.stage import resolve_version, stage_release
from publishkit.workspace.config import Settings


@dataclass(frozen=True)
class ReleasePlan:
    """What a release would do, and the first thing it would refuse."""

    lines: tuple[str, ...]
    notes: str | None  # draft release notes (Markdown)
    suggested_bump: Bump | None
    next_version: str | None
    refusal: str | None = None  # why the release would be refused, when it would

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
        }


def plan_release(
    *,
    settings: Settings,
    stages: tuple[str, ...],
    version: str | None = None,
    bump: Bump | None = None,
    allow_empty: bool = False,
    dandi_api_key: str | None = None,
) -> ReleasePlan:
    """What `run_release` with these arguments would do, and the first thing it would refuse."""
    enabled = enabled_stages(settings)
    lines: list[str] = []
    notes = suggested = cut = refusal = None
    converts = False  # rows will be converted first: the files are not known yet
    if "convert" in stages and "convert" in enabled:
        from publishkit.nwb.convert import plan_conversion

        todo, unchanged, failing = plan_conversion(settings=settings)
        converts = bool(todo) or not settings.conversion.files_table.is_file()
        lines.append(
            f"convert: {todo} row(s) to convert, {unchanged} unchanged, {len(failing)} failing"
        )
        lines += [f"  row {o.row}: {o.reason}" for o in failing]
    if "inspect" in stages and "inspect" in enabled:
        if settings.conversion_settings is not None or settings.inspection_enabled:
            lines.append("inspect: every NWB file; unchanged ones come from the findings cache")
        checked = [spec.name for spec in settings.tables if spec.checked]
        if checked:
            lines.append(f"inspect: the checks tables: declares, of {', '.join(checked)}")
    if {"organize", "upload"} & set(stages) and dandi_enabled(settings):
        lines.append(
            f"DANDI: organize into {settings.dandi.folder.name}/ and upload what changed "
            f"to dandiset {settings.dandi.dandiset} on {settings.dandi.instance}"
        )
        if {"upload", "publish"} & set(stages):
            from publishkit.dandi.access import check_dandi_access

            try:
                access = check_dandi_access(settings=settings, api_key=dandi_api_key)
            except PublishkitError as exc:
                refusal = refusal or _refusal(exc)
            else:
                if publish_enabled(settings):
                    told, refused = _metadata_lines(settings, access.info)
                    lines += told
                    refusal = refusal or refused
    if "manifest" in stages and settings.s3_settings is not None and converts:
        from publishkit.release.stage import check_target

        try:
            check_target(settings=settings, version=version)
        except PublishkitError as exc:
            refusal = refusal or _refusal(exc)
            lines.append(f"S3: the release would be refused: {exc.message}")
        else:
            lines.append(
                f"S3: s3://{settings.s3.bucket} is ready; what to upload is known once the rows "
                "are converted (run `publishkit convert`, then plan again for the draft notes)"
            )
    elif "manifest" in stages and settings.s3_settings is not None:
        from publishkit.formats.notes import render_markdown

        try:
            found = preview(settings=settings, version=version, bump=bump, allow_empty=allow_empty)
        except PublishkitError as exc:
            refusal = refusal or _refusal(exc)
            lines.append(f"S3: the release would be refused: {exc.message}")
        else:
            suggested, cut = found.comparison.suggested_bump, found.version
            lines.append(
                f"S3: {found.uploads} file(s) to upload to s3://{settings.s3.bucket}; "
                + (f"v{cut}" if cut else "nothing changed, nothing to publish")
                + (f" (the changes suggest --bump {suggested})" if suggested else "")
                + " (from the files as they are now, before conversion)"
            )
            if cut:
                notes = render_markdown(found.comparison)
    if not lines:
        lines.append("nothing to do: publishkit.yaml enables none of the selected stages")
    return ReleasePlan(tuple(lines), notes, suggested, cut, refusal)


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
    comparison, _ = compare_staged(settings, staged)
    comparison = replace(comparison, new_name="(next release)")
    chosen = bump if (version or bump) else comparison.suggested_bump
    cut = resolve_version(published, comparison, version, chosen)
    return Preview(
        replace(comparison, new_version=str(cut)) if cut else comparison,
        len(staged.draft.pending()),
        str(latest) if latest else None,
        str(cut) if cut else None,
    )


def _metadata_lines(settings: Settings, info: dict[str, Any]) -> tuple[list[str], str | None]:
    """The plan's lines on dandiset.yaml, and the refusal when the archive would refuse it."""
    try:
        report = check_dandiset_metadata(settings, info)
    except PublishkitError as exc:
        return [], _refusal(exc)
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
    refusal = None
    if not report.ok:
        refusal = f"{report.path}: the archive would refuse to publish this dandiset metadata"
    return lines, refusal


def _refusal(exc: PublishkitError) -> str:
    return exc.message + (f" (fix: {exc.hint})" if exc.hint else "")
