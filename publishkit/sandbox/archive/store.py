"""SQLite persistence for the local DANDI archive in `publishkit.sandbox.archive`.

Dandisets with their versions (a draft, and the versions published from it), blobs (one per
distinct dandi-etag and size, stored in S3), pending multipart uploads, and assets, which are
immutable: changing an asset's blob or metadata makes a new asset that replaces the old one in
the draft, as in the real archive. Statuses, validation and publishing: `lifecycle`.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from typing import Any

from publishkit.sandbox.archive.lifecycle import ASSET_SELECT, Lifecycle, touch
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


class DandiStore(Lifecycle):
    """Dandisets, versions, blobs, uploads and assets, in one SQLite file."""

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
                "INSERT INTO versions (dandiset_id, version, name, metadata, status, created,"
                " modified) VALUES (?, ?, ?, ?, 'Pending', ?, ?)",
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
    ) -> bool:
        """The version's name and metadata, and Pending again, if they differ; True if so."""
        with self._tx() as db:
            row = db.execute(
                "SELECT name, metadata FROM versions WHERE dandiset_id = ? AND version = ?",
                (number, version),
            ).fetchone()
            if (row["name"], json.loads(row["metadata"])) == (name, metadata):
                return False
            db.execute(
                "UPDATE versions SET name = ?, metadata = ? WHERE dandiset_id = ? AND version = ?",
                (name, json.dumps(metadata), number, version),
            )
            touch(db, number, version)
        return True

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
            row = db.execute(ASSET_SELECT + " WHERE a.asset_id = ?", (asset_id,)).fetchone()
        return None if row is None else asset_row(row)

    def version_assets(self, number: int, version: str) -> list[AssetRow]:
        with self._tx() as db:
            rows = db.execute(
                ASSET_SELECT + " JOIN version_assets va ON va.asset_id = a.asset_id"
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
                "INSERT INTO assets (asset_id, path, blob_id, metadata, previous, created,"
                " modified) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (asset_id, path, blob_id, json.dumps(metadata), replacing, stamp, stamp),
            )
            db.execute("INSERT INTO version_assets VALUES (?, ?, ?)", (number, version, asset_id))
            touch(db, number, version)
        asset = self.get_asset(asset_id)
        assert asset is not None
        return asset

    def remove_asset(self, number: int, version: str, asset_id: str) -> None:
        with self._tx() as db:
            _remove(db, number, version, asset_id)
            touch(db, number, version)


def _remove(db: sqlite3.Connection, number: int, version: str, asset_id: str) -> None:
    db.execute(
        "DELETE FROM version_assets WHERE dandiset_id = ? AND version = ? AND asset_id = ?",
        (number, version, asset_id),
    )
