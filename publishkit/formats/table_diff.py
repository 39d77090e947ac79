"""What changed inside a metadata table between two releases: rows, cells and columns.

Rows are matched by the table's key (the columns `tables.<name>.key` declares, else the
manifest's id column when both versions have it); a table without one is compared row by row
as a whole, on the columns both versions share. A column that vanished while another one
appeared holding the same values, row for row, was renamed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from operator import itemgetter
from typing import Any

import msgspec
from msgspec.structs import replace

from publishkit.collector import paused_gc
from publishkit.errors import ManifestError
from publishkit.formats.table_header import header_problem

Row = tuple[str, ...]


class CellChange(msgspec.Struct, frozen=True):
    """One cell of a row both versions have, changed."""

    key: Row  # the row's key values
    column: str  # its name in the new version
    old: str
    new: str


class TableDiff(msgspec.Struct, frozen=True):
    """A table's changes between two releases, every one of them."""

    table: str
    path: str
    key: tuple[str, ...] | None  # None: rows compared whole (no key column in both versions)
    rows_before: int
    rows_after: int
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    columns_renamed: tuple[tuple[str, str], ...] = ()  # (old name, new name)
    rows_added: tuple[dict[str, str], ...] = ()  # whole rows, by the new header
    rows_removed: tuple[dict[str, str], ...] = ()  # whole rows, by the old header
    cells: tuple[CellChange, ...] = ()

    @property
    def breaking(self) -> bool:
        """A consumer's code may break: a row (or key value) gone, a column gone or renamed.
        Without a key a row edited in place reads as one removed and one added, so there only
        the columns count."""
        removed_rows = bool(self.rows_removed) and self.key is not None
        return removed_rows or bool(self.columns_removed or self.columns_renamed)

    def label(self, row: dict[str, str] | Row) -> str:
        """How the notes name a row: `session 1055` for key session_id, else its values."""
        if self.key is None:
            values = row.values() if isinstance(row, dict) else row
            return "(" + ", ".join(values) + ")"
        values = tuple(row[k] for k in self.key) if isinstance(row, dict) else row
        if len(self.key) == 1:
            return f"{_noun(self.key[0])} {values[0]}"
        return ", ".join(f"{k} {v}" for k, v in zip(self.key, values, strict=True))

    def as_json(self) -> dict[str, Any]:
        """Every change, for `--format json`."""
        return {
            "table": self.table,
            "path": self.path,
            "key": list(self.key) if self.key else None,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "columns": {
                "added": list(self.columns_added),
                "removed": list(self.columns_removed),
                "renamed": [{"from": a, "to": b} for a, b in self.columns_renamed],
            },
            "rows_added": list(self.rows_added),
            "rows_removed": list(self.rows_removed),
            "cells": [
                {
                    "key": dict(zip(self.key or (), c.key, strict=True)),
                    "column": c.column,
                    "old": c.old,
                    "new": c.new,
                }
                for c in self.cells
            ],
        }


def _noun(column: str) -> str:
    """session_id -> session; a column that is not a *_id names itself."""
    return column[:-3] if column.endswith("_id") and len(column) > 3 else column


@paused_gc()
def parse_table(data: bytes, source: str) -> tuple[list[str], list[list[str]]]:
    """The header and the non-blank rows of a CSV table (UTF-8, as a release publishes them);
    a ManifestError names `source` and the line when it is not such a table."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{source}: not UTF-8 text (byte {exc.start})", hint=_HINT) from None
    if '"' not in text and "\r" not in text:  # no quoting: csv would split each line at commas
        rows = [line.split(",") for line in text.split("\n") if line]
    else:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        try:
            rows = [row for row in reader if row]
        except csv.Error as exc:
            raise ManifestError(
                f"{source} line {reader.line_num}: not valid CSV ({exc})", hint=_HINT
            ) from None
    if not rows:
        return [], []
    header, body = rows[0], rows[1:]
    problem = header_problem(header)
    if problem is not None:  # rows could not be told apart column by column
        raise ManifestError(f"{source}: its header: {problem}", hint=_HINT)
    width = len(header)
    if any(len(row) != width for row in body):
        at = next(n for n, row in enumerate(body, start=2) if len(row) != width)
        raise ManifestError(
            f"{source}: row {at - 1} has {len(body[at - 2])} field(s), the header {width}",
            hint=_HINT,
        )
    return header, body


_HINT = "pass --files-only to compare the releases file by file"


@paused_gc()
def diff_tables(
    table: str,
    path: str,
    old: tuple[list[str], list[list[str]]],
    new: tuple[list[str], list[list[str]]],
    key: tuple[str, ...] | None,
) -> TableDiff:
    """The changes from `old` to `new` (each a header and its rows), matched by `key` when
    both headers have its columns and its values are unique in both; else row by row."""
    (old_header, old_rows), (new_header, new_rows) = old, new
    if key and not all(k in old_header and k in new_header for k in key):
        key = None
    old_index = _keyed(old_header, old_rows, key) if key else None
    new_index = _keyed(new_header, new_rows, key) if key else None
    if old_index is None or new_index is None:
        key, old_index, new_index = None, None, None
    removed = [c for c in old_header if c not in new_header]
    added = [c for c in new_header if c not in old_header]
    renamed = _renames(old_header, new_header, removed, added, old_index, new_index, old, new)
    for before, after in renamed:
        removed.remove(before)
        added.remove(after)
    pairs = [(old_header.index(c), new_header.index(c), c) for c in old_header if c in new_header]
    pairs += [(old_header.index(a), new_header.index(b), b) for a, b in renamed]
    base = TableDiff(
        table,
        path,
        key,
        len(old_rows),
        len(new_rows),
        tuple(added),
        tuple(removed),
        tuple(renamed),
    )
    if old_index is None or new_index is None:
        return _whole_rows(base, old, new, pairs)
    gone = [old_index[k] for k in old_index if k not in new_index]
    came = [new_index[k] for k in new_index if k not in old_index]
    cells = _cells(old_index, new_index, pairs, old_header == new_header)
    return _with_rows(base, old_header, new_header, gone, came, cells)


def _keyed(header: list[str], rows: list[list[str]], key: tuple[str, ...]) -> dict[Any, Any] | None:
    """Key value (a tuple of them for a key of several columns) -> row; None when a key value
    repeats (then rows are compared whole)."""
    pick = itemgetter(*(header.index(k) for k in key))
    index = dict(zip(map(pick, rows), rows, strict=True))
    return index if len(index) == len(rows) else None


def _renames(
    old_header: list[str],
    new_header: list[str],
    removed: list[str],
    added: list[str],
    old_index: dict[Any, Any] | None,
    new_index: dict[Any, Any] | None,
    old: tuple[list[str], list[list[str]]],
    new: tuple[list[str], list[list[str]]],
) -> list[tuple[str, str]]:
    """Removed columns whose values reappear, row for row, under an added name."""
    if not removed or not added:
        return []
    if old_index is not None and new_index is not None:
        shared = [k for k in old_index if k in new_index]
        old_rows = [old_index[k] for k in shared]
        new_rows = [new_index[k] for k in shared]
    elif len(old[1]) == len(new[1]):
        old_rows, new_rows = old[1], new[1]
    else:
        return []
    found, taken = [], set()
    for before in removed:
        values = [row[old_header.index(before)] for row in old_rows]
        if not any(values):
            continue  # an empty column would match any other empty one
        for after in added:
            if after not in taken and values == [row[new_header.index(after)] for row in new_rows]:
                found.append((before, after))
                taken.add(after)
                break
    return found


def _cells(
    old_index: dict[Any, list[str]],
    new_index: dict[Any, list[str]],
    pairs: list[tuple[int, int, str]],
    same_header: bool,
) -> list[CellChange]:
    """The changed cells of rows both versions have, in the new table's row order."""
    if not pairs:
        return []
    changed = []
    if same_header:
        differ = [k for k, row in new_index.items() if k in old_index and old_index[k] != row]
    else:
        pick_old = itemgetter(*(p[0] for p in pairs))
        pick_new = itemgetter(*(p[1] for p in pairs))
        differ = [
            k
            for k, row in new_index.items()
            if k in old_index and pick_old(old_index[k]) != pick_new(row)
        ]
    for k in differ:
        before, after = old_index[k], new_index[k]
        values = k if isinstance(k, tuple) else (k,)
        changed += [
            CellChange(values, name, before[i], after[j])
            for i, j, name in pairs
            if before[i] != after[j]
        ]
    return changed


def _with_rows(
    base: TableDiff,
    old_header: list[str],
    new_header: list[str],
    gone: list[list[str]],
    came: list[list[str]],
    cells: list[CellChange],
) -> TableDiff:
    return replace(
        base,
        rows_added=tuple(dict(zip(new_header, row, strict=True)) for row in came),
        rows_removed=tuple(dict(zip(old_header, row, strict=True)) for row in gone),
        cells=tuple(cells),
    )


def _whole_rows(
    base: TableDiff,
    old: tuple[list[str], list[list[str]]],
    new: tuple[list[str], list[list[str]]],
    pairs: list[tuple[int, int, str]],
) -> TableDiff:
    """Rows compared whole on the columns both versions share: a changed row is one removed
    and one added."""
    (old_header, old_rows), (new_header, new_rows) = old, new
    if not pairs:  # nothing in common: every row is another
        return _with_rows(base, old_header, new_header, old_rows, new_rows, [])
    pick_old = itemgetter(*(p[0] for p in pairs))
    pick_new = itemgetter(*(p[1] for p in pairs))
    extra = Counter(map(pick_new, new_rows))
    extra.subtract(Counter(map(pick_old, old_rows)))
    missing = Counter({value: -n for value, n in extra.items() if n < 0})
    return _with_rows(
        base,
        old_header,
        new_header,
        _take(old_rows, pick_old, missing),
        _take(new_rows, pick_new, extra),
        [],
    )


def _take(rows: list[list[str]], pick: Any, wanted: Counter[Any]) -> list[list[str]]:
    """The rows whose value `pick` finds in `wanted`, as many times as it counts it, in order."""
    taken = []
    for row in rows:
        value = pick(row)
        if wanted[value] > 0:
            wanted[value] -= 1
            taken.append(row)
    return taken
