"""`publishkit export file-manifest`: one CSV row per data file, where to get it on DANDI and S3.

Like the file manifest of the Allen Institute's Patch-seq archives: each file's id, its dandiset
path and DANDI URL (`archive_uri`, which `dandi download` accepts: the asset as the draft has it,
or, pinned, in the published DANDI version the release records), and its S3 URL pinned to the
version the release manifest records.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from publishkit.errors import UsageError
from publishkit.formats import manifest
from publishkit.formats.dandi_instances import dandi_api_url
from publishkit.local_files import write_atomic

COLUMNS = (
    "file_id",
    "file_path",
    "file_hash",
    "dandiset_id",
    "dandi_path",
    "archive_uri",
    "s3_url",
)


def latest_local_manifest(folder: Path) -> Path:
    """The newest manifest in a workspace's manifests/ folder; a UsageError when there is none."""
    found = {
        version: path
        for path in folder.glob("*_project_manifest_v*.json")
        if (version := manifest.version_from_name(path.name)) is not None
    }
    if not found:
        raise UsageError(f"{folder}: no release manifests yet", hint="cut a release first")
    return found[max(found)]


def file_manifest(
    document: dict[str, Any], dandi_api: str | None, id_column: str, *, pinned: bool = False
) -> str:
    """The CSV text: data files sorted by id; `pinned`: archive_uri in the published DANDI
    version the manifest records, not the draft."""
    version = document["dandi"]["version"] if pinned else None
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[id_column, *COLUMNS[1:]], lineterminator="\n")
    writer.writeheader()
    for file_id in sorted(document["data_files"]):
        entry = document["data_files"][file_id]
        writer.writerow(
            {
                id_column: file_id,
                "file_path": manifest.entry_relpath(entry),
                "file_hash": entry["file_hash"],
                "dandiset_id": entry.get("dandiset_id", ""),
                "dandi_path": entry.get("dandi_asset_path", ""),
                "archive_uri": _archive_uri(dandi_api, entry, version),
                "s3_url": f"{entry['url']}?versionId={entry['version_id']}",
            }
        )
    return buffer.getvalue()


def _archive_uri(dandi_api: str | None, entry: dict[str, Any], version: str | None) -> str:
    asset = entry.get("dandi_asset_id")
    if not (asset and dandi_api):
        return ""
    if version is None:
        return f"{dandi_api}/assets/{asset}/download/"
    where = f"{dandi_api}/dandisets/{entry['dandiset_id']}/versions/{version}"
    return f"{where}/assets/{asset}/download/"


def export_file_manifest(
    *,
    manifest_path: Path,
    output: Path,
    dandi_instance: str | None,
    id_column: str,
    pinned: bool = False,
) -> int:
    """Write the CSV for `manifest_path`; returns the number of rows. `pinned`: each asset in
    the published DANDI version the manifest records (refused when it records none)."""
    document = manifest.load(manifest_path)
    if pinned and "dandi" not in document:
        raise UsageError(
            f"{manifest_path}: records no published DANDI version to pin",
            hint="release with dandi: {publish: true} first, or leave out --pin-dandi-version",
        )
    instance = document["dandi"]["instance"] if pinned else dandi_instance
    text = file_manifest(document, dandi_api_url(instance), id_column, pinned=pinned)
    write_atomic(output, text)
    return len(document["data_files"])
