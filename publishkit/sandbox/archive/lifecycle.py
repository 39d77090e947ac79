"""Statuses in the local archive's SQLite file, as dandi-archive keeps them.

A change to the draft (its metadata, an asset added or removed) makes it Pending; a new asset is
Pending. The archive's tasks (`tasks`) validate what is Pending, and publish a draft locked for
publishing: the new version holds the draft's assets, which become published (immutable), and
the draft is Published until it changes again.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import msgspec

from publishkit.sandbox.archive.db import Database
from publishkit.sandbox.archive.rows import (
    DRAFT,
    PENDING,
    PUBLISHED,
    PUBLISHING,
    VALID,
    AssetRow,
    VersionRow,
    asset_row,
    now,
    version_row,
)

ASSET_SELECT = (
    "SELECT a.asset_id, a.path, a.metadata, a.previous, a.created AS a_created,"
    " a.modified AS a_modified, a.status, a.validation_errors, a.published, b.*"
    " FROM assets a JOIN blobs b ON b.blob_id = a.blob_id"
)


class PublishLock(msgspec.Struct, frozen=True):
    """What the draft was found in when a publish was asked for, and whether it was locked."""

    status: str
    assets_valid: bool
    locked: bool


class Lifecycle(Database):
    """Validation statuses and errors, publishing, and deleting dandisets."""

    def validatable_assets(self) -> list[AssetRow]:
        """Pending assets whose blob's sha256 is known (the archive waits for it)."""
        with self._tx() as db:
            rows = db.execute(
                ASSET_SELECT + " WHERE a.status = ? AND a.published = 0"
                " AND b.sha256 IS NOT NULL ORDER BY a.created",
                (PENDING,),
            ).fetchall()
        return [asset_row(row) for row in rows]

    def set_asset_validation(self, asset_id: str, status: str, errors: list[Any]) -> bool:
        """Record an asset's validation, unless it changed meanwhile; True if recorded."""
        with self._tx() as db:
            updated = db.execute(
                "UPDATE assets SET status = ?, validation_errors = ?"
                " WHERE asset_id = ? AND status = ? AND published = 0",
                (status, json.dumps(errors), asset_id, PENDING),
            ).rowcount
            if updated:
                db.execute(
                    "UPDATE versions SET modified = ? WHERE version = ? AND dandiset_id IN"
                    " (SELECT dandiset_id FROM version_assets WHERE asset_id = ? AND version = ?)",
                    (now(), DRAFT, asset_id, DRAFT),
                )
        return bool(updated)

    def drafts_with(self, status: str) -> list[VersionRow]:
        """The drafts in this status."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT * FROM versions WHERE version = ? AND status = ? ORDER BY dandiset_id",
                (DRAFT, status),
            ).fetchall()
        return [version_row(row) for row in rows]

    def set_draft_status(
        self, number: int, status: str, *, was: str, errors: list[Any] | None = None
    ) -> bool:
        """Move the draft from status `was` to `status` (with its validation errors, when
        given); False when it is no longer in `was` (it changed meanwhile)."""
        with self._tx() as db:
            if errors is None:
                cursor = db.execute(
                    "UPDATE versions SET status = ?"
                    " WHERE dandiset_id = ? AND version = ? AND status = ?",
                    (status, number, DRAFT, was),
                )
            else:
                cursor = db.execute(
                    "UPDATE versions SET status = ?, validation_errors = ?, modified = ?"
                    " WHERE dandiset_id = ? AND version = ? AND status = ?",
                    (status, json.dumps(errors), now(), number, DRAFT, was),
                )
        return bool(cursor.rowcount)

    def lock_for_publishing(self, number: int, release_notes: str = "") -> PublishLock:
        """The draft locked (Publishing) when it is publishable: Valid, and every asset
        Valid (dandiapi's _lock_dandiset_for_publishing); then `release_notes` kept on the
        draft for the version it publishes (dandiapi's publish_dandiset)."""
        with self._tx() as db:
            row = db.execute(
                "SELECT status FROM versions WHERE dandiset_id = ? AND version = ?",
                (number, DRAFT),
            ).fetchone()
            invalid = db.execute(
                "SELECT COUNT(*) AS n FROM version_assets va JOIN assets a"
                " ON a.asset_id = va.asset_id WHERE va.dandiset_id = ? AND va.version = ?"
                " AND a.status != ?",
                (number, DRAFT, VALID),
            ).fetchone()
            status, assets_valid = str(row["status"]), int(invalid["n"]) == 0
            locked = status == VALID and assets_valid
            if locked:
                db.execute(
                    "UPDATE versions SET status = ?, release_notes = ?"
                    " WHERE dandiset_id = ? AND version = ?",
                    (PUBLISHING, release_notes, number, DRAFT),
                )
        return PublishLock(status, assets_valid, locked)

    def publish_draft(
        self, number: int, version: str, metadata: dict[str, Any], published: dict[str, Any]
    ) -> None:
        """Version `version` made of the locked draft: its metadata, the draft's assets (the
        unpublished ones become published, with `published` added to their metadata); the
        draft is Published."""
        stamp = now()
        with self._tx() as db:
            draft = db.execute(
                "SELECT name FROM versions WHERE dandiset_id = ? AND version = ?",
                (number, DRAFT),
            ).fetchone()
            db.execute(
                "INSERT INTO versions (dandiset_id, version, name, metadata, status, created,"
                " modified) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (number, version, draft["name"], json.dumps(metadata), VALID, stamp, stamp),
            )
            db.execute(
                "INSERT INTO version_assets SELECT dandiset_id, ?, asset_id FROM version_assets"
                " WHERE dandiset_id = ? AND version = ?",
                (version, number, DRAFT),
            )
            unpublished = db.execute(
                "SELECT a.asset_id, a.metadata FROM assets a JOIN version_assets va"
                " ON va.asset_id = a.asset_id WHERE va.dandiset_id = ? AND va.version = ?"
                " AND a.published = 0",
                (number, DRAFT),
            ).fetchall()
            for row in unpublished:
                body = {**json.loads(row["metadata"]), **published}
                db.execute(
                    "UPDATE assets SET published = 1, metadata = ? WHERE asset_id = ?",
                    (json.dumps(body), row["asset_id"]),
                )
            db.execute(
                "UPDATE versions SET status = ? WHERE dandiset_id = ? AND version = ?",
                (PUBLISHED, number, DRAFT),
            )

    def delete_dandiset(self, number: int) -> str | None:
        """Delete a dandiset that has no published version and is not being published; else
        the archive's reason not to."""
        with self._tx() as db:
            versions = db.execute(
                "SELECT version, status FROM versions WHERE dandiset_id = ?", (number,)
            ).fetchall()
            if any(row["version"] != DRAFT for row in versions):
                return "Cannot delete dandisets with published versions."
            if any(row["status"] == PUBLISHING for row in versions):
                return "Cannot delete dandisets that are currently being published."
            db.execute("DELETE FROM version_assets WHERE dandiset_id = ?", (number,))
            db.execute("DELETE FROM uploads WHERE dandiset_id = ?", (number,))
            db.execute("DELETE FROM versions WHERE dandiset_id = ?", (number,))
            db.execute("DELETE FROM dandisets WHERE id = ?", (number,))
        return None


def touch(db: sqlite3.Connection, number: int, version: str) -> None:
    """A change to a version: it needs validating again, and it and its dandiset are modified."""
    stamp = now()
    db.execute(
        "UPDATE versions SET status = ?, modified = ? WHERE dandiset_id = ? AND version = ?",
        (PENDING, stamp, number, version),
    )
    db.execute("UPDATE dandisets SET modified = ? WHERE id = ?", (stamp, number))
