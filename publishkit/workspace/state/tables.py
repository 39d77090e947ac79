"""Typed readers and writers of the state store's tables (with `uploads`, the only SQL).

One class per thing a stage remembers; each takes the open `StateStore`. Stages read what other
stages recorded through these (organize's dandiset paths, the DANDI upload's assets, which
contents passed inspection) instead of importing each other.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from publishkit.formats.file_digests import FileDigests
from publishkit.workspace.state.store import StateStore


class FileRecord(msgspec.Struct, frozen=True):
    """A file's digests and the stat they were taken at."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    blake2b: str
    sha256: str

    @classmethod
    def at(cls, path: Path, stat: os.stat_result, digests: FileDigests) -> FileRecord:
        """`digests` for `path` as `stat` found it (its resolved path, size, mtime, inode)."""
        return cls(
            str(path.resolve()),
            stat.st_size,
            stat.st_mtime_ns,
            stat.st_ino,
            digests.blake2b,
            digests.sha256,
        )


class FileDigestRecords:
    """file_digests: each file's blake2b and sha256 by (path, size, mtime_ns, inode)."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def of(self, path: str) -> FileRecord | None:
        """The record of this key, or None."""
        rows = self._store.query(
            "SELECT path, size, mtime_ns, inode, blake2b, sha256 FROM file_digests WHERE path = ?",
            (path,),
        )
        return _file_record(rows[0]) if rows else None

    _BATCH = 500  # paths per query (SQLite allows 999 parameters)

    def of_all(self, paths: list[str]) -> dict[str, FileRecord]:
        """The records of these keys that exist, by key: one query per 500 keys."""
        return {record.path: record for record in self._where_in("path", paths)}

    def with_blake2b(self, blake2b: str) -> list[FileRecord]:
        """Every file on record with this content."""
        rows = self._store.query(
            "SELECT path, size, mtime_ns, inode, blake2b, sha256 FROM file_digests "
            "WHERE blake2b = ?",
            (blake2b,),
        )
        return [_file_record(row) for row in rows]

    def with_blake2b_in(self, blake2bs: list[str]) -> list[FileRecord]:
        """Every file on record with any of these contents: one query per 500 of them."""
        return self._where_in("blake2b", blake2bs)

    def _where_in(self, column: str, values: list[str]) -> list[FileRecord]:
        """The records whose `column` is one of `values`: one query per 500 values."""
        found: list[FileRecord] = []
        for start in range(0, len(values), self._BATCH):
            batch = values[start : start + self._BATCH]
            rows = self._store.query(
                "SELECT path, size, mtime_ns, inode, blake2b, sha256 FROM file_digests "
                f"WHERE {column} IN ({', '.join('?' * len(batch))})",
                tuple(batch),
            )
            found.extend(map(_file_record, rows))
        return found

    def keep(self, record: FileRecord) -> None:
        """Record it, replacing what was recorded for the same key."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.path,
                    record.size,
                    record.mtime_ns,
                    record.inode,
                    record.blake2b,
                    record.sha256,
                ),
            )


class FetchedFiles:
    """fetched: each fetched file's ctime when fetch last placed or read it."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def ctime_ns(self, path: Path) -> int | None:
        """The file's ctime when fetch last placed or read it, or None."""
        rows = self._store.query("SELECT ctime_ns FROM fetched WHERE path = ?", (str(path),))
        return int(str(rows[0][0])) if rows else None

    def keep(self, path: Path, ctime_ns: int) -> None:
        """Record it, replacing what was recorded for the same key."""
        with self._store.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO fetched VALUES (?, ?)", (str(path), ctime_ns))


class Conversion(msgspec.Struct, frozen=True):
    """What convert wrote for a row: its output, the key of its inputs, the output's stat."""

    output: str
    key: str
    size: int
    mtime_ns: int


class Conversions:
    """conversions: the outputs convert wrote, each with the key of what it was made from."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def of(self, output: Path) -> Conversion | None:
        """The record of this key, or None."""
        rows = self._store.query(
            "SELECT output, key, size, mtime_ns FROM conversions WHERE output = ?",
            (str(output),),
        )
        if not rows:
            return None
        output_, key, size, mtime_ns = rows[0]
        return Conversion(str(output_), str(key), int(str(size)), int(str(mtime_ns)))

    def outputs(self) -> list[str]:
        """Every output convert has on record."""
        return [str(output) for (output,) in self._store.query("SELECT output FROM conversions")]

    def keep(self, conversion: Conversion) -> None:
        """Record it, replacing what was recorded for the same key."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO conversions VALUES (?, ?, ?, ?)",
                (conversion.output, conversion.key, conversion.size, conversion.mtime_ns),
            )

    def forget(self, output: str) -> None:
        """Drop the record."""
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM conversions WHERE output = ?", (output,))


class Notices:
    """notices_given: the notices a stage already gave in this workspace, by name."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def given(self, name: str) -> bool:
        return bool(self._store.query("SELECT 1 FROM notices_given WHERE notice = ?", (name,)))

    def keep(self, name: str) -> None:
        with self._store.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO notices_given VALUES (?)", (name,))


class InterfaceSchemas:
    """interface_schemas: a NeuroConv interface's description (JSON) by the readers' versions."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def of(self, versions: str, name: str) -> str | None:
        rows = self._store.query(
            "SELECT description FROM interface_schemas WHERE versions = ? AND name = ?",
            (versions, name),
        )
        return str(rows[0][0]) if rows else None

    def keep(self, versions: str, name: str, description: str) -> None:
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO interface_schemas VALUES (?, ?, ?)",
                (versions, name, description),
            )


class Inspections:
    """Findings by (content, setup); the contents that passed the workspace's gate, and those
    that passed the checks DANDI applies as DANDI applies them."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def result(self, content: str, setup: str) -> dict[str, Any] | None:
        """The findings of this content under this setup, or None when it was never inspected so."""
        rows = self._store.query(
            "SELECT result FROM inspection_results WHERE content = ? AND setup = ?",
            (content, setup),
        )
        return json.loads(str(rows[0][0])) if rows else None

    def keep_result(self, content: str, setup: str, result: dict[str, Any]) -> None:
        """Record the findings of this content under this setup."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO inspection_results VALUES (?, ?, ?)",
                (content, setup, json.dumps(result)),
            )

    def mark_passed(self, contents: Iterable[str], *, as_dandi_checks: bool = False) -> None:
        """Record contents that passed the workspace's gate (or, `as_dandi_checks`, DANDI's)."""
        table = "dandi_checks_passed" if as_dandi_checks else "inspection_passed"
        with self._store.transaction() as conn:
            conn.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?)", [(c,) for c in contents])

    def passed(self, content: str) -> bool:
        """The content passed `publishkit inspect` in this workspace (its own gate)."""
        return bool(
            self._store.query("SELECT 1 FROM inspection_passed WHERE content = ?", (content,))
        )

    def passed_dandi_checks(self, content: str) -> bool:
        """The content passed the checks DANDI applies, as DANDI applies them: dandi-cli need
        not validate it again at upload."""
        return bool(
            self._store.query("SELECT 1 FROM dandi_checks_passed WHERE content = ?", (content,))
        )


class NwbSummaries:
    """nwb_summaries: each NWB content's encoded summary (None: not readable as NWB), and
    nwb_unreadable: why one is not, for one summary version."""

    _BATCH = 500  # contents per query (SQLite allows 999 parameters)

    def __init__(self, store: StateStore, version: int) -> None:
        self._store = store
        self._version = version

    def of(self, contents: Iterable[str]) -> dict[str, str | None]:
        """The summaries on record of these contents (those without a record left out)."""
        rows = self._rows("SELECT content, summary FROM nwb_summaries", contents)
        return {str(c): None if s is None else str(s) for c, s in rows}

    def reasons(self, contents: Iterable[str]) -> dict[str, str]:
        """Why each of these contents cannot be read as NWB, where that is on record."""
        return {
            str(c): str(w)
            for c, w in self._rows("SELECT content, why FROM nwb_unreadable", contents)
        }

    def _rows(self, select: str, contents: Iterable[str]) -> list[tuple[object, ...]]:
        wanted = sorted(set(contents))
        found: list[tuple[object, ...]] = []
        for start in range(0, len(wanted), self._BATCH):
            batch = wanted[start : start + self._BATCH]
            marks = ", ".join("?" * len(batch))
            found += self._store.query(
                f"{select} WHERE version = ? AND content IN ({marks})", (self._version, *batch)
            )
        return found

    def keep(self, summaries: dict[str, str | None]) -> None:
        """Record these summaries, replacing what was recorded for the same contents."""
        self._keep("nwb_summaries", summaries)

    def keep_reasons(self, reasons: dict[str, str]) -> None:
        """Record why these contents cannot be read as NWB."""
        self._keep("nwb_unreadable", reasons)

    def _keep(self, table: str, records: Mapping[str, str | None]) -> None:
        """Not durable (no sync to disk, ~2 ms each): a record lost with the machine's power
        only means the file is read again."""
        if not records:
            return
        with self._store.transaction(durable=False) as conn:
            conn.executemany(
                f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)",
                [(content, self._version, text) for content, text in records.items()],
            )


class DandiNames:
    """dandi_names: the DANDI name of a content under a setup (required fields, dandi's
    version), so an unchanged file is not read again to name it."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def of(self, content: str, setup: str) -> str | None:
        """The record of this key, or None."""
        rows = self._store.query(
            "SELECT name FROM dandi_names WHERE content = ? AND setup = ?", (content, setup)
        )
        return str(rows[0][0]) if rows else None

    def keep(self, content: str, setup: str, name: str) -> None:
        """Record it, replacing what was recorded for the same key."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO dandi_names VALUES (?, ?, ?)", (content, setup, name)
            )


class OrganizedPaths:
    """organized: each workspace NWB file (relative path) -> its path in the dandiset folder."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def paths(self) -> dict[str, str]:
        """source (relative to the workspace) -> dandiset path, as last organized."""
        rows = self._store.query("SELECT source, dandi_path FROM organized")
        return {str(source): str(name) for source, name in rows}

    def keep(self, source: str, dandi_path: str, blake2b: str) -> None:
        """Record it, replacing what was recorded for the same key."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO organized VALUES (?, ?, ?)", (source, dandi_path, blake2b)
            )

    def forget(self, source: str) -> None:
        """Drop the record."""
        with self._store.transaction() as conn:
            conn.execute("DELETE FROM organized WHERE source = ?", (source,))


class DandiAsset(msgspec.Struct, frozen=True):
    """What a dandiset path holds on DANDI, as publishkit uploaded it."""

    asset_id: str
    blake2b: str
    etag: str


class DandiAssets:
    """dandi_uploads: what each dandiset path holds on each dandiset."""

    def __init__(self, store: StateStore, dandiset: str | None) -> None:
        self._store = store
        self._dandiset = dandiset

    def all(self) -> dict[str, DandiAsset]:
        """dandiset path -> its asset, for what was last uploaded to this dandiset."""
        if self._dandiset is None:
            return {}
        rows = self._store.query(
            "SELECT dandi_path, asset_id, blake2b, etag FROM dandi_uploads WHERE dandiset = ?",
            (self._dandiset,),
        )
        return {str(p): DandiAsset(str(a), str(b), str(e)) for p, a, b, e in rows}

    def keep(self, dandi_path: str, asset: DandiAsset) -> None:
        """Record it, replacing what was recorded for the same key."""
        with self._store.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO dandi_uploads VALUES (?, ?, ?, ?, ?)",
                (dandi_path, self._dandiset, asset.blake2b, asset.asset_id, asset.etag),
            )

    def forget(self, dandi_path: str) -> None:
        """Drop the record."""
        with self._store.transaction() as conn:
            conn.execute(
                "DELETE FROM dandi_uploads WHERE dandi_path = ? AND dandiset = ?",
                (dandi_path, self._dandiset),
            )


def _file_record(row: tuple[object, ...]) -> FileRecord:
    path, size, mtime_ns, inode, blake2b, sha256 = row
    return FileRecord(
        str(path), int(str(size)), int(str(mtime_ns)), int(str(inode)), str(blake2b), str(sha256)
    )
