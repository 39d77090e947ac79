"""The draft manifest's own contract (release/draft.py), without a bucket: what it carries
over, what it leaves pending, how a pin and a DANDI version change it."""

from __future__ import annotations

from pathlib import Path

from publishkit.formats.file_digests import FileDigests
from publishkit.release.draft import DandiEntry, draft_manifest
from publishkit.workspace.config import S3Settings, Settings
from publishkit.workspace.inventory import ReleaseFile

SETTINGS = Settings(
    workspace=Path("/study"),
    project="demo",
    s3_settings=S3Settings(bucket="b", prefix="demo", region="us-west-2"),
    metadata_files=(),
)
TABLE = ReleaseFile("metadata", "sessions", "project_metadata/sessions.csv", Path("/s.csv"))
SAME = ReleaseFile("data", "s1", "data/s1.nwb", Path("/s1.nwb"))
CHANGED = ReleaseFile("data", "s2", "data/s2.nwb", Path("/s2.nwb"))
NEW = ReleaseFile("data", "s3", "data/s3.nwb", Path("/s3.nwb"))


def digests(**hashes: str) -> dict[str, FileDigests]:
    return {
        item.relpath: FileDigests(10, hashes[item.name], "0" * 64)
        for item in (TABLE, SAME, CHANGED, NEW)
    }


def test_unchanged_files_keep_their_versions_and_the_rest_wait_for_a_pin() -> None:
    first = draft_manifest(
        SETTINGS, [TABLE, SAME, CHANGED], digests(sessions="t", s1="a", s2="b", s3="c"), None, {}
    )
    assert first.pending() == [TABLE, SAME, CHANGED] and first.is_new(SAME)
    for number, item in enumerate(first.pending()):
        first.pin(item, f"v{number}")
    previous = first.versioned("1.0.0")
    assert first.pending() == [] and previous["manifest_version"] == "1.0.0"
    assert previous["data_files"]["s1"]["url"] == (
        "https://b.s3.us-west-2.amazonaws.com/demo/data/s1.nwb"
    )

    files = [TABLE, SAME, CHANGED, NEW]
    on_dandi = {
        "data/s1.nwb": DandiEntry("000123", "sub-1/sub-1.nwb", "asset-1", "a"),
        "data/s2.nwb": DandiEntry("000123", "sub-2/sub-2.nwb", "asset-2", "stale"),
    }
    second = draft_manifest(
        SETTINGS, files, digests(sessions="t", s1="a", s2="B", s3="c"), previous, on_dandi
    )
    assert second.pending() == [CHANGED, NEW]  # the table and s1 are carried over
    assert second.entry(SAME)["version_id"] == "v1"
    assert second.entry(CHANGED)["previous_version_id"] == "v2"
    assert not second.is_new(CHANGED) and second.is_new(NEW)
    assert second.document["previous_manifest_version"] == "1.0.0"
    assert second.entry(SAME)["dandi_asset_id"] == "asset-1"
    assert "dandi_asset_id" not in second.entry(CHANGED)  # DANDI holds other content

    second.record_dandi(
        {"instance": "dandi-sandbox", "dandiset_id": "000123", "version": "0.240101.0000"},
        {"sub-9/sub-9.nwb": "asset-9"},  # the published version lacks s1's asset
    )
    assert second.document["dandi"]["version"] == "0.240101.0000"
    assert "dandi_asset_path" not in second.entry(SAME)  # a file not in that version: none


def test_a_dandi_upload_records_its_assets_into_the_staged_draft() -> None:
    """After the DANDI upload the staged draft records the assets it made (the release is not
    staged again): an asset with the content the release hashed is recorded, one with other
    content (or none) leaves the entry without DANDI fields, the table never gets any."""
    files = [TABLE, SAME, CHANGED]
    hashed = digests(sessions="t", s1="a", s2="b", s3="c")
    before = {"data/s1.nwb": DandiEntry("000123", "sub-1/sub-1.nwb", "old-1", "a")}
    draft = draft_manifest(SETTINGS, files, hashed, None, before)
    assert draft.entry(SAME)["dandi_asset_id"] == "old-1"
    assert "dandi_asset_id" not in draft.entry(CHANGED)
    draft.record_dandi_assets(
        {
            "data/s1.nwb": DandiEntry("000123", "sub-1/sub-1.nwb", "asset-1", "other"),
            "data/s2.nwb": DandiEntry("000123", "sub-2/sub-2.nwb", "asset-2", "b"),
            "project_metadata/sessions.csv": DandiEntry("000123", "x.csv", "asset-t", "t"),
        }
    )
    assert "dandi_asset_id" not in draft.entry(SAME)  # DANDI holds other content now
    assert "dandi_asset_path" not in draft.entry(SAME)
    assert draft.entry(CHANGED)["dandi_asset_id"] == "asset-2"
    assert draft.entry(CHANGED)["dandi_asset_path"] == "sub-2/sub-2.nwb"
    assert "dandi_asset_id" not in draft.entry(TABLE)
