"""The manifest a release is about to publish, while its files are being uploaded.

Entries whose content the previous manifest already pins are carried over with their version
IDs; the others are pending until the upload (or an adopted earlier upload) pins them.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from publishkit import __version__
from publishkit.formats import manifest
from publishkit.formats.manifest import GROUP_KEY, DandiRelease, Entry, Manifest
from publishkit.workspace.config import Settings
from publishkit.workspace.digests import FileDigests
from publishkit.workspace.inventory import ReleaseFile


class DandiEntry(msgspec.Struct, frozen=True):
    """A data file's DANDI asset, as the manifest records it, and the content uploaded."""

    dandiset_id: str
    dandi_asset_path: str
    dandi_asset_id: str
    blake2b: str


class Draft:
    """The draft manifest of a release and the files it lists."""

    def __init__(
        self, document: Manifest, files: list[ReleaseFile], digests: dict[str, FileDigests]
    ) -> None:
        self.document = document
        self._files = files
        self._digests = digests

    def entry(self, item: ReleaseFile) -> Entry:
        """The draft's manifest entry of `item`."""
        return self.document[GROUP_KEY[item.group]][item.name]  # type: ignore[literal-required]

    def pending(self) -> list[ReleaseFile]:
        """The files whose content no version pins yet: what must be uploaded."""
        return [item for item in self._files if not self.entry(item)["version_id"]]

    def is_new(self, item: ReleaseFile) -> bool:
        """The file was not in the previous manifest at all (not merely changed)."""
        return self.entry(item).get("previous_version_id", "") is None

    def pin(self, item: ReleaseFile, version_id: str) -> None:
        """Pin the S3 version that holds the file's content."""
        entry = self.entry(item)
        entry["version_id"] = version_id
        entry["created"] = now()

    def record_dandi_assets(self, on_dandi: dict[str, DandiEntry]) -> None:
        """Record each data file's DANDI asset as the archive has it now (`on_dandi`: workspace
        path -> its asset as last uploaded, e.g. just after this run's DANDI upload): recorded
        when the asset has the content the release hashed, dropped otherwise."""
        for item in self._files:
            if item.group == "data":
                asset, digest = on_dandi.get(item.relpath), self._digests[item.relpath]
                _record_asset(self.entry(item), asset, digest)

    def record_dandi(self, dandi: DandiRelease, assets: dict[str, str]) -> None:
        """Record the DANDI version the release was published with, and each data file's
        asset there (`assets`: path -> asset id); a file not in that version records none."""
        self.document["dandi"] = dandi
        for entry in self.document["data_files"].values():
            path = entry.get("dandi_asset_path")
            if path is None:
                continue
            if path in assets:
                entry["dandi_asset_id"] = assets[path]
            else:
                for key in ("dandiset_id", "dandi_asset_path", "dandi_asset_id"):
                    entry.pop(key, None)  # type: ignore[misc]

    def versioned(self, version: str) -> Manifest:
        """The document as manifest `version` publishes it."""
        self.document["manifest_version"] = version
        return self.document


def draft_manifest(
    settings: Settings,
    files: list[ReleaseFile],
    digests: dict[str, FileDigests],
    previous: Manifest | None,
    on_dandi: dict[str, DandiEntry],
) -> Draft:
    """The next manifest: unchanged entries carried over with their version IDs, changed and
    new ones pending; a data file's DANDI asset recorded when DANDI has its current content."""
    carried: dict[str, Entry] = {}
    for entries in (previous["metadata_files"], previous["data_files"]) if previous else ():
        for earlier in entries.values():
            carried[manifest.entry_relpath(dict(earlier))] = earlier
    document: Manifest = {
        "project_name": settings.project,
        "manifest_version": "0.0.0",
        "metadata_file_id_column_name": settings.id_column,
        "data_pipeline": [
            {"name": "publishkit", "version": __version__, "comment": "cut by publishkit release"}
        ],
        "previous_manifest_version": previous["manifest_version"] if previous else None,
        "created": now(),
        "metadata_files": {},
        "data_files": {},
    }
    for item in files:
        digest = digests[item.relpath]
        entry: Entry = {
            "url": manifest.public_url(
                settings.s3.public_url,
                bucket=settings.s3.bucket,
                region=settings.s3.region,
                key=settings.s3.key(item.relpath),
            ),
            "path": item.relpath,
            "file_hash": digest.blake2b,
            "sha256": digest.sha256,
            "size": digest.size,
            "version_id": "",
        }
        old = carried.get(item.relpath)
        if old is not None and old["file_hash"] == digest.blake2b:
            entry["version_id"] = old["version_id"]
            if old.get("created"):
                entry["created"] = old["created"]
        else:
            entry["previous_version_id"] = old["version_id"] if old else None
        if item.group == "data":
            _record_asset(entry, on_dandi.get(item.relpath), digest)
        document[GROUP_KEY[item.group]][item.name] = entry  # type: ignore[literal-required]
    return Draft(document, files, digests)


def _record_asset(entry: Entry, asset: DandiEntry | None, digest: FileDigests) -> None:
    """A data file's DANDI asset in its entry when the asset has the file's content, else none."""
    if asset is not None and asset.blake2b == digest.blake2b:
        entry["dandiset_id"] = asset.dandiset_id
        entry["dandi_asset_path"] = asset.dandi_asset_path
        entry["dandi_asset_id"] = asset.dandi_asset_id
    else:
        for key in ("dandiset_id", "dandi_asset_path", "dandi_asset_id"):
            entry.pop(key, None)  # type: ignore[misc]


def now() -> str:
    """The current UTC time as manifests record it (ISO 8601, seconds, Z)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
