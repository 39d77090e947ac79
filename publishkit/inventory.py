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
import io
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from .config import Settings
from .errors import WorkspaceError

Group = Literal["metadata", "data"]
# AllenSDK takes the S3 key from the manifest URL without percent-decoding it, so a key must be
# spelled the same in a URL and in the bucket: no spaces, no characters a URL would escape.
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~/-]+$")
# Keys publishkit itself writes under the prefix: a data file there would clobber or pose as one.
_RESERVED_FOLDERS = ("manifests/", "project_metadata/")
_RESERVED_FILE = "release_notes.md"
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
    """A metadata table read whole: its header and its non-blank rows, with line numbers."""

    shown: Path  # the path publishkit.yaml gives, for messages
    header_line: int
    header: list[str]
    rows: list[tuple[int, list[str]]]


def collect(settings: Settings) -> list[ReleaseFile]:
    """Every file a release of this workspace publishes, metadata tables first; each one's path
    is its real path inside the workspace (a WorkspaceError names anything that is not)."""
    files: list[ReleaseFile] = []
    data: dict[str, ReleaseFile] = {}
    for table, csv_path in settings.metadata_files:
        real = _table_path(settings.workspace, table, csv_path)
        files.append(ReleaseFile("metadata", table, f"project_metadata/{table}.csv", real))
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


def _table_path(root: Path, table: str, csv_path: Path) -> Path:
    what = f"metadata table {table!r}"
    real = _inside(
        root,
        csv_path,
        what,
        "move the table into the workspace and fix its path in metadata_files in publishkit.yaml",
    )
    if not real.is_file():
        problem = "is not a regular file" if real.exists() else "does not exist"
        raise WorkspaceError(
            f"{what}: {csv_path} {problem}",
            hint="fix metadata_files in publishkit.yaml or create the file",
        )
    return real


def _inside(root: Path, path: Path, what: str, hint: str) -> Path:
    """The real path of `path`; a WorkspaceError when it, or a symlink on its way, leads outside
    the workspace `root` (which is already resolved).

    The caller then reads the real path, so a link swapped after this check cannot redirect the
    release; a folder on the way swapped for a link in between still can (a residual race that
    only someone who can already write the workspace can win)."""
    real = _resolve(path, what)
    if real.is_relative_to(root):
        return real
    link = _escaping_link(root, path, what)
    if link is not None:
        raise WorkspaceError(
            f"{what}: {link} is a symlink to {_resolve(link, what)}, outside the workspace {root}",
            hint="copy the file into the workspace instead of linking to it "
            "(symlinks that stay inside the workspace are fine)",
        )
    raise WorkspaceError(f"{what}: {path} is outside the workspace {root}", hint=hint)


def _escaping_link(root: Path, path: Path, what: str) -> Path | None:
    """The first symlink along `path` (below `root`) whose target is outside `root`."""
    if not path.is_relative_to(root):
        return None
    step = root
    for part in path.relative_to(root).parts:
        step = step / part
        if step.is_symlink() and not _resolve(step, what).is_relative_to(root):
            return step
    return None


def _resolve(path: Path, what: str) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop: RuntimeError on Python 3.11
        raise WorkspaceError(
            f"{what}: {path} cannot be resolved ({exc})", hint="fix or remove the symlink loop"
        ) from None


def _read_table(shown: Path, real: Path) -> _Table:
    """The table at `real` as UTF-8 CSV with a header and every row as wide as it; a
    WorkspaceError naming `shown`, the line and the fix otherwise."""
    reader = csv.reader(io.StringIO(_decode(shown, real.read_bytes()), newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for record in reader:
            if record:  # a blank line: skipped, as csv.DictReader and pandas do
                records.append((start, record))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise WorkspaceError(
            f"{shown} line {start}: not valid CSV ({exc})", hint=_QUOTING
        ) from None
    if not records:
        raise WorkspaceError(
            f"{shown}: the table is empty (no header row)",
            hint="write a header row of column names, or remove the table from metadata_files",
        )
    (header_line, header), rows = records[0], records[1:]
    for line, row in rows:
        if len(row) != len(header):
            raise WorkspaceError(
                f"{shown} line {line}: {len(row)} field(s), but the header (line {header_line}) "
                f"has {len(header)}",
                hint=f"give every row one field per column; {_QUOTING}",
            )
    return _Table(shown, header_line, header, rows)


def _decode(shown: Path, raw: bytes) -> str:
    """The text of a table's bytes (a UTF-8 BOM dropped); a WorkspaceError names a bad byte."""
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    try:
        text = raw[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = exc.start + bom
        problem = "is not UTF-8"
    else:
        bad, problem = raw.find(b"\x00"), "is a NUL byte, never in a text table"
        if bad < 0:
            return text
    line = raw.count(b"\n", 0, bad) + 1
    raise WorkspaceError(
        f"{shown} line {line}: byte 0x{raw[bad]:02x} at offset {bad} {problem}",
        hint=f"save {shown.name} as UTF-8 (CSV, comma-separated)",
    )


def _data_rows(settings: Settings, table: str, found: _Table) -> list[ReleaseFile]:
    id_at, path_at = _data_columns(settings, table, found)
    if id_at is None or path_at is None:
        return []
    rows = []
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
        relpath = _safe_relpath(raw_path, where, settings.path_column)
        what = f"{where}: data file {raw_path}"
        local = _inside(
            settings.workspace,
            settings.workspace / relpath,
            what,
            "move the file into the workspace",
        )
        if not local.is_file():
            problem = "is not a regular file" if local.exists() else "is absent on disk"
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
    for position, char in enumerate(value):
        if unicodedata.category(char) in _INVISIBLE:
            raise WorkspaceError(
                f"{where}: {column} {value!r} holds control character U+{ord(char):04X} at "
                f"position {position + 1}",
                hint="remove it; ids and paths are one line of visible text",
            )
    return value.strip()


def _safe_relpath(raw: str, where: str, column: str) -> str:
    pure = PurePosixPath(raw.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or str(pure) in {"", "."}:
        raise WorkspaceError(
            f"{where}: {column} {raw!r} must be a path inside the workspace",
            hint="use a relative path without '..'",
        )
    if not _URL_SAFE.match(pure.as_posix()):
        raise WorkspaceError(
            f"{where}: {column} {raw!r} has characters that AllenSDK cannot read back from a "
            "manifest URL",
            hint="rename the file using letters, digits and . _ - ~ / only",
        )
    relpath = pure.as_posix()
    if relpath.startswith(_RESERVED_FOLDERS) or relpath == _RESERVED_FILE:
        raise WorkspaceError(
            f"{where}: {column} {raw!r} would land where publishkit writes its own files "
            f"({', '.join(_RESERVED_FOLDERS)} and {_RESERVED_FILE})",
            hint="move the file to another folder",
        )
    return relpath
