"""What `publishkit ls` and `publishkit show` report: a release's files with their summaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from publishkit.formats.summaries import Summary
from publishkit.reading.release import PublishedFile, Release, open_release
from publishkit.s3.pinned import ReadSettings

# the summary fields `ls` shows for each NWB file: (section, field)
LISTED_FIELDS = (
    ("session", "session_id"),
    ("session", "session_start_time"),
    ("subject", "subject_id"),
    ("subject", "species"),
)


class ListedFile(msgspec.Struct, frozen=True):
    """One file of a release, and its NWB summary when the release published one."""

    file: PublishedFile
    summary: Summary | None

    def fields(self) -> dict[str, Any]:
        """The summary fields `ls` shows, and the number of units when the file has them."""
        if self.summary is None:
            return {}
        found = {
            name: self.summary.get(section, {}).get(name)
            for section, name in LISTED_FIELDS
            if self.summary.get(section, {}).get(name) is not None
        }
        units = self.summary.get("objects", {}).get("units", {}).get("rows")
        if units is not None:
            found["units"] = units
        return found

    def as_json(self) -> dict[str, Any]:
        """The file, its pinned URL and index, and its summary, for `--format json`."""
        item = self.file
        return {
            "id": item.id,
            "group": item.group,
            "path": item.path,
            "size": item.size,
            "hashes": dict(item.hashes),
            "url": item.url,
            "version_id": item.version_id,
            "lindi_index": dict(item.index) if item.index else None,
            "fields": self.fields(),
            "summary": self.summary,
        }


class Listing(msgspec.Struct, frozen=True):
    """A release's files, metadata tables first."""

    source: str
    project: str
    version: str
    files: tuple[ListedFile, ...]

    def as_json(self) -> dict[str, Any]:
        """The listing, for `--format json`."""
        return {
            "manifest": self.source,
            "project": self.project,
            "version": self.version,
            "files": [f.as_json() for f in self.files],
        }


def list_release(
    *, manifest_source: str | Path, version: str | None = None, read: ReadSettings
) -> Listing:
    """Every file of a release, with the summary fields of its NWB files (one request for all
    the summaries, none to the files)."""
    release = open_release(manifest_source, version, read=read)
    summaries = release.summaries(required=False)
    files = tuple(
        ListedFile(f, summaries.get(f.id) if f.group == "data" else None) for f in release.files
    )
    return Listing(release.source, release.project, release.version, files)


def show_file(
    *, manifest_source: str | Path, file_id: str, version: str | None = None, read: ReadSettings
) -> ListedFile:
    """One file of a release, with its whole summary (its fields and objects)."""
    release: Release = open_release(manifest_source, version, read=read)
    item = release.file(file_id)
    summary = release.summaries(required=False).get(item.id) if item.group == "data" else None
    return ListedFile(item, summary)
