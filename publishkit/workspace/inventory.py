"""What a release contains: the workspace's metadata tables and the data files they list.

Nothing outside the workspace's real path is ever read for publication: a table or data file
that is, or passes through, a symlink leading outside is refused. A symlink that stays inside the
workspace is allowed (it publishes nothing the workspace does not hold); the file is published
under the name the table or publishkit.yaml gives it, read from the link's target.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import stat
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from publishkit.errors import ConfigError, WorkspaceError
from publishkit.workspace.config import CONFIG_NAME, Settings
from publishkit.workspace.release_keys import check_key, data_relpath, table_relpath

Group = Literal["metadata", "data"]
# Control, format (zero-width) and line/paragraph separator characters: never meant in an id.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}
_QUOTING = (
    "wrap a field holding a comma, a quote or a line break in double quotes, "
    "and double the quotes inside it"
)


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release: its manifest group and key, its path under the prefix, on disk."""

    group: Group
    name: str  # metadata: the table name; data: the id column's value
    relpath: str  # POSIX, relative to the bucket prefix
    path: Path  # the real path (symlinks resolved), inside the workspace


@dataclass(frozen=True)
class _Table:
    """A metadata table: its header and its non-blank rows to come, with line numbers."""

    shown: Path  # the path publishkit.yaml gives, for messages
    header_line: int
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # read on demand; raise for a malformed row


def collect(settings: Settings) -> list[ReleaseFile]:
    """Every file a release of this workspace publishes, metadata tables first; each one's path
    is its real path inside the workspace (a WorkspaceError names anything that is not)."""
    if settings.id_column == settings.path_column:
        raise ConfigError(
            f"{settings.workspace / CONFIG_NAME}: data_files.id_column and "
            f"data_files.path_column are both {settings.id_column!r}",
            hint="name two different columns: one for the file's id, one for its path",
        )
    files: list[ReleaseFile] = []
    data: dict[str, ReleaseFile] = {}
    prefix = settings.s3_settings.prefix if settings.s3_settings else None
    for table, csv_path in settings.metadata_files:
        real = _table_path(settings.workspace, table, csv_path)
        relpath = table_relpath(table)
        check_key(prefix, relpath, f"metadata table {table!r}")
        files.append(ReleaseFile("metadata", table, relpath, real))
        for entry in _data_rows(settings, table, _read_table(csv_path, real)):
            known = data.get(entry.name)
            if known is not None and known.relpath != entry.relpath:
                raise WorkspaceError(
                    f"{csv_path}: {settings.id_column} {entry.name!r} names {entry.relpath}, "
                    f"but another row names {known.relpath}",
                    hint=f"give every data file its own {settings.id_column}",
                )
            data[entry.name] = entry
    files.extend(sorted(data.values(), key=lambda f: f.relpath))
    return files


def table_rows(
    settings: Settings, table: str
) -> tuple[Path, int, list[str], Iterator[tuple[int, list[str]]]]:
    """A released table as a release reads it: its path as publishkit.yaml gives it, its
    header's line, its header, and its rows with their lines (a WorkspaceError names what is
    malformed)."""
    csv_path = dict(settings.metadata_files)[table]
    found = _read_table(csv_path, _table_path(settings.workspace, table, csv_path))
    return found.shown, found.header_line, found.header, found.rows


def _table_path(root: Path, table: str, csv_path: Path) -> Path:
    what = f"metadata table {table!r}"
    listed = str(csv_path)
    at = _invisible_at(listed)
    if at is not None:  # a quoted YAML string can carry a line break or a NUL
        raise WorkspaceError(
            f"{what}: path {listed!r} holds control character U+{ord(listed[at]):04X}",
            hint="fix the path in metadata_files in publishkit.yaml",
        )
    real = _inside(
        root,
        csv_path,
        what,
        "move the table into the workspace and fix its path in metadata_files in publishkit.yaml",
    )
    regular = _is_file(real, what)
    if not regular:
        problem = "does not exist" if regular is None else "is not a regular file"
        raise WorkspaceError(
            f"{what}: {csv_path} {problem}",
            hint="fix metadata_files in publishkit.yaml or create the file",
        )
    return real


def _inside(root: Path, path: Path, what: str, hint: str) -> Path:
    """The real path of `path`; a WorkspaceError when it, or a symlink on its way, leads outside
    the workspace `root` (which is already resolved).

    Callers hand on the real path, so a link swapped after this check cannot redirect what is
    read. What remains is a race no check here can close: the file, or a folder on its real
    path, replaced by a link between this check and the upload reading it; only someone who can
    already write to the workspace can do that."""
    real = _resolve(path, what)
    if real.is_relative_to(root):
        return real
    link = _escaping_link(root, path, what)
    if link is not None:
        raise WorkspaceError(
            f"{what}: {_show(link)} is a symlink to {_show(_resolve(link, what))}, outside the "
            f"workspace {_show(root)}",
            hint="copy the file into the workspace instead of linking to it "
            "(symlinks that stay inside the workspace are fine)",
        )
    raise WorkspaceError(f"{what}: {_show(path)} is outside the workspace {_show(root)}", hint=hint)


def _escaping_link(root: Path, path: Path, what: str) -> Path | None:
    """The first symlink along `path` (below `root`) whose target is outside `root`."""
    if not path.is_relative_to(root):
        return None
    step = root
    for part in path.relative_to(root).parts:
        step = step / part
        if _is_link(step) and not _resolve(step, what).is_relative_to(root):
            return step
    return None


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(path.lstat().st_mode)
    except OSError:
        return False


def _resolve(path: Path, what: str) -> Path:
    try:
        return path.resolve()
    except RuntimeError as exc:  # a symlink loop, on Python 3.11
        problem, hint = str(exc), "fix or remove the symlink loop"
    except (OSError, ValueError) as exc:
        problem, hint = getattr(exc, "strerror", None) or str(exc), "fix the path"
    raise WorkspaceError(f"{what}: {_show(path)} cannot be resolved ({problem})", hint=hint)


def _is_file(path: Path, what: str) -> bool | None:
    """Whether `path` is a regular file; None when nothing is there."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise WorkspaceError(
            f"{what}: {_show(path)} cannot be read ({exc.strerror})",
            hint="check the path and its permissions",
        ) from None


def _show(path: Path) -> str:
    """A path for a one-line message: as it is, or quoted when it holds a control character."""
    text = str(path)
    return text if _invisible_at(text) is None else repr(text)


def _read_table(shown: Path, real: Path) -> _Table:
    """The table at `real`, its header read and its rows to come; a WorkspaceError names
    `shown`, the line and the fix when it is empty (or, while its rows are read, malformed)."""
    records = _records(shown, real)
    first = next(records, None)
    if first is None:
        raise WorkspaceError(
            f"{shown}: the table is empty (no header row)",
            hint="write a header row of column names, or remove the table from metadata_files",
        )
    header_line, header = first
    return _Table(shown, header_line, header, _as_wide(shown, header_line, header, records))


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
        raise WorkspaceError(
            f"{shown} line {start}: not valid CSV ({exc})", hint=_QUOTING
        ) from None
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
                hint=f"give every row one field per column; {_QUOTING}",
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


def _data_rows(settings: Settings, table: str, found: _Table) -> list[ReleaseFile]:
    id_at, path_at = _data_columns(settings, table, found)
    if id_at is None or path_at is None:
        for _ in found.rows:  # published all the same: every row is checked
            pass
        return []
    rows = []
    prefix = settings.s3_settings.prefix if settings.s3_settings else None
    for line, row in found.rows:
        where = f"{found.shown} line {line}"
        raw_id = _visible(row[id_at], where, settings.id_column)
        raw_path = _visible(row[path_at], where, settings.path_column)
        if not raw_path:
            continue
        if not raw_id:
            raise WorkspaceError(
                f"{where}: {settings.path_column} is set but {settings.id_column} is empty",
                hint=f"give the row a {settings.id_column}",
            )
        relpath = data_relpath(raw_path, where, settings.path_column)
        check_key(prefix, relpath, f"{where}: {settings.path_column}")
        what = f"{where}: data file {raw_path}"
        local = _inside(
            settings.workspace,
            settings.workspace / relpath,
            what,
            "move the file into the workspace",
        )
        regular = _is_file(local, what)
        if not regular:
            problem = "is absent on disk" if regular is None else "is not a regular file"
            raise WorkspaceError(
                f"{where}: data file {raw_path} is listed in table {table!r} but {problem}",
                hint=f"restore the file or remove the row from {found.shown.name}",
            )
        rows.append(ReleaseFile("data", raw_id, relpath, local))
    return rows


def _data_columns(settings: Settings, table: str, found: _Table) -> tuple[int | None, int | None]:
    """The positions of the id and path columns, both or neither; a WorkspaceError for a table
    with one and not the other (a typo would otherwise drop its data files silently)."""
    wanted = (settings.id_column, settings.path_column)
    where = f"{found.shown} line {found.header_line}"
    for column in wanted:
        if found.header.count(column) > 1:
            raise WorkspaceError(
                f"{where}: table {table!r} has column {column!r} more than once",
                hint="keep one of them and rename or remove the others",
            )
    id_at, path_at = (found.header.index(c) if c in found.header else None for c in wanted)
    if (id_at is None) == (path_at is None):
        return id_at, path_at
    has, lacks = wanted if id_at is not None else wanted[::-1]
    others = [c for c in found.header if c != has]
    close = difflib.get_close_matches(lacks, others, n=1)
    raise WorkspaceError(
        f"{where}: table {table!r} has column {has!r} but no {lacks!r}, so the data files it "
        "lists cannot be published",
        hint=f"rename column {close[0]!r} to {lacks!r}"
        if close
        else f"add a {lacks!r} column, or remove {has!r} if the table lists no data files",
    )


def _visible(value: str, where: str, column: str) -> str:
    """The value without surrounding whitespace (stripped, as always); a WorkspaceError when it
    holds a control character, such as a line break inside a quoted field."""
    at = _invisible_at(value)
    if at is not None:
        raise WorkspaceError(
            f"{where}: {column} {value!r} holds control character U+{ord(value[at]):04X} at "
            f"position {at + 1}",
            hint="remove it; ids and paths are one line of visible text",
        )
    return value.strip()


def _invisible_at(value: str) -> int | None:
    """The index of the first control, zero-width or line-separator character, if any."""
    return next((i for i, c in enumerate(value) if unicodedata.category(c) in _INVISIBLE), None)
