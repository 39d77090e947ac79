"""The checks `tables:` declares, run on the workspace's tables before a release.

Each failing cell is a finding, like an inspection finding: the table, its row and line, the
column, the value and the rule (header, key, columns, unique, references, nwb), at the table's
importance; those at or above `inspection.fail_on` gate the release. The NWB cross-check reads
only the files' summaries (computed once per content, by inspection's read or h5py's).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
from msgspec.structs import asdict

from publishkit.formats.schemas import first_violation
from publishkit.formats.summaries import Summary, decode, field_value
from publishkit.workspace.config import Settings
from publishkit.workspace.digests import DigestCache
from publishkit.workspace.inspection_settings import rank
from publishkit.workspace.inventory import table_rows
from publishkit.workspace.nwb_summaries import SummaryCache
from publishkit.workspace.state import StateStore
from publishkit.workspace.table_settings import TableSpec

_INTEGER = re.compile(r"[+-]?\d+")
Rows = list[tuple[int, list[str]]]


class TableFinding(msgspec.Struct, frozen=True):
    """One value (or a missing column) a table check refuses."""

    table: str
    path: str  # the table's file, as publishkit.yaml names it
    row: int | None  # 1-based row after the header; None for the header itself
    line: int
    column: str | None
    value: str | None
    rule: str  # header, key, columns, unique, references or nwb
    message: str
    importance: str

    def describe(self) -> str:
        """One line: where, which column and value, which rule, and why."""
        where = f"row {self.row} (line {self.line})" if self.row else f"line {self.line}"
        column = f", column {self.column}" if self.column else ""
        value = f" {self.value!r}" if self.value is not None else ""
        return f"{self.path} {where}{column}{value}: {self.rule}: {self.message}"

    def as_json(self) -> dict[str, Any]:
        """The finding, for `--format json`."""
        return asdict(self)


class TableCheckReport(msgspec.Struct, frozen=True):
    """What the tables' checks found."""

    tables: tuple[str, ...]
    findings: tuple[TableFinding, ...]
    fail_on: str

    @property
    def failing(self) -> tuple[TableFinding, ...]:
        """The findings at or above fail_on."""
        return tuple(f for f in self.findings if rank(f.importance) <= rank(self.fail_on))

    @property
    def passed(self) -> bool:
        """No finding at or above fail_on."""
        return not self.failing

    def failure_summary(self) -> str:
        """Why the checks failed ('' when they passed)."""
        if self.passed:
            return ""
        tables = sorted({f.table for f in self.failing})
        return (
            f"{len(self.failing)} table finding(s) at or above {self.fail_on} in "
            f"{', '.join(tables)}"
        )

    def as_json(self) -> dict[str, Any]:
        """The report, for `--format json`."""
        return {
            "passed": self.passed,
            "fail_on": self.fail_on,
            "tables": list(self.tables),
            "findings": [f.as_json() for f in self.findings],
        }


def check_tables(*, settings: Settings) -> TableCheckReport:
    """Run every check the workspace's `tables:` section declares."""
    specs = [spec for spec in settings.tables if spec.checked]
    read: dict[str, tuple[Path, int, list[str], Rows]] = {}

    def table(name: str) -> tuple[Path, int, list[str], Rows]:
        if name not in read:
            shown, header_line, header, rows = table_rows(settings, name)
            read[name] = (shown, header_line, header, list(rows))
        return read[name]

    findings: list[TableFinding] = []
    for spec in specs:
        findings += _check(spec, table(spec.name), table, settings)
    return TableCheckReport(tuple(s.name for s in specs), tuple(findings), settings.fail_on)


def _check(
    spec: TableSpec, found: tuple[Path, int, list[str], Rows], table: Any, settings: Settings
) -> list[TableFinding]:
    path, header_line, header, rows = found
    shown = (
        path.relative_to(settings.workspace) if path.is_relative_to(settings.workspace) else path
    )

    def finding(
        row: int | None, line: int, column: str | None, value: str | None, rule: str, why: str
    ) -> TableFinding:
        return TableFinding(
            spec.name, str(shown), row, line, column, value, rule, why, spec.importance
        )

    wanted = [*spec.key, *spec.columns, *(c for u in spec.unique for c in u)]
    wanted += [c for c, _, _ in spec.references] + [c for c, _ in spec.nwb]
    missing = [
        finding(None, header_line, c, None, "header", "the table has no such column")
        for c in dict.fromkeys(wanted)
        if c not in header
    ]
    if spec.nwb and settings.path_column not in header:
        why = "the nwb: checks need each row's NWB file, and the table has no such column"
        missing.append(finding(None, header_line, settings.path_column, None, "header", why))
    if missing:
        return missing
    at = {name: index for index, name in enumerate(header)}
    out: list[TableFinding] = []
    if spec.key:
        out += [finding(*f, "key", why) for f, why in _repeats(rows, at, spec.key, empty=True)]
    for column, schema in spec.columns.items():
        out += [
            finding(*f, "columns", why) for f, why in _invalid(rows, at[column], column, schema)
        ]
    for columns in spec.unique:
        out += [finding(*f, "unique", why) for f, why in _repeats(rows, at, columns, empty=False)]
    for column, other, other_column in spec.references:
        out += [
            finding(*f, "references", why)
            for f, why in _dangling(rows, at[column], column, table(other), other, other_column)
        ]
    if spec.nwb:
        out += [finding(*f, "nwb", why) for f, why in _nwb(rows, at, spec, settings)]
    return out


CellAt = tuple[int | None, int, str | None, str | None]  # row, line, column, value


def _repeats(
    rows: Rows, at: dict[str, int], columns: tuple[str, ...], *, empty: bool
) -> Iterator[tuple[CellAt, str]]:
    """Rows whose values in `columns` an earlier row has (and, for a key, empty values)."""
    seen: dict[tuple[str, ...], tuple[int, int]] = {}
    shown = columns[0] if len(columns) == 1 else "+".join(columns)
    for number, (line, row) in enumerate(rows, start=1):
        values = tuple(row[at[c]] for c in columns)
        text = ", ".join(values)
        if empty and not all(v.strip() for v in values):
            yield (number, line, shown, text), "a key value is empty"
        elif values in seen:
            first, first_line = seen[values]
            yield (number, line, shown, text), f"repeats row {first} (line {first_line})"
        else:
            seen[values] = (number, line)


def _invalid(rows: Rows, index: int, column: str, schema: Any) -> Iterator[tuple[CellAt, str]]:
    """Rows whose value in the column does not meet its JSON Schema (as the type it names)."""
    validator = jsonschema.Draft202012Validator(schema)
    verdicts: dict[str, str | None] = {}
    for number, (line, row) in enumerate(rows, start=1):
        text = row[index]
        if text not in verdicts:
            error = first_violation(validator.iter_errors(cell_value(text, schema)))
            verdicts[text] = None if error is None else error.message
        if verdicts[text] is not None:
            yield (number, line, column, text), str(verdicts[text])


def cell_value(text: str, schema: Any) -> Any:
    """What a CSV cell is as JSON for `schema`: null when empty; an integer, number or boolean
    when the schema's type allows one and the text is one; else the text."""
    if text == "":
        return None
    declared = schema.get("type", ()) if isinstance(schema, dict) else ()
    types = (declared,) if isinstance(declared, str) else tuple(declared)
    plain = text.strip()
    if "integer" in types and _INTEGER.fullmatch(plain):
        return int(plain)
    if "number" in types:
        try:
            number = float(plain)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return int(number) if _INTEGER.fullmatch(plain) else number
    if "boolean" in types and plain.lower() in ("true", "false"):
        return plain.lower() == "true"
    return text


def _dangling(
    rows: Rows,
    index: int,
    column: str,
    other: tuple[Path, int, list[str], Rows],
    table: str,
    other_column: str,
) -> Iterator[tuple[CellAt, str]]:
    """Rows whose value is not in `table`.`other_column` (empty values refer to nothing)."""
    _, other_line, header, other_rows = other
    if other_column not in header:
        yield (None, other_line, column, None), f"table {table} has no column {other_column}"
        return
    where = header.index(other_column)
    known = {row[where] for _, row in other_rows}
    for number, (line, row) in enumerate(rows, start=1):
        if row[index] and row[index] not in known:
            yield (number, line, column, row[index]), f"no {table}.{other_column} has this value"


def _nwb(
    rows: Rows, at: dict[str, int], spec: TableSpec, settings: Settings
) -> Iterator[tuple[CellAt, str]]:
    """Rows whose value differs from the field of their NWB file's summary."""
    path_column = settings.path_column
    files = {row[at[path_column]].strip() for _, row in rows} - {""}
    summaries = _summaries(settings, sorted(files))
    for number, (line, row) in enumerate(rows, start=1):
        relpath = row[at[path_column]].strip()
        if not relpath:
            continue
        summary = summaries.get(relpath)
        for column, field in spec.nwb:
            text = row[at[column]]
            if summary is None:
                problem = (
                    "cannot be read as an NWB file"
                    if relpath in summaries
                    else ("is not a file in the workspace")
                )
                yield (number, line, column, text), f"{relpath} {problem}"
                break
            value = field_value(summary, field)
            if not same(text, value):
                yield (number, line, column, text), f"{relpath} has {field} {value!r}"


def _summaries(settings: Settings, relpaths: list[str]) -> dict[str, Summary | None]:
    """The summary of each listed file that exists in the workspace (None: not NWB)."""
    root = settings.workspace
    paths = {rel: (root / rel).resolve() for rel in relpaths}
    present = {r: p for r, p in paths.items() if p.is_relative_to(root) and p.is_file()}
    with StateStore.in_dir(settings.state_dir) as store:
        digests = DigestCache(store).get_all(list(present.values()), settings.executor)
        hashes = {path: digests[path].blake2b for path in present.values()}
        found = SummaryCache(store).get_all(hashes, settings.executor)
    summaries: dict[str, Summary | None] = {}
    for rel, path in present.items():
        encoded = found.get(hashes[path])
        summaries[rel] = None if encoded is None else decode(encoded, str(path))
    return summaries


def same(text: str, value: Any) -> bool:
    """A table's cell says what the NWB file's field holds: the same text, number or instant."""
    if value is None:
        return text.strip() == ""
    shown = str(value)
    if text.strip() == shown.strip():
        return True
    try:
        return float(text) == float(shown)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.strip()) == datetime.fromisoformat(shown.strip())
    except ValueError:
        return False
