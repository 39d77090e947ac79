"""The workspace's state store: one SQLite file under `.publishkit/`, and its tables."""

from publishkit.workspace.state.fetch_journal import (
    Intent,
    PartialDownloads,
    Placed,
    PlacedFiles,
    Written,
)
from publishkit.workspace.state.store import STATE_FILE, Batches, StateStore
from publishkit.workspace.state.tables import (
    Conversion,
    Conversions,
    DandiAsset,
    DandiAssets,
    DandiNames,
    FetchedFiles,
    FileDigestRecords,
    FileRecord,
    Inspections,
    InterfaceSchemas,
    Notices,
    NwbSummaries,
    OrganizedPaths,
)
from publishkit.workspace.state.uploads import FileIdentity, JournaledPart, OpenUpload, OpenUploads

__all__ = [
    "STATE_FILE",
    "Batches",
    "Conversion",
    "Conversions",
    "DandiAsset",
    "DandiAssets",
    "DandiNames",
    "FetchedFiles",
    "FileDigestRecords",
    "FileIdentity",
    "FileRecord",
    "Inspections",
    "Intent",
    "InterfaceSchemas",
    "JournaledPart",
    "Notices",
    "NwbSummaries",
    "OpenUpload",
    "OpenUploads",
    "OrganizedPaths",
    "PartialDownloads",
    "Placed",
    "PlacedFiles",
    "StateStore",
    "Written",
]
