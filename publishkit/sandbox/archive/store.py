"""SQLite persistence for the local DANDI archive in `publishkit.sandbox.archive`.

Dandisets with their versions (only ``draft`` is ever created here), blobs (one per distinct
dandi-etag and size, stored in S3), pending multipart uploads, and assets, which are immutable:
changing an asset's blob or metadata makes a new asset that replaces the old one in the version,
as in the real archive.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from publishkit.sandbox.archive.rows import (
    DRAFT,
    AssetRow,
    BlobRow,
    DandisetRow,
    UploadRow,
    VersionRow,
    asset_row,
    blob_row,
    dandiset_row,
    now,
    version_row,
)

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
    modified TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS version_assets (
    dandiset_id INTEGER NOT NULL,
    version TEXT NOT NULL,
    asset_id TEXT NOT NULL REFERENCES assets (asset_id),
    PRIMARY KEY (dandiset_id, version, asset_id)
);
"""


class DandiStore:
    """Thread-safe access to one SQLite file (one connection, one lock)."""

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        with self._lock, self._conn:
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._conn:
            yield self._conn

    # -- the one user ---------------------------------------------------------------------

    def api_key(self) -> str:
        """The API key of the archive's only user, made on first use and kept in the database."""
        with self._tx() as db:
            row = db.execute("SELECT value FROM settings WHERE key = 'api_key'").fetchone()
            if row is not None:
                return str(row["value"])
            key = secrets.token_hex(20)  # like the archive's 40-hex-digit tokens
            db.execute("INSERT INTO settings (key, value) VALUES ('api_key', ?)", (key,))
            return key

    # -- dandisets and versions -----------------------------------------------------------

    def create_dandiset(self, name: str, metadata: dict[str, Any] | None = None) -> DandisetRow:
        stamp = now()
        with self._tx() as db:
            cursor = db.execute(
                "INSERT INTO dandisets (created, modified) VALUES (?, ?)", (stamp, stamp)
            )
            number = int(cursor.lastrowid or 0)
            body = {**(metadata or {}), "name": name}
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, 'Pending', ?, ?)",
                (number, DRAFT, name, json.dumps(body), stamp, stamp),
            )
        dandiset = self.get_dandiset(number)
        assert dandiset is not None
        return dandiset

    def get_dandiset(self, number: int) -> DandisetRow | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM dandisets WHERE id = ?", (number,)).fetchone()
        return None if row is None else dandiset_row(row)

    def list_dandisets(self) -> list[DandisetRow]:
        with self._tx() as db:
            rows = db.execute("SELECT * FROM dandisets ORDER BY id").fetchall()
        return [dandiset_row(row) for row in rows]

    def get_version(self, number: int, version: str) -> VersionRow | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM versions WHERE dandiset_id = ? AND version = ?", (number, version)
            ).fetchone()
        return None if row is None else version_row(row)

    def list_versions(self, number: int) -> list[VersionRow]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM versions WHERE dandiset_id = ? ORDER BY created", (number,)
            ).fetchall()
        return [version_row(row) for row in rows]

    def set_version_metadata(
        self, number: int, version: str, name: str, metadata: dict[str, Any]
    ) -> None:
        with self._tx() as db:
            db.execute(
                "UPDATE versions SET name = ?, metadata = ? WHERE dandiset_id = ? AND version = ?",
                (name, json.dumps(metadata), number, version),
            )
            _touch(db, number, version)

    def version_stats(self, number: int, version: str) -> tuple[int, int]:
        """How many assets the version holds, and their total size in bytes."""
        with self._tx() as db:
            row = db.execute(
                "SELECT COUNT(*) AS n, COALESCE(SUM(b.size), 0) AS size FROM version_assets va"
                " JOIN assets a ON a.asset_id = va.asset_id JOIN blobs b ON b.blob_id = a.blob_id"
                " WHERE va.dandiset_id = ? AND va.version = ?",
                (number, version),
            ).fetchone()
        return int(row["n"]), int(row["size"])

    # -- blobs and uploads ----------------------------------------------------------------

    def get_blob(self, blob_id: str) -> BlobRow | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM blobs WHERE blob_id = ?", (blob_id,)).fetchone()
        return None if row is None else blob_row(row)

    def find_blob(self, *, etag: str | None = None, sha256: str | None = None) -> BlobRow | None:
        column, value = ("etag", etag) if etag is not None else ("sha256", sha256)
        with self._tx() as db:
            row = db.execute(
                f"SELECT * FROM blobs WHERE {column} = ? ORDER BY created LIMIT 1", (value,)
            ).fetchone()
        return None if row is None else blob_row(row)

    def create_upload(
        self,
        upload_id: str,
        multipart_upload_id: str,
        object_key: str,
        etag: str,
        size: int,
        number: int,
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
                (upload_id, multipart_upload_id, object_key, etag, size, number, now()),
            )

    def get_upload(self, upload_id: str) -> UploadRow | None:
        with self._tx() as db:
            row = db.execute("SELECT * FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        if row is None:
            return None
        return UploadRow(
            upload_id=row["upload_id"],
            multipart_upload_id=row["multipart_upload_id"],
            object_key=row["object_key"],
            etag=row["etag"],
            size=int(row["size"]),
            dandiset=int(row["dandiset_id"]),
        )

    def upload_to_blob(self, upload: UploadRow, sha256: str | None) -> BlobRow:
        """Mint the blob of a verified upload (or find the one another upload minted first)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT * FROM blobs WHERE etag = ? AND size = ?", (upload.etag, upload.size)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO blobs VALUES (?, ?, ?, ?, ?, ?)",
                    (upload.upload_id, upload.object_key, upload.etag, upload.size, sha256, now()),
                )
                row = db.execute(
                    "SELECT * FROM blobs WHERE blob_id = ?", (upload.upload_id,)
                ).fetchone()
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload.upload_id,))
        return blob_row(row)

    # -- assets ---------------------------------------------------------------------------

    def get_asset(self, asset_id: str) -> AssetRow | None:
        with self._tx() as db:
            row = db.execute(_ASSET_SELECT + " WHERE a.asset_id = ?", (asset_id,)).fetchone()
        return None if row is None else asset_row(row)

    def version_assets(self, number: int, version: str) -> list[AssetRow]:
        with self._tx() as db:
            rows = db.execute(
                _ASSET_SELECT + " JOIN version_assets va ON va.asset_id = a.asset_id"
                " WHERE va.dandiset_id = ? AND va.version = ? ORDER BY a.created, a.asset_id",
                (number, version),
            ).fetchall()
        return [asset_row(row) for row in rows]

    def in_version(self, number: int, version: str, asset_id: str) -> bool:
        with self._tx() as db:
            row = db.execute(
                "SELECT 1 FROM version_assets"
                " WHERE dandiset_id = ? AND version = ? AND asset_id = ?",
                (number, version, asset_id),
            ).fetchone()
        return row is not None

    def add_asset(
        self,
        number: int,
        version: str,
        path: str,
        blob_id: str,
        metadata: dict[str, Any],
        *,
        replacing: str | None = None,
    ) -> AssetRow:
        """A new asset in the version, taking the place of asset `replacing` if given."""
        asset_id = str(uuid.uuid4())
        stamp = now()
        with self._tx() as db:
            if replacing is not None:
                _remove(db, number, version, replacing)
            db.execute(
                "INSERT INTO assets VALUES (?, ?, ?, ?, ?, ?, ?)",
                (asset_id, path, blob_id, json.dumps(metadata), replacing, stamp, stamp),
            )
            db.execute("INSERT INTO version_assets VALUES (?, ?, ?)", (number, version, asset_id))
            _touch(db, number, version)
        asset = self.get_asset(asset_id)
        assert asset is not None
        return asset

    def remove_asset(self, number: int, version: str, asset_id: str) -> None:
        with self._tx() as db:
            _remove(db, number, version, asset_id)
            _touch(db, number, version)


_ASSET_SELECT = (
    "SELECT a.asset_id, a.path, a.metadata, a.previous, a.created AS a_created,"
    " a.modified AS a_modified, b.* FROM assets a JOIN blobs b ON b.blob_id = a.blob_id"
)


def _remove(db: sqlite3.Connection, number: int, version: str, asset_id: str) -> None:
    db.execute(
        "DELETE FROM version_assets WHERE dandiset_id = ? AND version = ? AND asset_id = ?",
        (number, version, asset_id),
    )


def _touch(db: sqlite3.Connection, number: int, version: str) -> None:
    """A change to a version: it needs validating again, and it and its dandiset are modified."""
    stamp = now()
    db.execute(
        "UPDATE versions SET status = 'Pending', modified = ?"
        " WHERE dandiset_id = ? AND version = ?",
        (stamp, number, version),
    )
    db.execute("UPDATE dandisets SET modified = ? WHERE id = ?", (stamp, number))
