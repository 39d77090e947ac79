"""Two manifests compared: what changed between them, file by file, and (once `contents`
compared them) inside the tables and NWB files; the notes, the release and `publishkit notes`
all read this one comparison."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from publishkit.errors import UsageError, VersionError
from publishkit.formats.changes import Change, compare, counts, suggest_bump
from publishkit.formats.summaries import NwbDiff
from publishkit.formats.table_diff import TableDiff
from publishkit.formats.versions import Bump, Version

GROUP_TITLES = (("metadata", "Metadata tables"), ("data", "Data files"))


class Comparison(msgspec.Struct, frozen=True):
    """Two manifests, named as the user named them, and what changed between them: file by
    file, and (once compared) inside the tables and NWB files that changed."""

    old_name: str | None
    new_name: str
    old_version: str | None
    new_version: str
    changes: tuple[Change, ...]
    tables: tuple[TableDiff, ...] | None = None  # None: the tables' rows were not compared
    nwb_files: tuple[NwbDiff, ...] | None = None  # None: the NWB summaries were not compared

    @property
    def suggested_bump(self) -> Bump | None:
        """The bump the changes call for (major, minor, patch), or None when nothing changed:
        a table's row removed (or its key value changed), or a column removed or renamed, is
        major, as a file deleted or renamed is."""
        bump = suggest_bump(list(self.changes))
        if bump is not None and any(diff.breaking for diff in self.tables or ()):
            return "major"
        return bump

    def as_json(self) -> dict[str, Any]:
        """The comparison as JSON: both manifests, the counts, the suggested bump, every change
        (files, and inside tables and NWB files: null when they were not compared)."""
        return {
            "old": {"manifest": self.old_name, "version": self.old_version},
            "new": {"manifest": self.new_name, "version": self.new_version},
            "counts": {g: counts(list(self.changes), g) for g, _ in GROUP_TITLES},
            "suggested_bump": self.suggested_bump,
            "changes": [
                {"group": c.group, "kind": c.kind, "path": c.path, "new_path": c.new_path}
                for c in self.changes
            ],
            "tables": None if self.tables is None else [t.as_json() for t in self.tables],
            "nwb_files": None if self.nwb_files is None else [n.as_json() for n in self.nwb_files],
        }


def compare_manifests(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], old_name: str | None, new_name: str
) -> Comparison:
    """What changed from manifest `old` (None: nothing published yet) to `new`, file by file."""
    return Comparison(
        old_name=old_name,
        new_name=new_name,
        old_version=old["manifest_version"] if old else None,
        new_version=new["manifest_version"],
        changes=tuple(compare(old, new)),
    )


def check_comparable(
    old: Mapping[str, Any], new: Mapping[str, Any], old_name: str, new_name: str
) -> str | None:
    """A UsageError when the two manifests are of different projects; the warning to give when
    OLD is the newer release (notes that go back in time), else None."""
    if old.get("project_name") != new.get("project_name"):
        raise UsageError(
            f"{new_name}: a manifest of project {new.get('project_name')!r}, {old_name} of "
            f"project {old.get('project_name')!r}: notes compare two releases of one project",
            hint="give two manifests of the same project",
        )
    try:
        older, newer = (Version.parse(str(d["manifest_version"])) for d in (old, new))
    except VersionError:
        return None  # not semver (an AllenSDK manifest, say): no order to check
    if older <= newer:
        return None
    return (
        f"{old_name} (v{old['manifest_version']}) is newer than {new_name} "
        f"(v{new['manifest_version']}): these notes go back in time; for a release's notes, "
        f"give the older manifest first: publishkit notes {new_name} {old_name}"
    )
