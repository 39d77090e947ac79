"""The local archive's SQLite file: its tables, one connection and one lock, and the API key of
its only user (`store` and `lifecycle` read and write the rest)."""

from __future__ import annotations

import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dandisets (
    id INTEGER PRIMARY KEY,
    embargo_status TEXT NOT NULL DEFAULT 'OPEN',
    created TEXT NOT NULL,
    modified TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS versions (
    dandiset_id INTEGER NOT NULL REFERENCES dandisets (id),
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    status TEXT NOT NULL,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    validation_errors TEXT NOT NULL DEFAULT '[]',
    release_notes TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (dandiset_id, version)
);
CREATE TABLE IF NOT EXISTS blobs (
    blob_id TEXT PRIMARY KEY,
    object_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT,
    created TEXT NOT NULL,
    UNIQUE (etag, size)
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    multipart_upload_id TEXT NOT NULL,
    object_key TEXT NOT NULL,
    etag TEXT NOT NULL,
    size INTEGER NOT NULL,
    dandiset_id INTEGER NOT NULL REFERENCES dandisets (id),
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS assets (
    asset_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    blob_id TEXT NOT NULL REFERENCES blobs (blob_id),
    metadata TEXT NOT NULL,
    previous TEXT,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'Pending',
    validation_errors TEXT NOT NULL DEFAULT '[]',
    published INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS version_assets (
    dandiset_id INTEGER NOT NULL,
    version TEXT NOT NULL,
    asset_id TEXT NOT NULL REFERENCES assets (asset_id),
    PRIMARY KEY (dandiset_id, version, asset_id)
);
"""


# Columns added since the first archive files were written: (table, column, definition).
_ADDED = (("versions", "release_notes", "TEXT NOT NULL DEFAULT ''"),)


def _add_missing_columns(db: sqlite3.Connection) -> None:
    """An archive file written before a column was added gets it (its default in every row)."""
    for table, column, definition in _ADDED:
        columns = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in columns:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")


class Database:
    """Thread-safe access to one SQLite file (one connection, one lock)."""

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)
            _add_missing_columns(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._conn:
            yield self._conn

    def api_key(self) -> str:
        """The API key of the archive's only user, made on first use and kept in the database."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM settings WHERE key = 'api_key'").fetchone()
            if row is not None:
                return str(row["value"])
            key = secrets.token_hex(20)  # like the archive's 40-hex-digit tokens
            db.execute("INSERT INTO settings (key, value) VALUES ('api_key', ?)", (key,))
            return key
