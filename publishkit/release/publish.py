"""Publishing a release: its manifest, never overwritten, and its release notes; and the
repair of the local copies a run that died after publishing left behind."""

from __future__ import annotations

import logging
from typing import Any

from publishkit.formats import manifest
from publishkit.formats.jsonio import dumps, write_atomic
from publishkit.formats.notes import (
    Comparison,
    compare_manifests,
    has_section,
    prepend_section,
    render_markdown,
)
from publishkit.release.s3_upload import key_of
from publishkit.release.stage import NOTES_FILE, now
from publishkit.s3.bucket import S3Bucket
from publishkit.workspace.config import Settings

log = logging.getLogger(__name__)


def publish_manifest(
    settings: Settings, bucket: S3Bucket, document: dict[str, Any], name: str
) -> str:
    manifest.validate(document, name)
    data = dumps(document).encode()
    key = key_of(settings, f"manifests/{name}")
    bucket.put_bytes(key, data, content_type="application/json", create_only=True)
    log.info("published manifest s3://%s/%s", bucket.name, key)
    write_atomic(settings.workspace / "manifests" / name, data)  # validated, as published
    return manifest.public_url(
        settings.s3.public_url, bucket=settings.s3.bucket, region=settings.s3.region, key=key
    )


def publish_notes(
    settings: Settings, bucket: S3Bucket, comparison: Comparison, remarks: tuple[str, ...] = ()
) -> None:
    key = key_of(settings, NOTES_FILE)
    existing = bucket.get_bytes(key)
    section = render_markdown(comparison, date=now()[:10], remarks=remarks)
    text = prepend_section(
        existing.decode("utf-8") if existing else None, section, comparison.new_version
    )
    bucket.put_bytes(key, text.encode(), content_type="text/markdown", create_only=False)
    write_atomic(settings.workspace / NOTES_FILE, text)


def repair_local_copy(settings: Settings, latest: dict[str, Any]) -> bool:
    path = (
        settings.workspace
        / "manifests"
        / manifest.manifest_name(settings.project, latest["manifest_version"])
    )
    if path.exists():
        return False
    manifest.write_local(path, latest)
    return True


def repair_notes(settings: Settings, bucket: S3Bucket, latest: dict[str, Any]) -> bool:
    """A crash between manifest and notes leaves the notes behind; write them on the next run.
    A crash between the bucket's notes and the local copy leaves the local copy behind."""
    existing = bucket.get_bytes(key_of(settings, NOTES_FILE))
    version = latest["manifest_version"]
    if existing is not None and has_section(existing.decode("utf-8"), version):
        local = settings.workspace / NOTES_FILE
        if has_section(local.read_text("utf-8") if local.exists() else None, version):
            return False
        write_atomic(local, existing.decode("utf-8"))
        return True
    before = latest.get("previous_manifest_version")
    older = None
    if before:
        data = bucket.get_bytes(
            key_of(settings, f"manifests/{manifest.manifest_name(settings.project, before)}")
        )
        older = manifest.parse_manifest(data, before) if data else None
    name = manifest.manifest_name(settings.project, version)
    old_name = manifest.manifest_name(settings.project, before) if older and before else None
    publish_notes(settings, bucket, compare_manifests(older, latest, old_name, name))
    return True
