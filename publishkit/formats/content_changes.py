"""What changed inside the tables and NWB files of two releases, compared and put in words.

`with_contents` adds to a file-by-file comparison the row, cell and column changes of each
table that changed (both versions read by the caller, e.g. from the bucket at their pinned
versions, and checked against the manifests' hashes) and the field and object changes of each
NWB file that changed, from the releases' published summaries. The notes show at most `LIMIT`
lines of a table or file, and say how many more the JSON has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from itertools import chain, islice
from typing import Any

from msgspec.structs import replace

from publishkit.errors import ManifestError
from publishkit.formats.comparison import Comparison
from publishkit.formats.manifest import entry_relpath
from publishkit.formats.summaries import NwbDiff, Summaries, diff_summaries
from publishkit.formats.table_diff import TableDiff, diff_tables, parse_table

VALUES_ONLY = (
    "only data values changed (no field, object, shape, dtype, unit, rate or row count did)"
)
LIMIT = 20  # lines of one table or NWB file in Markdown and HTML; the JSON has them all
Reader = Callable[[str, Mapping[str, Any]], bytes]  # (table name, manifest entry) -> content


def with_contents(
    comparison: Comparison,
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    read_old: Reader,
    read_new: Reader,
    old_summaries: Summaries | None,
    new_summaries: Summaries | None,
    keys: Mapping[str, tuple[str, ...]],
) -> Comparison:
    """`comparison` of manifests `old` and `new`, with what changed inside each table and NWB
    file that changed. A table's rows are matched by `keys` (else the manifests' id column)."""
    id_column = str(new["metadata_file_id_column_name"])
    tables = []
    old_tables, new_tables = _by_path(old["metadata_files"]), _by_path(new["metadata_files"])
    for change in comparison.changes:
        if change.group != "metadata" or change.kind != "changed":
            continue
        old_name, old_entry = old_tables[change.path]
        name, new_entry = new_tables[change.path]
        before = _table(read_old(old_name, old_entry), old_entry, change.path, old)
        after = _table(read_new(name, new_entry), new_entry, change.path, new)
        key = keys.get(name) or ((id_column,) if id_column in after[0] else None)
        tables.append(diff_tables(name, change.path, before, after, key))
    return replace(
        comparison,
        tables=tuple(tables),
        nwb_files=_nwb(comparison, old_summaries, new_summaries),
    )


def _by_path(entries: Mapping[str, Any]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    return {entry_relpath(dict(entry)): (name, entry) for name, entry in entries.items()}


def _table(
    data: bytes, entry: Mapping[str, Any], path: str, document: Mapping[str, Any]
) -> tuple[list[str], list[list[str]]]:
    source = f"{path} of v{document['manifest_version']}"
    if hashlib.blake2b(data).hexdigest() != entry["file_hash"]:
        raise ManifestError(
            f"{source}: the content read is not the one the manifest pins (file_hash differs)",
            hint="pass --files-only to compare the releases file by file",
        )
    return parse_table(data, source)


def _nwb(
    comparison: Comparison, old_summaries: Summaries | None, new_summaries: Summaries | None
) -> tuple[NwbDiff, ...]:
    """The changes inside each changed NWB data file, from the two releases' summaries."""
    if (
        old_summaries
        and new_summaries
        and old_summaries.summary_version != new_summaries.summary_version
    ):
        old_summaries = None  # summaries of two versions say different things
    changed = [
        c
        for c in comparison.changes
        if c.group == "data" and c.kind == "changed" and c.path.lower().endswith(".nwb")
    ]
    if not changed:
        return ()
    hashes = [c.hashes or ("", "") for c in changed]
    before = old_summaries.many([h[0] for h in hashes]) if old_summaries else {}
    after = new_summaries.many([h[1] for h in hashes]) if new_summaries else {}
    return tuple(
        diff_summaries(c.path, before.get(old_hash), after.get(new_hash))
        for c, (old_hash, new_hash) in zip(changed, hashes, strict=True)
    )


def table_heading(diff: TableDiff) -> str:
    """`sessions`: 1 row added, 2 cells changed, ..."""
    parts = [
        _count(len(diff.rows_added), "row", "added"),
        _count(len(diff.rows_removed), "row", "removed"),
        _count(len(diff.cells), "cell", "changed"),
        _count(len(diff.columns_added), "column", "added"),
        _count(len(diff.columns_removed), "column", "removed"),
        _count(len(diff.columns_renamed), "column", "renamed"),
    ]
    return f"`{diff.table}`: {', '.join(p for p in parts if p) or 'no row, cell or column changed'}"


def table_rows(diff: TableDiff) -> str:
    """3 → 4 rows, matched by `session_id`."""
    by = (
        "matched by " + ", ".join(f"`{k}`" for k in diff.key)
        if diff.key
        else "compared whole (no key column: declare tables.<name>.key)"
    )
    return f"{diff.rows_before:,} → {diff.rows_after:,} rows, {by}."


def _count(n: int, noun: str, verb: str) -> str:
    return f"{n:,} {noun}{'s' if n != 1 else ''} {verb}" if n else ""


def table_lines(diff: TableDiff) -> tuple[str, ...]:
    """Each change of a table in words, at most LIMIT of them and a line saying how many more."""
    lines = [f"column `{a}` renamed `{b}`" for a, b in diff.columns_renamed]
    lines += [f"column `{c}` added" for c in diff.columns_added]
    lines += [f"column `{c}` removed" for c in diff.columns_removed]
    total = len(lines) + len(diff.rows_added) + len(diff.rows_removed) + len(diff.cells)
    rows = chain(
        (f"row added: {_text(diff.label(r))}" for r in diff.rows_added),
        (f"row removed: {_text(diff.label(r))}" for r in diff.rows_removed),
        (
            f"{_text(diff.label(c.key))} `{c.column}`: {_text(c.old)} → {_text(c.new)}"
            for c in diff.cells
        ),
    )
    return _capped([*lines, *islice(rows, max(LIMIT - len(lines), 0))], total)


def _capped(lines: list[str], total: int) -> tuple[str, ...]:
    lines = lines[:LIMIT]
    if total > len(lines):
        lines.append(f"and {total - len(lines):,} more; see the JSON")
    return tuple(lines)


_SECTION_NOUNS = {
    "devices": "device",
    "electrode_groups": "electrode group",
    "imaging_planes": "imaging plane",
}


def nwb_lines(diff: NwbDiff | None) -> tuple[str, ...]:
    """What changed inside an NWB file, in words, at most LIMIT lines and how many more."""
    if diff is None:
        return ()
    if diff.missing:
        sides = " and ".join(
            {"old": "the earlier release", "new": "this release"}[s] for s in diff.missing
        )
        return (f"contents not compared: no summary of it in {sides}",)
    if not diff.changes:
        return (VALUES_ONLY,)
    lines = [
        _nwb_line(change.section, change.name, change.field, change.old, change.new)
        for change in diff.changes[:LIMIT]
    ]
    return _capped(lines, len(diff.changes))


def _nwb_line(section: str, name: str | None, field: str | None, old: Any, new: Any) -> str:
    if section == "session":
        return f"`{field}`: {_text(old)} → {_text(new)}"
    if section == "subject":
        return f"subject `{field}`: {_text(old)} → {_text(new)}"
    what = f"`{name}`" if section == "objects" else f"{_SECTION_NOUNS[section]} `{name}`"
    if field is None:
        item = new if old is None else old
        kind = f" ({_text(item['type'])})" if section == "objects" and "type" in item else ""
        return f"{what} {'added' if old is None else 'removed'}{kind}"
    if field == "rows":
        return f"{what}: {_text(old)} → {_text(new)} rows"
    if field == "columns":
        gone = [c for c in old or () if c not in (new or ())]
        came = [c for c in new or () if c not in (old or ())]
        said = [f"`{c}` added" for c in came] + [f"`{c}` removed" for c in gone]
        return f"{what} columns: {', '.join(said) or 'reordered'}"
    if field == "shape":
        return f"{what} shape: {_shape(old)} → {_shape(new)}"
    return f"{what} {field}: {_text(old)} → {_text(new)}"


def _shape(value: Any) -> str:
    if not isinstance(value, list):
        return _text(value)
    return " × ".join(str(n) for n in value) if value else "scalar"  # noqa: RUF001


def _text(value: Any, width: int = 80) -> str:
    """A value for one line of notes: (none), numbers as they are, text on one line, cut."""
    if value is None:
        return "(none)"
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    text = " ".join(str(value).split()).replace("`", "'") or '""'
    return text if len(text) <= width else text[: width - 1] + "…"
