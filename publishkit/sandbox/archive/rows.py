"""The local archive's records as values: what `store` reads out of SQLite."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

import msgspec

DRAFT = "draft"
# A version's status (dandiapi's Version.Status); an asset's is Pending, Validating, Valid or
# Invalid.
PENDING, VALIDATING, VALID, INVALID = "Pending", "Validating", "Valid", "Invalid"
PUBLISHING, PUBLISHED = "Publishing", "Published"


def now() -> str:
    """A timestamp as the archive's API writes them: ISO 8601, microseconds, UTC ``Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_dandiset_id(number: int) -> str:
    return f"{number:06d}"


class DandisetRow(msgspec.Struct, frozen=True):
    number: int
    embargo_status: str
    created: str
    modified: str

    @property
    def identifier(self) -> str:
        return format_dandiset_id(self.number)


class VersionRow(msgspec.Struct, frozen=True):
    dandiset: int
    version: str
    name: str
    metadata: dict[str, Any]
    status: str
    created: str
    modified: str
    validation_errors: list[dict[str, str]]
    release_notes: str = ""  # the draft's: the notes its next publish was asked with


class BlobRow(msgspec.Struct, frozen=True):
    blob_id: str
    object_key: str
    etag: str
    size: int
    sha256: str | None
    created: str


class UploadRow(msgspec.Struct, frozen=True):
    upload_id: str
    multipart_upload_id: str
    object_key: str
    etag: str
    size: int
    dandiset: int


class AssetRow(msgspec.Struct, frozen=True):
    asset_id: str
    path: str
    blob: BlobRow
    metadata: dict[str, Any]
    previous: str | None
    created: str
    modified: str
    status: str
    validation_errors: list[dict[str, str]]
    published: bool


def dandiset_row(row: sqlite3.Row) -> DandisetRow:
    return DandisetRow(int(row["id"]), row["embargo_status"], row["created"], row["modified"])


def version_row(row: sqlite3.Row) -> VersionRow:
    return VersionRow(
        dandiset=int(row["dandiset_id"]),
        version=row["version"],
        name=row["name"],
        metadata=json.loads(row["metadata"]),
        status=row["status"],
        created=row["created"],
        modified=row["modified"],
        validation_errors=json.loads(row["validation_errors"]),
        release_notes=row["release_notes"],
    )


def blob_row(row: sqlite3.Row) -> BlobRow:
    return BlobRow(
        blob_id=row["blob_id"],
        object_key=row["object_key"],
        etag=row["etag"],
        size=int(row["size"]),
        sha256=row["sha256"],
        created=row["created"],
    )


def asset_row(row: sqlite3.Row) -> AssetRow:
    return AssetRow(
        asset_id=row["asset_id"],
        path=row["path"],
        blob=blob_row(row),
        metadata=json.loads(row["metadata"]),
        previous=row["previous"],
        created=row["a_created"],
        modified=row["a_modified"],
        status=row["status"],
        validation_errors=json.loads(row["validation_errors"]),
        published=bool(row["published"]),
    )
