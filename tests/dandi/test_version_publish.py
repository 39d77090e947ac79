"""A release that publishes a DANDI version: dandiset.yaml checked before anything is uploaded,
the version published on the local archive (which validates as DANDI does), downloaded with the
real dandi-cli, and tied to the S3 release that carries the same files."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import requests

from publishkit.sandbox.archive import DandiSandbox
from tests.dandi.test_upload import as_a_dandi_user
from tests.nwbfactory import write_nwb
from tests.sandbox.test_archive import (
    api_assets,
    dandi,
    dandi_env,
    dandi_etag,
    tree,
    upload_blob,
)
from tests.studies import release_to_s3

BAD = """\
name: Two mice on a wheel
description: Running speed of two mice, recorded for publishkit's tests.
contributor:
  - schemaKey: Person
    name: Jane Doe
    email: jane@example.org
    roleName: [dcite:ContactPerson]
keywords: [mouse]
"""
GOOD = BAD.replace("name: Jane Doe", "name: Doe, Jane") + "license: [spdx:CC-BY-4.0]\n"


@pytest.fixture
def study(cli, tmp_path: Path, archive: DandiSandbox, bucket, monkeypatch) -> tuple[Path, str]:
    """A template workspace that releases to S3 and publishes to the local archive."""
    dandiset = archive.create_dandiset("publish test")
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    release_to_s3(workspace, bucket.bucket)
    config = workspace / "publishkit.yaml"
    config.write_text(
        config.read_text() + f"dandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
        "  metadata: dandiset.yaml\n  publish: true\n"
    )
    (workspace / "dandiset.yaml").write_text(BAD)
    as_a_dandi_user(archive, tmp_path / "home", monkeypatch)
    return workspace, dandiset


def release(cli, workspace: Path, *args: str) -> tuple[int, dict, str]:
    result = cli("release", "-w", str(workspace), "-f", "json", *args)
    return result.exit_code, json.loads(result.stdout), result.stderr


def test_metadata_the_archive_would_refuse_stops_the_release_before_any_upload(
    cli, study: tuple[Path, str], archive: DandiSandbox, aws_env, s3_client, bucket
) -> None:
    workspace, dandiset = study
    text = cli("release", "--version", "1.0.0", "-w", str(workspace))
    assert text.exit_code == 1, text.stdout + text.stderr
    yaml_file = workspace / "dandiset.yaml"
    assert (
        f"{yaml_file} line 5: contributor[0].name: name must be 'Last, First', found 'Jane Doe' "
        "(fix: write it as 'Doe, Jane')"
    ) in text.stdout
    assert f"{yaml_file} line 1: license: license is required (fix: add license:" in text.stdout
    assert "spdx:CC-BY-4.0, spdx:CC0-1.0" in text.stdout  # the instance's licenses
    assert "so nothing was uploaded" in text.stderr
    assert not (workspace / "nwb").exists()  # not even converted
    assert api_assets(archive, dandiset) == []
    assert s3_client.list_objects_v2(Bucket=bucket.bucket).get("KeyCount") == 0

    code, summary, _ = release(cli, workspace, "--version", "1.0.0")
    assert code == 1 and summary["stopped_by_metadata"] and summary["stages"][0] == "convert"
    fields = {p["field"]: p["line"] for p in summary["dandiset_metadata"]["problems"]}
    assert fields == {"contributor[0].name": 5, "license": 1}

    checked = cli("dandi", "metadata", "check", "-w", str(workspace))
    assert checked.exit_code == 1 and "contributor[0].name" in checked.stdout
    planned = cli("release", "--plan", "--version", "1.0.0", "-w", str(workspace))
    assert planned.exit_code == 1
    assert "the archive would refuse to publish this dandiset metadata" in planned.stdout


def test_a_release_publishes_a_dandi_version_and_pins_it_on_both_sides(
    cli, study: tuple[Path, str], archive: DandiSandbox, aws_env, tmp_path: Path
) -> None:
    workspace, dandiset = study
    (workspace / "dandiset.yaml").write_text(GOOD)
    assert cli("dandi", "metadata", "check", "-w", str(workspace)).exit_code == 0

    # published on DANDI, then stopped (as by a crash) before its manifest
    code, early, stderr = release(cli, workspace, "--version", "1.0.0", "--to", "publish")
    assert code == 0, json.dumps(early, indent=1) + stderr
    assert early["publish"]["outcome"] == "published" and early["release"] is None
    # the release converges: the version DANDI published is the one its manifest records
    code, first, stderr = release(cli, workspace, "--version", "1.0.0")
    assert code == 0, json.dumps(first, indent=1) + stderr
    assert first["stages"] == [
        "convert",
        "inspect",
        "organize",
        "upload",
        "publish",
        "manifest",
        "notes",
    ]
    published = first["publish"]
    assert published["outcome"] == "unchanged" and not published["metadata_sent"]
    v1 = published["version"]["version"]
    assert v1 == early["publish"]["version"]["version"]
    assert re.fullmatch(r"0\.\d{6}\.\d{4}", v1)
    on_archive = {a["path"]: a["asset_id"] for a in api_assets(archive, dandiset, v1)}
    assert len(on_archive) == 2
    manifest = json.loads(
        (workspace / "manifests" / "study_project_manifest_v1.0.0.json").read_text()
    )
    assert manifest["dandi"] == {
        "instance": archive.api_url,
        "dandiset_id": dandiset,
        "version": v1,
        "url": published["version"]["url"],
    }
    pinned = {e["dandi_asset_path"]: e["dandi_asset_id"] for e in manifest["data_files"].values()}
    assert pinned == on_archive
    notes = (workspace / "release_notes.md").read_text()
    assert f"DANDI: {dandiset}/{v1} (<{published['version']['url']}>)" in notes

    # the real dandi-cli fetches exactly the published version, byte for byte
    out = tmp_path / "downloaded"
    out.mkdir()
    url = f"{archive.api_url}/dandisets/{dandiset}/versions/{v1}/"
    dandi(dandi_env(archive, tmp_path / "home"), "download", "-o", str(out), url, cwd=tmp_path)
    assert tree(out / dandiset) == tree(workspace / "dandiset")

    # nothing changed: nothing is published on either side
    code, again, _ = release(cli, workspace, "--bump", "patch")
    assert code == 0 and again["release"]["status"] == "unchanged"
    assert again["publish"]["outcome"] == "unchanged"
    assert again["publish"]["version"]["version"] == v1
    assert len(versions(archive, dandiset)) == 2  # the draft and v1

    # one changed file: a second version, whose metadata links that release's notes
    sessions = workspace / "sessions.csv"
    sessions.write_text(sessions.read_text().replace(",F,P70D,", ",M,P70D,", 1))
    code, second, stderr = release(cli, workspace, "--version", "1.1.0")
    assert code == 0, json.dumps(second, indent=1) + stderr
    assert second["dandi"]["counts"]["uploaded"] == 1
    v2 = second["publish"]["version"]["version"]
    assert v2 != v1 and len(versions(archive, dandiset)) == 3
    metadata = requests.get(f"{archive.api_url}/dandisets/{dandiset}/versions/{v2}/", timeout=30)
    body = metadata.json()
    (link,) = body["relatedResource"]
    assert link["relation"] == "dcite:IsDescribedBy"
    assert link["url"].endswith("/study/release_notes.md")
    assert link["name"] == "Release notes of study v1.1.0"
    assert body["description"] == "Running speed of two mice, recorded for publishkit's tests."
    # the version's release notes, sent with the publish (DANDI shows them on its page)
    assert body["releaseNotes"] == f"Release notes of study v1.1.0: {link['url']}"
    old = requests.get(f"{archive.api_url}/dandisets/{dandiset}/versions/{v1}/", timeout=30)
    assert old.json()["relatedResource"][0]["name"] == "Release notes of study v1.0.0"
    assert old.json()["releaseNotes"].startswith("Release notes of study v1.0.0: http")
    draft = requests.get(f"{archive.api_url}/dandisets/{dandiset}/versions/draft/", timeout=30)
    assert "releaseNotes" not in draft.json()  # the archive strips it from a draft
    listed = requests.get(f"{archive.api_url}/dandisets/{dandiset}/versions/", timeout=30)
    notes = {v["version"]: v["release_notes"] for v in listed.json()["results"]}
    assert notes == {"draft": "", v1: old.json()["releaseNotes"], v2: body["releaseNotes"]}
    document = json.loads(
        (workspace / "manifests" / "study_project_manifest_v1.1.0.json").read_text()
    )
    assert document["dandi"]["version"] == v2

    # consumers: a file manifest pinned to the published version; status shows both sides
    table = workspace / "files.csv"
    exported = cli(
        "export", "file-manifest", "--pin-dandi-version", "-o", str(table), "-w", str(workspace)
    )
    assert exported.exit_code == 0, exported.stderr
    rows = list(csv.DictReader(table.open()))
    assert all(f"/versions/{v2}/assets/" in row["archive_uri"] for row in rows)
    fetched = requests.get(rows[0]["archive_uri"], timeout=30)
    assert fetched.content == (workspace / rows[0]["file_path"]).read_bytes()
    status = json.loads(cli("status", "-w", str(workspace), "-f", "json").stdout)
    assert status["dandi_version"]["version"] == v2
    assert {f["in_dandi_version"] for f in status["files"]} == {f"{dandiset}/{v2}"}

    # an asset the archive finds Invalid (sent by another tool) stops the publish, listed
    auth = {"Authorization": f"token {archive.api_key}"}
    data = b"not from this workspace " * 100
    blob = upload_blob(archive.api_url, auth, dandiset, data, dandi_etag(data)).json()
    added = requests.post(
        f"{archive.api_url}/dandisets/{dandiset}/versions/draft/assets/",
        json={"blob_id": blob["blob_id"], "metadata": {"path": "sub-x/sub-x.nwb"}},
        headers=auth,
        timeout=30,
    )
    assert added.status_code == 200
    code, refused, _ = release(cli, workspace, "--only", "publish")
    assert code == 1 and refused["stopped_by_publish"]
    assert refused["publish"]["errors"] == [
        "sub-x/sub-x.nwb: (the whole record): 'encodingFormat' is a required property",
        "sub-x/sub-x.nwb: (the whole record): 'schemaKey' is a required property",
    ]
    assert len(versions(archive, dandiset)) == 3


def versions(archive: DandiSandbox, dandiset: str) -> list[str]:
    url = f"{archive.api_url}/dandisets/{dandiset}/versions/"
    return [v["version"] for v in requests.get(url, timeout=30).json()["results"]]


def test_a_subject_id_the_archive_would_refuse_is_refused_at_organize(cli, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    write_nwb(workspace / "maus.nwb", subject_id="Maus-ü1", session_id="s1")
    (workspace / "publishkit.yaml").write_text("project: p\n")
    result = cli("organize", "-w", str(workspace))
    assert result.exit_code == 2
    assert f"{workspace / 'maus.nwb'}: DANDI would refuse its dandiset path" in result.stderr
    assert "'ü' is not allowed (from subject_id 'Maus-ü1')" in result.stderr
    assert "(fix: change subject_id in the file" in result.stderr
    assert not (workspace / "dandiset").exists()
