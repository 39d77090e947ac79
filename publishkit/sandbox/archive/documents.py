"""The metadata of versions and assets as the archive serves them: what it stores, plus the
fields it computes (dandiapi's Version._populate_metadata, Asset.full_metadata)."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import msgspec

from publishkit.sandbox.archive.rows import AssetRow, VersionRow, format_dandiset_id

ETAG = "dandi:dandi-etag"
SHA256 = "dandi:sha2-256"
INSTANCE_NAME = "DANDI"  # the local archive's instance name, in identifiers
OPEN_ACCESS = {"schemaKey": "AccessRequirements", "status": "dandi:OpenAccess"}
CONTEXT = "https://raw.githubusercontent.com/dandi/schema/master/releases/{}/context.json"


class Site(msgspec.Struct, frozen=True):
    """Where the archive answers: its API and its web address (the archive's web app)."""

    api: str  # http://127.0.0.1:PORT/api
    web: str  # http://127.0.0.1:PORT


def version_metadata(
    site: Site, version: VersionRow, created: str, stats: tuple[int, int]
) -> dict[str, Any]:
    """A version's metadata with what the archive computes on every save; `created`: the
    dandiset's creation, `stats`: its assets' count and total size."""
    from dandischema.consts import DANDI_SCHEMA_VERSION

    did = format_dandiset_id(version.dandiset)
    stored = copy.deepcopy(version.metadata)
    stored.setdefault("schemaVersion", DANDI_SCHEMA_VERSION)
    count, size = stats
    metadata = {
        "schemaKey": "Dandiset",
        **stored,
        "@context": CONTEXT.format(stored["schemaVersion"]),
        "manifestLocation": [f"{site.api}/dandisets/{did}/versions/{version.version}/assets/"],
        "name": version.name,
        "identifier": f"{INSTANCE_NAME}:{did}",
        "version": version.version,
        "id": f"{INSTANCE_NAME}:{did}/{version.version}",
        "repository": site.web,
        "url": f"{site.web}/dandiset/{did}/{version.version}",
        "dateCreated": created,
        "access": access(stored.get("access")),
    }
    metadata.setdefault(
        "assetsSummary",
        {"schemaKey": "AssetsSummary", "numberOfBytes": size, "numberOfFiles": count},
    )
    metadata["citation"] = citation(metadata)
    return metadata


def access(given: Any) -> list[Any]:
    """The access list with its first entry open (Version._populate_access_metadata)."""
    entries = [x for x in given if isinstance(x, dict)] if isinstance(given, list) else []
    entries = entries or [{}]
    return [{**entries[0], **OPEN_ACCESS}, *entries[1:]]


def citation(metadata: dict[str, Any]) -> str:
    """The archive's citation of a version (Version.citation)."""
    from datetime import UTC, datetime

    name = str(metadata.get("name") or "").rstrip(".")
    url = f"https://doi.org/{metadata['doi']}" if metadata.get("doi") else metadata["url"]
    year, version = datetime.now(UTC).year, metadata["version"]
    who = "; ".join(
        str(c.get("name"))
        for c in _dicts(metadata.get("contributor"))
        if c.get("includeInCitation")
    )
    lead = f"{who} ({year}) {name}" if who else f"{name} ({year})."
    return f"{lead} (Version {version}) [Data set]. DANDI Archive. {url}"


def asset_metadata(site: Site, asset: AssetRow, object_url: str) -> dict[str, Any]:
    """Stored metadata plus identity, URLs, size and digests (Asset.full_metadata)."""
    digest = {ETAG: asset.blob.etag}
    if asset.blob.sha256:
        digest[SHA256] = asset.blob.sha256
    metadata = {
        **copy.deepcopy(asset.metadata),
        "id": f"dandiasset:{asset.asset_id}",
        "access": [dict(OPEN_ACCESS)],
        "path": asset.path,
        "identifier": asset.asset_id,
        "contentUrl": [f"{site.api}/assets/{asset.asset_id}/download/", object_url],
        "contentSize": asset.blob.size,
        "digest": digest,
    }
    metadata["@context"] = CONTEXT.format(metadata.get("schemaVersion"))
    return metadata


def contact_person(metadata: dict[str, Any]) -> str:
    """The name of the first contributor with role ContactPerson, whatever the metadata's
    shape (dandiapi's extract_contact_person)."""
    for contributor in _dicts(metadata.get("contributor")):
        roles = contributor.get("roleName")
        if (
            isinstance(contributor.get("name"), str)
            and isinstance(roles, list)
            and "dcite:ContactPerson" in roles
        ):
            return str(contributor["name"])
    return ""


def _dicts(items: Any) -> Iterable[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
