"""What the site shows, gathered from the releases' manifests: each release's size, file count
and changes, where its manifest and notes are, its DANDI version; and a release's files."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec

from publishkit.formats.changes import Change, compare, counts
from publishkit.formats.manifest import entry_relpaths, manifest_name
from publishkit.formats.release_layout import MANIFESTS_FOLDER, NOTES_FILE, DandiVersion
from publishkit.formats.versions import Version

PAGES_FOLDER = "releases"


def page_name(version: str) -> str:
    """The file name of a release's page, in `releases/`."""
    return f"v{version}.html"


class ReleaseFacts(msgspec.Struct, frozen=True):
    """One release as the index shows it."""

    version: str
    date: str  # YYYY-MM-DD, or "" when the manifest records none
    files: int
    bytes: int
    created: int  # files created since the release before it (renamed counts as created)
    changed: int
    deleted: int  # deleted files (renamed counts as deleted too)
    manifest_url: str | None
    notes_url: str | None
    dandi: DandiVersion | None

    @property
    def page(self) -> str:
        return f"{PAGES_FOLDER}/{page_name(self.version)}"


class History(msgspec.Struct, frozen=True):
    """A project's releases, newest first."""

    project: str
    releases: tuple[ReleaseFacts, ...]

    @property
    def latest(self) -> ReleaseFacts | None:
        return self.releases[0] if self.releases else None

    @property
    def dandisets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.dandi.dandiset for r in self.releases if r.dandi))


def release_base(document: Mapping[str, Any]) -> str | None:
    """The URL of the release prefix (ending in "/"), read off the URL of one of its files:
    the manifests and notes are under it. None for a manifest without files."""
    for group in ("metadata_files", "data_files"):
        for entry in document[group].values():
            depth = len(entry_relpaths([dict(entry)])[0].split("/"))
            url = str(entry["url"])
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or parts.query or parts.fragment:
                return None
            return url.rsplit("/", depth)[0] + "/"
    return None


def manifest_url(document: Mapping[str, Any]) -> str | None:
    base = release_base(document)
    name = manifest_name(document["project_name"], document["manifest_version"])
    return f"{base}{MANIFESTS_FOLDER}/{name}" if base else None


def notes_url(document: Mapping[str, Any]) -> str | None:
    base = release_base(document)
    return f"{base}{NOTES_FILE}" if base else None


def dandi_version(document: Mapping[str, Any]) -> DandiVersion | None:
    dandi = document.get("dandi")
    if not dandi:
        return None
    return DandiVersion(dandi["dandiset_id"], dandi["version"], dandi.get("url"), dandi.get("doi"))


def ordered(documents: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Manifests oldest first, by semantic version."""
    return sorted(documents, key=lambda d: Version.parse(str(d["manifest_version"])))


def release_facts(document: Mapping[str, Any], changes: Sequence[Change]) -> ReleaseFacts:
    """Release `document` as the index shows it; `changes`: since the release before it."""
    tally = counts(list(changes))
    entries = [*document["metadata_files"].values(), *document["data_files"].values()]
    return ReleaseFacts(
        version=str(document["manifest_version"]),
        date=str(document.get("created") or "")[:10],
        files=len(entries),
        bytes=sum(int(e.get("size") or 0) for e in entries),
        created=tally.get("created", 0) + tally.get("renamed", 0),
        changed=tally.get("changed", 0),
        deleted=tally.get("deleted", 0) + tally.get("renamed", 0),
        manifest_url=manifest_url(document),
        notes_url=notes_url(document),
        dandi=dandi_version(document),
    )


def history(documents: Sequence[Mapping[str, Any]]) -> History:
    """The releases of one project, from its manifests (any order), newest first; each one's
    changes counted against the release before it."""
    releases = []
    previous: Mapping[str, Any] | None = None
    project = ""
    for document in ordered(documents):
        project = str(document["project_name"])
        releases.append(release_facts(document, compare(previous, document)))
        previous = document
    return History(project, tuple(reversed(releases)))


def history_of(project: str, releases: Sequence[ReleaseFacts]) -> History:
    """The releases of `project` from what their records say, newest first."""
    newest = sorted(releases, key=lambda r: Version.parse(r.version), reverse=True)
    return History(project, tuple(newest))
