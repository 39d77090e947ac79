"""A workspace made from a template, converted, organized and uploaded to the local DANDI archive
with publishkit; then read back with the real dandi-cli."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from publishkit.dandi_server import DandiSandbox
from tests.studies import release_to_s3
from tests.test_dandi_server import api_assets, dandi, dandi_env, tree

pytestmark = pytest.mark.slow


@pytest.fixture
def study(cli, tmp_path: Path, archive: DandiSandbox, monkeypatch) -> tuple[Path, str]:
    """A converted, organized workspace pointed at the local archive (DANDI_API_KEY set)."""
    dandiset = archive.create_dandiset("pipeline test")
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    config = workspace / "publishkit.yaml"
    config.write_text(
        config.read_text() + f"dandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
    )
    for key, value in dandi_env(archive, tmp_path / "home").items():
        if key.startswith(("HOME", "XDG_", "DANDI_", "PYTHON_KEYRING")):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv(archive.api_key_env_var, raising=False)
    monkeypatch.setenv("DANDI_API_KEY", archive.api_key)  # what a user sets; publishkit relays it
    assert cli("convert", "-w", str(workspace)).exit_code == 0
    assert cli("organize", "-w", str(workspace)).exit_code == 0
    return workspace, dandiset


def upload(cli, workspace: Path) -> dict:
    result = cli("upload", "--target", "dandi", "-w", str(workspace), "--format", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)["dandi"]


def test_upload_then_dandi_download_gives_the_same_files(
    cli,
    study: tuple[Path, str],
    archive: DandiSandbox,
    tmp_path: Path,
) -> None:
    workspace, dandiset = study
    # inspection passed for these contents: dandi-cli does not validate them again
    assert cli("inspect", "-w", str(workspace)).exit_code == 0
    first = upload(cli, workspace)
    assert first["counts"] == {"uploaded": 2, "unchanged": 0, "removed": 0, "failed": 0}
    assert not any(f["validated_by_dandi"] for f in first["files"])
    again = upload(cli, workspace)
    assert again["counts"] == {"uploaded": 0, "unchanged": 2, "removed": 0, "failed": 0}
    assert len(api_assets(archive, dandiset)) == 2

    env = dandi_env(archive, tmp_path / "home")
    listed = dandi(
        env, "ls", "-r", "-f", "json", f"{archive.api_url}/dandisets/{dandiset}/", cwd=tmp_path
    )
    paths = {item.get("path") for item in json.loads(listed.stdout) if item.get("path")}
    assert {"sub-M-101/sub-M-101_ses-ts01.nwb", "sub-M-102/sub-M-102_ses-ts02.nwb"} <= paths
    out = tmp_path / "downloaded"
    out.mkdir()
    dandi(
        env,
        "download",
        "-o",
        str(out),
        f"{archive.api_url}/dandisets/{dandiset}/versions/draft/",
        cwd=tmp_path,
    )
    assert tree(out / dandiset) == tree(workspace / "dandiset")


def test_manifest_and_file_manifest_point_at_the_assets(
    cli,
    study: tuple[Path, str],
    archive: DandiSandbox,
    s3_server,
    bucket,
    aws_env,
) -> None:
    workspace, dandiset = study
    release_to_s3(workspace, bucket.bucket)  # one row per NWB file
    released = cli("release", "--version", "1.0.0", "-w", str(workspace), "-f", "json")
    assert released.exit_code == 0, released.stdout + released.stderr
    stages = json.loads(released.stdout)["stages"]
    assert stages == ["convert", "inspect", "organize", "upload", "manifest", "notes"]
    on_server = {a["path"]: a["asset_id"] for a in api_assets(archive, dandiset)}
    document = json.loads(
        (workspace / "manifests" / "study_project_manifest_v1.0.0.json").read_text()
    )
    entry = document["data_files"]["sub-M-101_ses-ts01"]
    assert entry["dandiset_id"] == dandiset
    assert entry["dandi_asset_path"] == "sub-M-101/sub-M-101_ses-ts01.nwb"
    assert entry["dandi_asset_id"] == on_server["sub-M-101/sub-M-101_ses-ts01.nwb"]
    out = workspace / "file_manifest.csv"
    assert cli("export", "file-manifest", "-o", str(out), "-w", str(workspace)).exit_code == 0
    row = next(r for r in csv.DictReader(out.open()) if r["file_id"] == "sub-M-101_ses-ts01")
    assert row["archive_uri"] == f"{archive.api_url}/assets/{entry['dandi_asset_id']}/download/"
    download = requests.get(row["archive_uri"], allow_redirects=True, timeout=30)
    assert download.content == (workspace / "nwb" / "sub-M-101_ses-ts01.nwb").read_bytes()


def publishkit_upload(workspace: Path) -> subprocess.Popen[bytes]:
    """`publishkit upload --target dandi` as a process of its own, to be killed or awaited."""
    command = [sys.executable, "-m", "publishkit", "upload", "--target", "dandi"]
    return subprocess.Popen(
        [*command, "-w", str(workspace), "--format", "json"],
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_an_interrupted_upload_converges_without_duplicates(
    study: tuple[Path, str], archive: DandiSandbox
) -> None:
    workspace, dandiset = study
    process = publishkit_upload(workspace)
    deadline = time.monotonic() + 120
    while not api_assets(archive, dandiset) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)  # halfway: one asset made, the second not (yet) done
    process.wait()
    assert len(api_assets(archive, dandiset)) >= 1
    rerun = publishkit_upload(workspace)
    _, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr
    assets = api_assets(archive, dandiset)
    assert sorted(a["path"] for a in assets) == [
        "sub-M-101/sub-M-101_ses-ts01.nwb",
        "sub-M-102/sub-M-102_ses-ts02.nwb",
    ]
    again = publishkit_upload(workspace)
    stdout, _ = again.communicate(timeout=300)
    assert json.loads(stdout)["dandi"]["counts"]["unchanged"] == 2


def test_a_session_removed_from_the_table_leaves_nwb_dandiset_and_draft(
    cli, study: tuple[Path, str], archive: DandiSandbox
) -> None:
    workspace, dandiset = study
    assert upload(cli, workspace)["counts"]["uploaded"] == 2
    sessions = workspace / "sessions.csv"
    lines = sessions.read_text().splitlines(keepends=True)
    sessions.write_text("".join(lines[:2]))  # header + the first session only
    converted = json.loads(cli("convert", "-w", str(workspace), "-f", "json").stdout)
    assert converted["removed"] == ["nwb/sub-M-102_ses-ts02.nwb"]
    assert "sub-M-102" not in (workspace / "nwb_files.csv").read_text()
    organized = json.loads(cli("organize", "-w", str(workspace), "-f", "json").stdout)
    assert organized["counts"]["removed"] == 1
    result = upload(cli, workspace)
    assert result["counts"] == {"uploaded": 0, "unchanged": 1, "removed": 1, "failed": 0}
    assert [a["path"] for a in api_assets(archive, dandiset)] == [
        "sub-M-101/sub-M-101_ses-ts01.nwb"
    ]
