"""The publish stage: the dandiset's draft, once uploaded, published as a citable DANDI version.

Through dandi-cli's own client (`api.authenticated_client`): the draft gets dandiset.yaml's
metadata when it differs (`set_raw_metadata`), and (when it changed since the last publish) a
`relatedResource` pointing at the release notes of the release that carries the same files;
then publishkit waits for the archive to validate it (Pending, Validating, then Valid or
Invalid, with progress), refuses to publish an Invalid draft with every error the archive
listed, and publishes, sending the archive the release notes (`release_notes`, which it makes
the new version's `releaseNotes`) when its schema has the field. A draft unchanged since the
last publish publishes nothing: its latest version is the one the release records.

dandi-cli's `wait_until_valid` waits its whole time for an Invalid draft and shows no progress,
and its `publish` sends no release notes: both are done here with its client's requests.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from publishkit.dandi.api import ArchiveRefused, archive_errors, authenticated_client
from publishkit.dandi.metadata import COMPUTED, dandiset_document, load_metadata, metadata_path
from publishkit.errors import CheckFailed
from publishkit.formats.release_layout import DandiVersion
from publishkit.progress import Progress, no_progress
from publishkit.workspace.config import Settings

if TYPE_CHECKING:
    from dandi.dandiapi import DandiAPIClient, RemoteDandiset, VersionInfo

Outcome = Literal["published", "unchanged", "failed"]
WAITING = ("Pending", "Validating", "Publishing")  # not settled yet
PENDING_ASSET = "asset is currently being validated"
IS_DESCRIBED_BY = "dcite:IsDescribedBy"
DRAFT = "draft"
RELEASE_NOTES_SCHEMA = "0.7.0"  # the first schema version with a version's releaseNotes
RELEASE_NOTES_MAX = 5000  # characters the archive takes (dandiapi's Version.release_notes)
LOCKED = 423  # the archive's answer to a publish while the draft is being published


class NotesLink(msgspec.Struct, frozen=True):
    """Where the release notes of the release that carries the dandiset's files are."""

    url: str
    name: str


class PublishReport(msgspec.Struct, frozen=True):
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
    `link` added to relatedResource and sent as the version's release notes), once the archive
    has validated it; a failed report lists what the archive refused."""
    target = settings.dandi_target
    assert target is not None, "the release publishes only to a workspace's DANDI target"
    instance, dandiset = target
    document = dandiset_document(load_metadata(metadata_path(settings))[0])
    with (
        authenticated_client(instance, api_key) as client,
        archive_errors(instance, f"publishing dandiset {dandiset}"),
    ):
        draft = client.get_dandiset(dandiset, DRAFT)
        current = draft.get_raw_metadata()
        status = draft.get_version(DRAFT).status.value
        ours = [r for r in _resources(current) if link is not None and r.get("url") == link.url]
        if status == "Published" and same(_with_links(document, ours), current):
            return PublishReport(instance, dandiset, "unchanged", latest(client, dandiset))
        wanted = _with_links(document, [_resource(link)] if link else ours)
        sent = not same(wanted, current)
        if sent:
            draft.set_raw_metadata(wanted)
        try:
            info = _await_validation(draft, instance, progress, wait_seconds, poll_seconds)
            if info.status.value == "Published":  # published meanwhile, by someone else
                found = latest(client, dandiset)
                return PublishReport(instance, dandiset, "unchanged", found, sent)
            problems = _errors(info)
            if info.status.value != "Valid" or problems:
                reason = (
                    f"the archive's validation found {len(problems)} problem(s) in the draft "
                    f"(draft metadata {info.status.value})"
                )
                return PublishReport(instance, dandiset, "failed", None, sent, problems, reason)
            notes = release_notes(link) if link and takes_release_notes(client) else None
            _publish(draft, instance, notes, progress, wait_seconds, poll_seconds)
        except CheckFailed as exc:
            return PublishReport(instance, dandiset, "failed", None, sent, (), exc.message)
        return PublishReport(instance, dandiset, "published", latest(client, dandiset), sent)


def same(wanted: dict[str, Any], current: dict[str, Any]) -> bool:
    """The draft's metadata already is `wanted` (what the archive computes aside)."""
    return _comparable(wanted) == _comparable(current)


def release_notes(link: NotesLink) -> str:
    """The version's release notes as publishkit sends them: where the release's notes are
    (they are written after the publish, since they name the DANDI version), within the
    archive's limit."""
    return f"{link.name}: {link.url}"[:RELEASE_NOTES_MAX]


def latest(client: DandiAPIClient, dandiset: str) -> DandiVersion | None:
    """The dandiset's most recent published version, with its assets; None before the first."""
    newest = client.get_dandiset(dandiset).most_recent_published_version
    if newest is None:
        return None
    remote = client.get_dandiset(dandiset, newest.identifier)
    metadata = remote.get_raw_metadata()
    assets = {a.path: a.identifier for a in remote.get_assets()}
    return DandiVersion(
        dandiset, newest.identifier, metadata.get("url"), metadata.get("doi") or None, assets
    )


def takes_release_notes(client: DandiAPIClient) -> bool:
    """The archive's schema has a version's releaseNotes (so its publish takes them)."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(client.server_schema_version) >= Version(RELEASE_NOTES_SCHEMA)
    except (InvalidVersion, RuntimeError):  # no schema version said: send none
        return False


def _await_validation(
    draft: RemoteDandiset,
    instance: str,
    progress: Progress,
    wait_seconds: float,
    poll_seconds: float,
) -> VersionInfo:
    """The draft's info once the archive has validated it and every asset (Valid or not)."""
    deadline, shown = time.monotonic() + wait_seconds, 0
    while True:
        info = draft.get_version(DRAFT)
        status = info.status.value
        waiting = sum(PENDING_ASSET in e.message for e in info.asset_validation_errors)
        done = info.asset_count - waiting + (status not in WAITING)
        progress("DANDI validating the draft", done - shown, info.asset_count + 1)
        shown = done
        if status not in WAITING and not waiting:
            return info
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"{instance} had not validated dandiset "
                f"{draft.identifier}'s draft after {wait_seconds:.0f} s (it is {status}, "
                f"{waiting} asset(s) waiting)",
                hint="run the release again later: it resumes with the publish",
            )
        time.sleep(poll_seconds)


def _publish(
    draft: RemoteDandiset,
    instance: str,
    notes: str | None,
    progress: Progress,
    wait_seconds: float,
    poll_seconds: float,
) -> None:
    """Ask the archive to publish the draft (with `notes` as its release notes), and wait
    until it has. A publish already under way (a retried request's first try) is waited for."""
    path = f"/dandisets/{draft.identifier}/versions/{DRAFT}/publish/"
    try:
        with archive_errors(instance, "asking to publish the draft"):
            draft.client.post(path, json={"release_notes": notes} if notes else None)
    except ArchiveRefused as exc:
        if exc.status != LOCKED:
            raise CheckFailed(exc.message, hint=exc.hint) from None
    deadline = time.monotonic() + wait_seconds
    while draft.get_version(DRAFT).status.value != "Published":
        if time.monotonic() > deadline:
            raise CheckFailed(
                f"{instance} had not published dandiset "
                f"{draft.identifier} after {wait_seconds:.0f} s",
                hint="run the release again later: it records the version once published",
            )
        time.sleep(poll_seconds)
    progress("DANDI publishing", 1, 1)


def _errors(info: VersionInfo) -> tuple[str, ...]:
    """The archive's validation errors: the version's, then each asset's, one line each."""
    found = [
        f"dandiset metadata: {e.field or '(the whole record)'}: {e.message}"
        for e in info.version_validation_errors
    ]
    found += [
        f"{e.path}: {e.field or '(the whole record)'}: {e.message}"
        for e in info.asset_validation_errors
    ]
    return tuple(found)


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
