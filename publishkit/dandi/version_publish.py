"""The publish stage: the dandiset's draft, once uploaded, published as a citable DANDI version.

The draft gets dandiset.yaml's metadata when it differs, and (when it changed since the last
publish) a `relatedResource` pointing at the release notes of the release that carries the same
files; then publishkit waits for the archive to validate it (Pending, Validating, then Valid or
Invalid, with progress), refuses to publish an Invalid draft with every error the archive
listed, and publishes. A draft unchanged since the last publish publishes nothing: its latest
version is the one the release records.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

from publishkit.dandi.access import api_url
from publishkit.dandi.api import ArchiveApi, ArchiveRefused
from publishkit.dandi.metadata import COMPUTED, dandiset_document, load_metadata, metadata_path
from publishkit.errors import CheckFailed
from publishkit.formats.release_layout import DandiVersion
from publishkit.progress import Progress, no_progress
from publishkit.workspace.config import Settings

Outcome = Literal["published", "unchanged", "failed"]
WAITING = ("Pending", "Validating", "Publishing")  # not settled yet
PENDING_ASSET = "asset is currently being validated"
IS_DESCRIBED_BY = "dcite:IsDescribedBy"


@dataclass(frozen=True)
class NotesLink:
    """Where the release notes of the release that carries the dandiset's files are."""

    url: str
    name: str


@dataclass(frozen=True)
class PublishReport:
    """What the publish stage did: the version published (or the latest, when nothing changed),
    or why the archive would not publish."""

    instance: str
    dandiset: str
    outcome: Outcome
    version: DandiVersion | None = None
    metadata_sent: bool = False
    errors: tuple[str, ...] = ()  # the archive's validation errors, as "path: field: message"
    reason: str | None = None

    @property
    def ok(self) -> bool:
        """The draft was published, or had nothing to publish."""
        return self.outcome != "failed"

    def as_json(self) -> dict[str, Any]:
        """The report as JSON, for `--format json` and scripts."""
        return {
            "instance": self.instance,
            "dandiset": self.dandiset,
            "outcome": self.outcome,
            "version": self.version.as_json() if self.version else None,
            "metadata_sent": self.metadata_sent,
            "errors": list(self.errors),
            "reason": self.reason,
        }


def publish_dandiset(
    *,
    settings: Settings,
    api_key: str | None,
    link: NotesLink | None = None,
    progress: Progress = no_progress,
    wait_seconds: float = 3600,
    poll_seconds: float = 0.5,
) -> PublishReport:
    """Publish the draft if it changed since the last publish (its metadata from dandiset.yaml,
    `link` added to relatedResource), once the archive has validated it; a failed report lists
    what the archive refused."""
    dandi = settings.dandi
    assert dandi.instance and dandi.dandiset
    archive = ArchiveApi(api_url(dandi.instance), dandi.dandiset, api_key, dandi.instance)
    document = dandiset_document(load_metadata(metadata_path(settings))[0])
    current = archive.get(archive.draft)
    status = archive.get(f"{archive.draft}info/")["status"]
    ours = [r for r in _resources(current) if link is not None and r.get("url") == link.url]
    if status == "Published" and same(_with_links(document, ours), current):
        return PublishReport(dandi.instance, dandi.dandiset, "unchanged", latest(archive))
    wanted = _with_links(document, [_resource(link)] if link else ours)
    sent = not same(wanted, current)
    if sent:
        archive.put(archive.draft, {"metadata": wanted, "name": wanted.get("name", "")})
    try:
        info = _await_validation(archive, progress, wait_seconds, poll_seconds)
        if info["status"] == "Published":  # published meanwhile, by someone else
            return PublishReport(dandi.instance, dandi.dandiset, "unchanged", latest(archive), sent)
        problems = _errors(info)
        if info["status"] != "Valid" or problems:
            reason = (
                f"the archive's validation found {len(problems)} problem(s) in the draft "
                f"(draft metadata {info['status']})"
            )
            return PublishReport(
                dandi.instance, dandi.dandiset, "failed", None, sent, problems, reason
            )
        _publish(archive, progress, wait_seconds, poll_seconds)
    except CheckFailed as exc:
        return PublishReport(dandi.instance, dandi.dandiset, "failed", None, sent, (), exc.message)
    return PublishReport(dandi.instance, dandi.dandiset, "published", latest(archive), sent)


def same(wanted: dict[str, Any], current: dict[str, Any]) -> bool:
    """The draft's metadata already is `wanted` (what the archive computes aside)."""
    return _comparable(wanted) == _comparable(current)


def latest(archive: ArchiveApi) -> DandiVersion | None:
    """The dandiset's most recent published version, with its assets; None before the first."""
    newest = archive.get(f"/dandisets/{archive.dandiset}/")["most_recent_published_version"]
    if not newest:
        return None
    version = str(newest["version"])
    path = f"/dandisets/{archive.dandiset}/versions/{version}/"
    metadata = archive.get(path)
    assets = {str(a["path"]): str(a["asset_id"]) for a in archive.pages(f"{path}assets/")}
    return DandiVersion(
        archive.dandiset, version, metadata.get("url"), metadata.get("doi") or None, assets
    )


def _await_validation(
    archive: ArchiveApi, progress: Progress, wait_seconds: float, poll_seconds: float
) -> dict[str, Any]:
    """The draft's info once the archive has validated it and every asset."""
    deadline, shown = time.monotonic() + wait_seconds, 0
    while True:
        info = archive.get(f"{archive.draft}info/")
        waiting = sum(PENDING_ASSET in str(e.get("message")) for e in _asset_errors(info))
        done = info["asset_count"] - waiting + (info["status"] not in WAITING)
        progress("DANDI validating the draft", done - shown, info["asset_count"] + 1)
        shown = done
        if info["status"] not in WAITING and not waiting:
            return dict(info)
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"{archive.instance} had not validated dandiset {archive.dandiset}'s draft "
                f"after {wait_seconds:.0f} s (it is {info['status']}, {waiting} asset(s) waiting)",
                hint="run the release again later: it resumes with the publish",
            )
        time.sleep(poll_seconds)


def _publish(
    archive: ArchiveApi, progress: Progress, wait_seconds: float, poll_seconds: float
) -> None:
    """Ask the archive to publish the draft, and wait until it has."""
    try:
        archive.post(f"{archive.draft}publish/")
    except ArchiveRefused as exc:
        raise CheckFailed(exc.message, hint=exc.hint) from None
    deadline = time.monotonic() + wait_seconds
    while archive.get(f"{archive.draft}info/")["status"] != "Published":
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"{archive.instance} had not published dandiset {archive.dandiset} after "
                f"{wait_seconds:.0f} s",
                hint="run the release again later: it records the version once published",
            )
        time.sleep(poll_seconds)
    progress("DANDI publishing", 1, 1)


def _errors(info: dict[str, Any]) -> tuple[str, ...]:
    """The archive's validation errors: the version's, then each asset's, one line each."""
    found = [
        f"dandiset metadata: {e.get('field') or '(the whole record)'}: {e.get('message')}"
        for e in info.get("version_validation_errors") or []
    ]
    found += [
        f"{e.get('path')}: {e.get('field') or '(the whole record)'}: {e.get('message')}"
        for e in _asset_errors(info)
    ]
    return tuple(found)


def _asset_errors(info: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in info.get("asset_validation_errors") or [] if isinstance(e, dict)]


def _resources(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    found = metadata.get("relatedResource")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _with_links(document: dict[str, Any], links: list[dict[str, Any]]) -> dict[str, Any]:
    """The document with publishkit's links after the file's own related resources."""
    urls = {link.get("url") for link in links}
    own = [r for r in _resources(document) if r.get("url") not in urls]
    if not own and not links:
        return document
    return {**document, "relatedResource": own + links}


def _resource(link: NotesLink) -> dict[str, Any]:
    return {
        "schemaKey": "Resource",
        "url": link.url,
        "name": link.name,
        "relation": IS_DESCRIBED_BY,
        "resourceType": "dcite:Text",
    }


def _comparable(metadata: dict[str, Any]) -> dict[str, Any]:
    """What the file decides of a draft's metadata: the archive's computed fields aside, and
    the first access entry without the status the archive sets."""
    kept = {k: v for k, v in metadata.items() if k not in COMPUTED and k != "schemaVersion"}
    access = kept.get("access")
    entries = [dict(a) for a in access if isinstance(a, dict)] if isinstance(access, list) else []
    entries = entries or [{}]
    for key in ("schemaKey", "status"):
        entries[0].pop(key, None)
    kept["access"] = entries
    return kept
