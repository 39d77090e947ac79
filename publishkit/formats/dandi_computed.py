"""The metadata fields the DANDI archive computes itself, named once: the local archive strips
them from what it is sent, and publishing leaves them out of what it sends and compares.

The archive strips VERSION_STRIPPED from a version's metadata (Version.strip_metadata, and the
dates and release notes it keeps itself) and writes its own values back; `name` among them
travels beside the metadata and comes back as sent. It fills VERSION_FILLED on every save. An
asset's metadata loses ASSET_STRIPPED (Asset.strip_metadata and what the blob decides).
"""

from __future__ import annotations

import uuid
from typing import Any

NAME = "name"  # stripped from the metadata, kept as the version's name, written back as sent
VERSION_STRIPPED = frozenset(
    {
        NAME,
        "identifier",
        "version",
        "id",
        "url",
        "assetsSummary",
        "citation",
        "doi",
        "datePublished",
        "publishedBy",
        "manifestLocation",
        "dateCreated",
        "releaseNotes",
    }
)
VERSION_FILLED = frozenset({"@context", "repository"})
# What a client's dandiset metadata does not decide: publishing neither sends nor compares these
VERSION_COMPUTED = (VERSION_STRIPPED - {NAME}) | VERSION_FILLED
ASSET_STRIPPED = frozenset(
    {
        "id",
        "access",
        "path",
        "identifier",
        "contentUrl",
        "contentSize",
        "digest",
        "datePublished",
        "publishedBy",
        "@context",
    }
)


def publish_activity(now: str, api: str = "DANDI API") -> dict[str, Any]:
    """The `publishedBy` the archive writes when it publishes (a PublishActivity of its API)."""
    return {
        "id": uuid.uuid4().urn,
        "name": "DANDI publish",
        "startDate": now,
        "endDate": now,
        "wasAssociatedWith": [
            {"id": uuid.uuid4().urn, "name": api, "version": "0.1.0", "schemaKey": "Software"}
        ],
        "schemaKey": "PublishActivity",
    }
