"""Reading the workspace's CSV tables: strict UTF-8 and quoting, one field per column, a header
that names every column once; each error names the file, the line and the fix.

The metadata tables a release publishes and the sessions table convert reads are read here.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import msgspec

from publishkit.errors import WorkspaceError
from publishkit.formats.table_header import HEADER_HINT, header_problem

QUOTING = (
    "wrap a field holding a comma, a quote or a line break in double quotes, "
    "and double the quotes inside it"
)
_EMPTY_HINT = "write a header row of column names, or remove the table from metadata_files"


class Table(msgspec.Struct, frozen=True):
    """A CSV table: its header and its non-blank rows to come, with line numbers."""

    shown: Path  # the path publishkit.yaml gives, for messages
    header_line: int
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # read on demand; raise for a malformed row


def read_table(shown: Path, real: Path, *, empty_hint: str = _EMPTY_HINT) -> Table:
    """The table at `real`, its header read and checked and its rows to come; a
    WorkspaceError names `shown`, the line and the fix when it is empty, its header names no
    column or one twice (or, while its rows are read, when it is malformed)."""
    records = _records(shown, real)
    first = next(records, None)
    if first is None:
        raise WorkspaceError(
            f"{shown}: the table is empty (no header row)",
            hint=empty_hint,
        )
    header_line, header = first
    problem = header_problem(header)
    if problem is not None:
        raise WorkspaceError(f"{shown} line {header_line}: {problem}", hint=HEADER_HINT)
    return Table(shown, header_line, header, _as_wide(shown, header_line, header, records))


def _records(shown: Path, real: Path) -> Iterator[tuple[int, list[str]]]:
    """The table's non-blank CSV records (strict UTF-8, strict quoting) and the line each starts
    on, read as they come: a table can be large."""
    start = 1
    try:
        with open(real, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, strict=True)
            for record in reader:
                if any("\x00" in field for field in record):
                    raise _bad_byte(shown, real)
                if record:  # a blank line: skipped, as csv.DictReader and pandas do
                    yield start, record
                start = reader.line_num + 1
    except UnicodeDecodeError:
        raise _bad_byte(shown, real) from None
    except csv.Error as exc:
        raise WorkspaceError(f"{shown} line {start}: not valid CSV ({exc})", hint=QUOTING) from None
    except OSError as exc:
        raise WorkspaceError(
            f"{shown}: cannot be read ({exc.strerror})", hint="check the file and its permissions"
        ) from None


def _as_wide(
    shown: Path, header_line: int, header: list[str], records: Iterator[tuple[int, list[str]]]
) -> Iterator[tuple[int, list[str]]]:
    """The records, each checked to have one field per column of the header."""
    for line, row in records:
        if len(row) != len(header):
            raise WorkspaceError(
                f"{shown} line {line}: {len(row)} field(s), but the header (line {header_line}) "
                f"has {len(header)}",
                hint=f"give every row one field per column; {QUOTING}",
            )
        yield line, row


def _bad_byte(shown: Path, real: Path) -> WorkspaceError:
    """The error naming the table's first byte that is not UTF-8, or is NUL: line and offset."""
    trouble = "changed while it was read"
    try:
        with open(real, "rb") as handle:
            found = _first_bad_byte(handle)
    except OSError as exc:
        found, trouble = None, f"cannot be read ({exc.strerror})"
    if found is None:  # the file changed or vanished since it was read as text
        return WorkspaceError(f"{shown}: {trouble}", hint="run the command again")
    line, offset, byte, problem = found
    return WorkspaceError(
        f"{shown} line {line}: byte 0x{byte:02x} at offset {offset} {problem}",
        hint=f"save {shown.name} as UTF-8 (CSV, comma-separated)",
    )


def _first_bad_byte(handle: BinaryIO) -> tuple[int, int, int, str] | None:
    """Line, offset, value and problem of the first byte not UTF-8 or NUL; None if all are."""
    offset = 0
    # UTF-8 never uses the byte of "\n" inside a character: lines decode on their own.
    for number, line in enumerate(handle, start=1):
        bom = len(codecs.BOM_UTF8) if number == 1 and line.startswith(codecs.BOM_UTF8) else 0
        try:
            line[bom:].decode("utf-8")
        except UnicodeDecodeError as exc:
            at, problem = bom + exc.start, "is not UTF-8"
        else:
            at, problem = line.find(b"\x00"), "is a NUL byte, never in a text table"
        if at >= 0:
            return number, offset + at, line[at], problem
        offset += len(line)
    return None
