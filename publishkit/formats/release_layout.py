"""What lies beside a release's manifests under the prefix, named once: the folder of the
manifests, the release notes file, and the DANDI version a release records. The release that
writes them, the site that links them and the DANDI stage that publishes a version all import
these names from here (the site imports no stage)."""

from __future__ import annotations

from typing import Any

import msgspec

MANIFESTS_FOLDER = "manifests"  # <prefix>/manifests/<project>_manifest_v<version>.json
NOTES_FILE = "release_notes.md"  # <prefix>/release_notes.md, every release's notes, newest first


class DandiVersion(msgspec.Struct, frozen=True):
    """A published version of a dandiset: its id, web page, DOI, and its assets by path (known
    to the stage that published it; a manifest records the version without them)."""

    dandiset: str
    version: str
    url: str | None
    doi: str | None
    assets: dict[str, str] = msgspec.field(default_factory=dict)  # path -> asset id in the version

    @property
    def doi_url(self) -> str | None:
        return f"https://doi.org/{self.doi}" if self.doi else None

    def as_json(self) -> dict[str, Any]:
        """The version as JSON (without its assets)."""
        return {
            "dandiset": self.dandiset,
            "version": self.version,
            "url": self.url,
            "doi": self.doi,
        }
