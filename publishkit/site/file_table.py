"""A release page's file table and tables list: each file at its pinned URL, grouped by folder
(so a release of 40,000 files is a page of folders a browser opens at once)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from publishkit.errors import UsageError
from publishkit.formats.dandi_instances import dandi_api_url
from publishkit.formats.manifest import entry_relpaths


class FileRow(msgspec.Struct, frozen=True):
    path: str  # under its folder
    size: int | None
    short_hash: str  # blake2b, first 12 hex digits
    url: str  # pinned: ?versionId=
    dandi_url: str | None  # the asset on the DANDI archive, when the manifest records one


class Folder(msgspec.Struct, frozen=True):
    name: str  # "" for the release's top level
    files: tuple[FileRow, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)


class TableRow(msgspec.Struct, frozen=True):
    name: str
    path: str
    url: str
    rows: int | None  # None: not read
    columns: int | None


def pinned_url(entry: Mapping[str, Any]) -> str:
    return f"{entry['url']}?versionId={entry['version_id']}"


def folders(document: Mapping[str, Any]) -> tuple[Folder, ...]:
    """The data files of a manifest, by folder (sorted), each folder's files by name."""
    entries = [dict(e) for e in document["data_files"].values()]
    paths = entry_relpaths(entries)
    api = _dandi_api(document)
    grouped: dict[str, list[FileRow]] = {}
    for path, entry in sorted(zip(paths, entries, strict=True), key=lambda pair: pair[0]):
        folder, _, name = path.rpartition("/")
        asset = entry.get("dandi_asset_id")
        grouped.setdefault(folder, []).append(
            FileRow(
                path=name,
                size=entry.get("size"),
                short_hash=str(entry["file_hash"])[:12],
                url=pinned_url(entry),
                dandi_url=f"{api}/assets/{asset}/download/" if api and asset else None,
            )
        )
    return tuple(Folder(name, tuple(rows)) for name, rows in grouped.items())


def tables(
    document: Mapping[str, Any], shapes: Mapping[str, tuple[int, int]] | None = None
) -> tuple[TableRow, ...]:
    """The metadata tables of a manifest; `shapes`: rows and columns of each, by name."""
    entries = dict(document["metadata_files"])
    paths = entry_relpaths([dict(e) for e in entries.values()])
    found = []
    for (name, entry), path in zip(entries.items(), paths, strict=True):
        rows, columns = (shapes or {}).get(name, (None, None))
        found.append(TableRow(name, path, pinned_url(entry), rows, columns))
    return tuple(found)


def _dandi_api(document: Mapping[str, Any]) -> str | None:
    """The DANDI API a manifest's assets are on (its instance by URL, or a name dandi-cli
    knows); None when it names none, or one dandi-cli does not know."""
    try:
        return dandi_api_url(str((document.get("dandi") or {}).get("instance") or ""))
    except UsageError:
        return None


class FilePage(msgspec.Struct, frozen=True):
    """One page of a large release's file table: `releases/vX.Y.Z/files-NNN.html`."""

    number: int
    folders: tuple[Folder, ...]  # whole folders, or a part of one that spans pages

    @property
    def name(self) -> str:
        return f"files-{self.number:03d}.html"

    @property
    def files(self) -> int:
        return sum(len(folder.files) for folder in self.folders)


class FolderLink(msgspec.Struct, frozen=True):
    """A folder in a large release's folder list, and the pages that hold its files."""

    folder: Folder
    pages: tuple[FilePage, ...]


def paged(all_folders: tuple[Folder, ...], per_page: int) -> tuple[FilePage, ...]:
    """The folders' files on pages of at most `per_page` files, in order; a folder larger than
    what is left of a page continues on the next."""
    pages: list[FilePage] = []
    current: list[Folder] = []
    room = per_page
    for folder in all_folders:
        rows = folder.files
        while rows:
            taken, rows = rows[:room], rows[room:]
            current.append(Folder(folder.name, taken))
            room -= len(taken)
            if room == 0:
                pages.append(FilePage(len(pages) + 1, tuple(current)))
                current, room = [], per_page
    if current:
        pages.append(FilePage(len(pages) + 1, tuple(current)))
    return tuple(pages)


def folder_links(
    all_folders: tuple[Folder, ...], pages: tuple[FilePage, ...]
) -> tuple[FolderLink, ...]:
    """Each folder with the pages its files are on."""
    holding: dict[str, list[FilePage]] = {}
    for page in pages:
        for part in page.folders:
            holding.setdefault(part.name, []).append(page)
    return tuple(FolderLink(folder, tuple(holding.get(folder.name, ()))) for folder in all_folders)
