"""The archive's background tasks, in one thread: pending assets and drafts validated with the
archive's own dandischema calls, and drafts locked for publishing published.

As dandi-archive's celery beat does, the thread looks for work every `interval` seconds, so a
client sees a change go Pending -> Validating -> Valid or Invalid, and a publish go Publishing
-> Published, as it would on DANDI (only faster).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from publishkit.formats.dandi_computed import publish_activity
from publishkit.sandbox.archive import documents
from publishkit.sandbox.archive.blobs import BlobStorage
from publishkit.sandbox.archive.documents import INSTANCE_NAME, Site
from publishkit.sandbox.archive.rows import (
    DRAFT,
    INVALID,
    PENDING,
    PUBLISHING,
    VALID,
    VALIDATING,
    VersionRow,
    format_dandiset_id,
)
from publishkit.sandbox.archive.store import DandiStore

logger = logging.getLogger(__name__)
Errors = list[dict[str, str]]


class ArchiveTasks:
    """The background thread that validates and publishes; `site()` says where the archive
    answers (for the URLs in the metadata it validates)."""

    def __init__(
        self, store: DandiStore, storage: BlobStorage, site: Callable[[], Site], interval: float
    ) -> None:
        self.store, self.storage, self.site, self.interval = store, storage, site, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dandi-sandbox-tasks", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.run_once()
            except Exception:  # a task that fails is logged, as celery would; the next runs
                logger.exception("a DANDI sandbox task failed")

    def run_once(self) -> None:
        """One round of what the archive's scheduled tasks do."""
        for asset in self.store.validatable_assets():
            url = self.storage.object_url(asset.blob.object_key)
            metadata = documents.asset_metadata(self.site(), asset, url)
            status, errors = validate_asset(metadata)
            self.store.set_asset_validation(asset.asset_id, status, errors)
        for draft in self.store.drafts_with(PENDING):
            if self.store.set_draft_status(draft.dandiset, VALIDATING, was=PENDING):
                status, errors = validate_version(self._publishable(draft))
                self.store.set_draft_status(draft.dandiset, status, was=VALIDATING, errors=errors)
        for draft in self.store.drafts_with(PUBLISHING):
            self._publish(draft)

    def _publishable(self, draft: VersionRow) -> dict[str, Any]:
        """The draft as it would be published, with placeholders for what publishing makes
        (dandiapi's _build_validatable_version_metadata)."""
        metadata = self._populated(draft)
        did, version = format_dandiset_id(draft.dandiset), next_version(self.store, draft)
        count, size = self.store.version_stats(draft.dandiset, DRAFT)
        return {
            **metadata,
            **published_fields(),
            "id": f"{INSTANCE_NAME}:{did}/{version}",
            "url": f"{self.site().web}/dandiset/{did}/{version}",
            "doi": f"10.80507/{INSTANCE_NAME.lower()}.123456/0.123456.1234",
            "assetsSummary": {
                "schemaKey": "AssetsSummary",
                "numberOfBytes": 1 if size else 0,
                "numberOfFiles": 1 if count else 0,
            },
        }

    def _populated(self, version: VersionRow) -> dict[str, Any]:
        dandiset = self.store.get_dandiset(version.dandiset)
        assert dandiset is not None
        stats = self.store.version_stats(version.dandiset, version.version)
        return documents.version_metadata(self.site(), version, dandiset.created, stats)

    def _publish(self, draft: VersionRow) -> None:
        """A new version from the locked draft (dandiapi's _publish_dandiset): its metadata the
        draft's, with who published it and when, the release notes the publish was asked with
        (when there are some), and the summary of its assets."""
        from dandischema.metadata import aggregate_assets_summary

        version = next_version(self.store, draft)
        stamp = published_fields()
        assets = self.store.version_assets(draft.dandiset, DRAFT)
        site = self.site()
        full = [
            {
                **documents.asset_metadata(site, a, self.storage.object_url(a.blob.object_key)),
                **(stamp if not a.published else {}),
            }
            for a in assets
        ]
        metadata = {
            **copy.deepcopy(draft.metadata),
            **stamp,
            "assetsSummary": aggregate_assets_summary(full),
        }
        if draft.release_notes:
            metadata["releaseNotes"] = draft.release_notes
        self.store.publish_draft(draft.dandiset, version, metadata, stamp)
        logger.info("published %s/%s", format_dandiset_id(draft.dandiset), version)


def next_version(store: DandiStore, draft: VersionRow) -> str:
    """0.YYMMDD.HHMM of now, a minute later while that one exists (next_published_version)."""
    taken = {v.version for v in store.list_versions(draft.dandiset)}
    when = datetime.now(UTC)
    while (version := when.strftime("0.%y%m%d.%H%M")) in taken:
        when += timedelta(minutes=1)
    return version


def published_fields() -> dict[str, Any]:
    """publishedBy and datePublished, as the archive adds them when it publishes."""
    now = datetime.now(UTC).isoformat()
    return {"publishedBy": publish_activity(now, f"{INSTANCE_NAME} API"), "datePublished": now}


def validate_asset(metadata: dict[str, Any]) -> tuple[str, Errors]:
    """An asset as it would be published, validated as the archive does
    (validate_asset_metadata): its status and errors."""
    return _validated({**metadata, **published_fields()}, "PublishedAsset")


def validate_version(metadata: dict[str, Any]) -> tuple[str, Errors]:
    """A draft as it would be published, validated as the archive does
    (validate_version_metadata): its status and errors."""
    return _validated(metadata, "PublishedDandiset")


def _validated(metadata: dict[str, Any], schema_key: str) -> tuple[str, Errors]:
    from dandischema.exceptions import JsonschemaValidationError, PydanticValidationError
    from dandischema.metadata import validate

    try:
        validate(metadata, schema_key=schema_key, json_validation=True)
    except JsonschemaValidationError as exc:
        return INVALID, [
            {"field": ".".join(str(p) for p in e.path), "message": str(e.message)}
            for e in exc.errors
        ]
    except PydanticValidationError as exc:
        return INVALID, [
            {"field": str(e["loc"][0]) if e["loc"] else "", "message": str(e["msg"])}
            for e in exc.errors
        ]
    except ValueError as exc:  # dandischema's own, e.g. a schemaVersion it does not allow
        return INVALID, [{"field": "", "message": str(exc)}]
    except Exception as exc:  # an older schema version it would fetch: the sandbox is offline
        message = f"cannot validate offline: {type(exc).__name__}"
        return INVALID, [{"field": "schemaVersion", "message": message}]
    return VALID, []
