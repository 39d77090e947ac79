"""Release notes: what changed between two manifests, as Markdown, AllenSDK text or JSON."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from publishkit.formats.changes import Change, allensdk_text, compare, counts, suggest_bump
from publishkit.formats.versions import Bump

NOTES_TITLE = "# Release notes\n"
_GROUP_TITLES = (("metadata", "Metadata tables"), ("data", "Data files"))


@dataclass(frozen=True)
class Comparison:
    """Two manifests, named as the user named them, and what changed between them."""

    old_name: str | None
    new_name: str
    old_version: str | None
    new_version: str
    changes: tuple[Change, ...]

    @property
    def suggested_bump(self) -> Bump | None:
        """The bump the changes call for (major, minor, patch), or None when nothing changed."""
        return suggest_bump(list(self.changes))

    def as_json(self) -> dict[str, Any]:
        """The comparison as JSON: both manifests, the counts, the suggested bump, every change."""
        return {
            "old": {"manifest": self.old_name, "version": self.old_version},
            "new": {"manifest": self.new_name, "version": self.new_version},
            "counts": {g: counts(list(self.changes), g) for g, _ in _GROUP_TITLES},
            "suggested_bump": self.suggested_bump,
            "changes": [
                {"group": c.group, "kind": c.kind, "path": c.path, "new_path": c.new_path}
                for c in self.changes
            ],
        }


def compare_manifests(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], old_name: str | None, new_name: str
) -> Comparison:
    """What changed from manifest `old` (None: nothing published yet) to `new`."""
    return Comparison(
        old_name=old_name,
        new_name=new_name,
        old_version=old["manifest_version"] if old else None,
        new_version=new["manifest_version"],
        changes=tuple(compare(old, new)),
    )


def render_allensdk(old: dict[str, Any], new: dict[str, Any], old_name: str, new_name: str) -> str:
    """Exactly the text AllenSDK's compare_manifests gives for these two manifests."""
    return allensdk_text(old, new, old_name, new_name)


def render_markdown(
    comparison: Comparison, *, date: str | None = None, remarks: tuple[str, ...] = ()
) -> str:
    """One release's section: a heading, remarks, a summary line, changes grouped with counts."""
    when = f" ({date})" if date else ""
    lines = [f"## v{comparison.new_version}{when}", ""]
    for remark in remarks:
        lines += [f"> **Note:** {remark}", ""]
    changes = list(comparison.changes)
    if comparison.old_version is None:
        lines.append(f"First release: {_summary(changes)}.")
    elif not changes:
        lines.append(f"No changes since v{comparison.old_version}.")
    else:
        lines.append(f"Changes since v{comparison.old_version}: {_summary(changes)}.")
    for group, title in _GROUP_TITLES:
        in_group = [c for c in changes if c.group == group]
        if not in_group:
            continue
        lines += ["", f"### {title} ({_summary(in_group)})", ""]
        lines += [
            f"- `{c.path}` → `{c.new_path}` renamed"
            if c.kind == "renamed"
            else f"- `{c.path}` {c.kind}"
            for c in in_group
        ]
    return "\n".join(lines) + "\n"


def _summary(changes: list[Change]) -> str:
    tally = counts(changes)
    return ", ".join(f"{n} {kind}" for kind, n in tally.items()) or "no files"


def prepend_section(existing: str | None, section: str, version: str) -> str:
    """The release-notes document with `section` on top, replacing an older copy of it."""
    body = (existing or "").removeprefix(NOTES_TITLE).lstrip("\n")
    heading = re.compile(rf"^## v{re.escape(version)}(?=[ \t]|$).*?(?=^## v|\Z)", re.S | re.M)
    body = heading.sub("", body).lstrip("\n")
    return NOTES_TITLE + "\n" + section + ("\n" + body if body else "")


def drop_newest_section(document: str) -> str:
    """The release-notes document without its newest (top) section: what it was before the
    latest release wrote it."""
    body = document.removeprefix(NOTES_TITLE).lstrip("\n")
    sections = re.split(r"^(?=## v)", body, flags=re.M)  # a leading "" when body starts with one
    older = "".join(sections[2:] if sections[0] == "" else sections[1:])
    return NOTES_TITLE + "\n" + older


def has_section(document: str | None, version: str) -> bool:
    """The release-notes document has the section of `version` (not of another version that starts
    the same)."""
    pattern = re.compile(rf"^## v{re.escape(version)}(?=[ \t]|$)", re.M)
    return document is not None and pattern.search(document) is not None
