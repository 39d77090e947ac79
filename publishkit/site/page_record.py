"""What a release's page says that its manifest does not (the notes' remarks, the inspection's
summary, the tables' sizes): `releases/vX.Y.Z.json` beside the page, validated against
schemas/release-page.schema.json, so the bucket alone renders the page again."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from publishkit.errors import ManifestError
from publishkit.formats.jsonio import dumps
from publishkit.formats.release_layout import DandiVersion
from publishkit.formats.schemas import refuse_invalid
from publishkit.site.history import ReleaseFacts
from publishkit.site.pages import InspectionSummary

SCHEMA = "release-page"


class PageRecord(msgspec.Struct, frozen=True):
    project: str
    version: str
    remarks: tuple[str, ...] = ()
    inspection: InspectionSummary | None = None
    shapes: Mapping[str, tuple[int, int]] = msgspec.field(
        default_factory=dict
    )  # rows, columns by table
    facts: ReleaseFacts | None = None  # what the index says of the release (None: not known)

    def as_json(self) -> dict[str, Any]:
        inspection = self.inspection
        return {
            "page_version": 1,
            "project_name": self.project,
            "manifest_version": self.version,
            "remarks": list(self.remarks),
            "inspection": None
            if inspection is None
            else {
                "files": inspection.files,
                "findings": [{"importance": i, "count": n} for i, n in inspection.findings],
                "suppressed": inspection.suppressed,
                "overridden": inspection.overridden,
            },
            "tables": {
                name: {"rows": rows, "columns": columns}
                for name, (rows, columns) in self.shapes.items()
            },
            "release": None if self.facts is None else facts_json(self.facts),
        }


def facts_json(facts: ReleaseFacts) -> dict[str, Any]:
    """A release's facts as its record and the site's history (site_history) write them."""
    dandi = facts.dandi
    return {
        "date": facts.date,
        "files": facts.files,
        "bytes": facts.bytes,
        "created": facts.created,
        "changed": facts.changed,
        "deleted": facts.deleted,
        "manifest_url": facts.manifest_url,
        "notes_url": facts.notes_url,
        "dandi": None
        if dandi is None
        else {
            "dandiset_id": dandi.dandiset,
            "version": dandi.version,
            "url": dandi.url,
            "doi": dandi.doi,
        },
    }


def facts_from_json(version: str, found: dict[str, Any] | None) -> ReleaseFacts | None:
    """Release `version`'s facts as `facts_json` wrote them (None: not known)."""
    if found is None:
        return None
    dandi = found["dandi"]
    return ReleaseFacts(
        version=version,
        date=found["date"],
        files=found["files"],
        bytes=found["bytes"],
        created=found["created"],
        changed=found["changed"],
        deleted=found["deleted"],
        manifest_url=found["manifest_url"],
        notes_url=found["notes_url"],
        dandi=None
        if dandi is None
        else DandiVersion(dandi["dandiset_id"], dandi["version"], dandi["url"], dandi["doi"]),
    )


def dump(record: PageRecord) -> bytes:
    """The record as publishkit writes JSON, validated first."""
    document = record.as_json()
    _check(document, f"releases/v{record.version}.json")
    return dumps(document).encode()


def parse(data: bytes, source: str) -> PageRecord:
    """A record read back; a ManifestError names `source` and what is wrong."""
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ManifestError(f"{source}: not valid JSON ({exc})") from None
    _check(document, source)
    found = document["inspection"]
    inspection = (
        None
        if found is None
        else InspectionSummary(
            files=found["files"],
            findings=tuple((f["importance"], f["count"]) for f in found["findings"]),
            suppressed=found["suppressed"],
            overridden=found["overridden"],
        )
    )
    return PageRecord(
        project=document["project_name"],
        version=document["manifest_version"],
        remarks=tuple(document["remarks"]),
        inspection=inspection,
        shapes={n: (t["rows"], t["columns"]) for n, t in document["tables"].items()},
        facts=facts_from_json(document["manifest_version"], document["release"]),
    )


def _check(document: Any, source: str) -> None:
    refuse_invalid(document, SCHEMA, source, "see `publishkit schema release-page`")
