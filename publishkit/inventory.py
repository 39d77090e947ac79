"""What a release contains: the workspace's metadata tables and the data files they list."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from .config import Settings
from .errors import WorkspaceError

Group = Literal["metadata", "data"]
# AllenSDK takes the S3 key from the manifest URL without percent-decoding it, so a key must be
# spelled the same in a URL and in the bucket: no spaces, no characters a URL would escape.
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~/-]+$")


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release: its manifest group and key, its path under the prefix, on disk."""

    group: Group
    name: str  # metadata: the table name; data: the id column's value
    relpath: str  # POSIX, relative to the bucket prefix
    path: Path


def collect(settings: Settings) -> list[ReleaseFile]:
    """Every file a release of this workspace publishes, metadata tables first."""
    files: list[ReleaseFile] = []
    data: dict[str, ReleaseFile] = {}
    for table, csv_path in settings.metadata_files:
        if not csv_path.is_file():
            raise WorkspaceError(
                f"metadata table {table!r}: {csv_path} does not exist",
                hint="fix metadata_files in publishkit.yaml or create the file",
            )
        files.append(ReleaseFile("metadata", table, f"project_metadata/{table}.csv", csv_path))
        for entry in _data_rows(settings, table, csv_path):
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


def _data_rows(settings: Settings, table: str, csv_path: Path) -> list[ReleaseFile]:
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or ())
        if not {settings.id_column, settings.path_column} <= columns:
            return []
        rows = []
        for line, row in enumerate(reader, start=2):
            raw_path = (row.get(settings.path_column) or "").strip()
            if not raw_path:
                continue
            file_id = (row.get(settings.id_column) or "").strip()
            where = f"{csv_path} line {line}"
            if not file_id:
                raise WorkspaceError(
                    f"{where}: {settings.path_column} is set but {settings.id_column} is empty",
                    hint=f"give the row a {settings.id_column}",
                )
            relpath = _safe_relpath(raw_path, where, settings.path_column)
            local = settings.workspace / relpath
            if not local.is_file():
                raise WorkspaceError(
                    f"{where}: data file {raw_path} is listed in table {table!r} "
                    "but absent on disk",
                    hint=f"restore the file or remove the row from {csv_path.name}",
                )
            rows.append(ReleaseFile("data", file_id, relpath, local))
        return rows


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
    return pure.as_posix()
