"""`publishkit release --plan`: what a release would do, computed without writing anything."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .config import Settings
from .errors import PublishkitError
from .pipeline import _dandi, enabled_stages
from .versions import Bump, Version


@dataclass(frozen=True)
class ReleasePlan:
    lines: tuple[str, ...]
    notes: str | None  # draft release notes (Markdown)
    suggested_bump: Bump | None
    next_version: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "plan": list(self.lines),
            "draft_notes": self.notes,
            "suggested_bump": self.suggested_bump,
            "next_version": self.next_version,
        }


def plan_release(*, settings: Settings, stages: tuple[str, ...]) -> ReleasePlan:
    enabled = enabled_stages(settings)
    lines: list[str] = []
    notes = bump = version = None
    if "convert" in stages and "convert" in enabled:
        from .convert import plan_conversion

        todo, unchanged, failing = plan_conversion(settings=settings)
        lines.append(
            f"convert: {todo} row(s) to convert, {unchanged} unchanged, {len(failing)} failing"
        )
        lines += [f"  row {o.row}: {o.reason}" for o in failing]
    if "inspect" in stages and "inspect" in enabled:
        lines.append("inspect: every NWB file; unchanged ones come from the findings cache")
    if {"organize", "upload"} & set(stages) and _dandi(settings):
        lines.append(
            f"DANDI: organize into {settings.dandi.folder.name}/ and upload what changed "
            f"to dandiset {settings.dandi.dandiset} on {settings.dandi.instance}"
        )
    if "manifest" in stages and settings.s3_settings is not None:
        from .notes import render_markdown
        from .release import preview

        try:
            comparison, uploads, latest = preview(settings=settings)
        except PublishkitError as exc:
            lines.append(f"S3: cannot plan ({exc.message})")
        else:
            bump = comparison.suggested_bump
            base = latest or "0.0.0"
            version = str(Version.parse(base).bump(bump)) if bump else None
            lines.append(
                f"S3: {uploads} file(s) to upload to s3://{settings.s3.bucket}; "
                + (f"suggested --bump {bump} -> v{version}" if bump else "nothing changed")
                + " (from the files as they are now, before conversion)"
            )
            if bump and version:
                notes = render_markdown(replace(comparison, new_version=version))
    if not lines:
        lines.append("nothing to do: publishkit.yaml enables none of the selected stages")
    return ReleasePlan(tuple(lines), notes, bump, version)
