"""What a release contains: the workspace's metadata tables and the data files they list.

Nothing outside the workspace's real path is ever read for publication: a table or data file
that is, or passes through, a symlink leading outside is refused. A symlink that stays inside the
workspace is allowed (it publishes nothing the workspace does not hold); the file is published
under the name the table or publishkit.yaml gives it, read from the link's target.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import msgspec

from publishkit.errors import ConfigError, WorkspaceError
from publishkit.workspace.config import CONFIG_NAME, Settings
from publishkit.workspace.confined import RealPaths, inside, invisible_at, is_regular_file
from publishkit.workspace.csv_tables import Table, read_table
from publishkit.workspace.release_keys import check_key, data_relpath, table_relpath

Group = Literal["metadata", "data"]


class ReleaseFile(msgspec.Struct, frozen=True):
    """One file of a release: its manifest group and key, its path under the prefix, on disk."""

    group: Group
    name: str  # metadata: the table name; data: the id column's value
    relpath: str  # POSIX, relative to the bucket prefix
    path: Path  # the real path (symlinks resolved), inside the workspace


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
        for entry in _data_rows(settings, table, read_table(csv_path, real)):
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
    found = read_table(csv_path, _table_path(settings.workspace, table, csv_path))
    return found.shown, found.header_line, found.header, found.rows


def _table_path(root: Path, table: str, csv_path: Path) -> Path:
    what = f"metadata table {table!r}"
    listed = str(csv_path)
    at = invisible_at(listed)
    if at is not None:  # a quoted YAML string can carry a line break or a NUL
        raise WorkspaceError(
            f"{what}: path {listed!r} holds control character U+{ord(listed[at]):04X}",
            hint="fix the path in metadata_files in publishkit.yaml",
        )
    move = "move the table into the workspace and fix its path in metadata_files in publishkit.yaml"
    real, problem = _listed_file(root, csv_path, what, move, absent="does not exist")
    if problem:
        raise WorkspaceError(
            f"{what}: {csv_path} {problem}",
            hint="fix metadata_files in publishkit.yaml or create the file",
        )
    return real


def _listed_file(
    root: Path,
    path: Path,
    what: str,
    move: str,
    *,
    absent: str,
    real_paths: RealPaths | None = None,
) -> tuple[Path, str]:
    """The real path of a file publishkit.yaml or a table lists (a WorkspaceError, with the
    hint `move`, when it leads outside the workspace), and what is wrong with it: `absent`, or
    not a regular file ("": nothing). `real_paths`: the folders resolved so far, for many files."""
    real = inside(root, path, what, move, real_paths)
    regular = is_regular_file(real, what)
    return real, "" if regular else absent if regular is None else "is not a regular file"


def _data_rows(settings: Settings, table: str, found: Table) -> list[ReleaseFile]:
    id_at, path_at = _data_columns(settings, table, found)
    if id_at is None or path_at is None:
        for _ in found.rows:  # published all the same: every row is checked
            pass
        return []
    rows = []
    prefix = settings.s3_settings.prefix if settings.s3_settings else None
    real_paths = RealPaths()  # each folder resolved once
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
        local, problem = _listed_file(
            settings.workspace,
            settings.workspace / relpath,
            what,
            "move the file into the workspace",
            absent="is absent on disk",
            real_paths=real_paths,
        )
        if problem:
            raise WorkspaceError(
                f"{where}: data file {raw_path} is listed in table {table!r} but {problem}",
                hint=f"restore the file or remove the row from {found.shown.name}",
            )
        rows.append(ReleaseFile("data", raw_id, relpath, local))
    return rows


def _data_columns(settings: Settings, table: str, found: Table) -> tuple[int | None, int | None]:
    """The positions of the id and path columns, both or neither; a WorkspaceError for a table
    with one and not the other (a typo would otherwise drop its data files silently)."""
    wanted = (settings.id_column, settings.path_column)
    where = f"{found.shown} line {found.header_line}"
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
    at = invisible_at(value)
    if at is not None:
        raise WorkspaceError(
            f"{where}: {column} {value!r} holds control character U+{ord(value[at]):04X} at "
            f"position {at + 1}",
            hint="remove it; ids and paths are one line of visible text",
        )
    return value.strip()
