"""Every release as the site's index shows it, in one document the bucket keeps:
`releases/history.json` (schemas/site-history.schema.json), replaced by each release that
publishes the site, so that a release reads one document for its index, not one record per
earlier release."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from publishkit.errors import ManifestError
from publishkit.formats.jsonio import encode, loads
from publishkit.formats.schemas import refuse_invalid
from publishkit.site.history import PAGES_FOLDER, ReleaseFacts
from publishkit.site.page_record import facts_from_json, facts_json

SCHEMA = "site-history"
HISTORY = f"{PAGES_FOLDER}/history.json"  # beside the pages; a page is v<version>.html
_HINT = (
    "delete it: the next release writes it again from the pages' records and the manifests "
    "(see `publishkit schema site-history`)"
)


def dump(project: str, releases: Iterable[ReleaseFacts]) -> bytes:
    """The document of `project`'s `releases`, as publishkit writes JSON, validated first."""
    document = {
        "history_version": 1,
        "project_name": project,
        "releases": {facts.version: facts_json(facts) for facts in releases},
    }
    refuse_invalid(document, SCHEMA, HISTORY, _HINT)
    return encode(document)


def parse(data: bytes, source: str) -> dict[str, ReleaseFacts]:
    """Each release's facts the document holds, by version; a ManifestError names `source`
    and what is wrong."""
    try:
        document = loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ManifestError(f"{source}: not valid JSON ({exc})", _HINT) from None
    refuse_invalid(document, SCHEMA, source, _HINT)
    found: dict[str, Any] = document["releases"]
    return {
        version: facts
        for version, entry in found.items()
        if (facts := facts_from_json(version, entry)) is not None
    }
