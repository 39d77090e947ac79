"""A workspace made from a template, converted, organized and uploaded to the local DANDI archive
with publishkit; then read back with the real dandi-cli."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from publishkit.sandbox.archive import DandiSandbox
from tests.nwbfactory import write_nwb
from tests.sandbox.test_archive import api_assets, dandi, dandi_env, tree
from tests.scenarios.test_crash_pipeline import kill_inside
from tests.studies import release_to_s3

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
    as_a_dandi_user(archive, tmp_path / "home", monkeypatch)
    assert cli("convert", "-w", str(workspace)).exit_code == 0
    assert cli("organize", "-w", str(workspace)).exit_code == 0
    return workspace, dandiset


def as_a_dandi_user(archive: DandiSandbox, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """dandi-cli's home and caches under `home`, and DANDI_API_KEY set, as a user would."""
    for key, value in dandi_env(archive, home).items():
        if key.startswith(("HOME", "XDG_", "DANDI_", "PYTHON_KEYRING")):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv(archive.api_key_env_var, raising=False)
    monkeypatch.setenv("DANDI_API_KEY", archive.api_key)  # what a user sets; publishkit relays it


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
    tried = []
    for _ in range(3):  # killed halfway: one asset made, the second not; else a new dandiset
        hit, what = kill_inside(
            publishkit_upload(workspace),
            started=lambda d=dandiset: bool(api_assets(archive, d)),
            finished=lambda d=dandiset: len(api_assets(archive, d)) == 2,
            delay=0,
            what=f"upload to {dandiset}",
        )
        tried.append(what)
        if hit:
            break
        dandiset = archive.create_dandiset("pipeline test, again")
        _point_at(workspace, dandiset)
    else:
        pytest.fail("no upload was killed halfway:\n" + "\n".join(tried))
    print("\n".join(tried))
    assert len(api_assets(archive, dandiset)) == 1
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


def _point_at(workspace: Path, dandiset: str) -> None:
    """The workspace's uploads go to `dandiset` from now on (config and dandiset.yaml)."""
    config = workspace / "publishkit.yaml"
    text = config.read_text()
    start = text.index("  dandiset: '") + len("  dandiset: '")
    config.write_text(text[:start] + dandiset + text[start + len(dandiset) :])
    (workspace / "dandiset" / "dandiset.yaml").write_text(f"identifier: DANDI:{dandiset}\n")


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


def test_a_stale_asset_is_removed_with_the_key_given_not_one_from_the_environment(
    cli, study: tuple[Path, str], archive: DandiSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The core is given the key (the CLI reads the environment): removing a stale asset asks
    for no key of its own (dandi-cli's authenticate would read the environment, then a keyring
    that fails loudly here)."""
    from publishkit.dandi.upload import upload_to_dandi
    from publishkit.workspace.config import load_settings

    workspace, dandiset = study
    assert upload(cli, workspace)["counts"]["uploaded"] == 2
    sessions = workspace / "sessions.csv"
    sessions.write_text("".join(sessions.read_text().splitlines(keepends=True)[:2]))
    assert cli("convert", "-w", str(workspace)).exit_code == 0
    assert cli("organize", "-w", str(workspace)).exit_code == 0
    monkeypatch.delenv("DANDI_API_KEY")
    monkeypatch.delenv(archive.api_key_env_var, raising=False)
    report = upload_to_dandi(settings=load_settings(workspace), api_key=archive.api_key)
    assert report.counts() == {"uploaded": 0, "unchanged": 1, "removed": 1, "failed": 0}
    assert [a["path"] for a in api_assets(archive, dandiset)] == [
        "sub-M-101/sub-M-101_ses-ts01.nwb"
    ]


RELAXED = {  # three ways a workspace lets a file with a CRITICAL finding pass its own gate
    "suppressed": (
        "  suppress:\n    - check: check_subject_sex\n      paths: m1.nwb\n"
        "      reason: the sex is corrected in the next release\n"
    ),
    "downgraded": "  importance:\n    check_subject_sex: BEST_PRACTICE_SUGGESTION\n",
    "skipped": "  skip: [check_subject_sex]\n",
}


@pytest.mark.parametrize("relaxed", sorted(RELAXED))
def test_what_the_workspace_relaxed_dandi_cli_validates_and_refuses_and_the_rest_goes_on(
    cli, tmp_path: Path, archive: DandiSandbox, monkeypatch, relaxed: str
) -> None:
    dandiset = archive.create_dandiset("relaxed")
    workspace = tmp_path / "relaxed"
    write_nwb(workspace / "m1.nwb", subject_id="m1", session_id="s1", sex="female")  # CRITICAL
    write_nwb(workspace / "m2.nwb", subject_id="m2", session_id="s2")
    (workspace / "publishkit.yaml").write_text(
        f"project: relaxed\ndandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
        f"inspection:\n{RELAXED[relaxed]}"
    )
    as_a_dandi_user(archive, tmp_path / "home", monkeypatch)
    inspected = cli("inspect", "-w", str(workspace))
    assert inspected.exit_code == 0, inspected.stdout  # the workspace's own gate lets m1 pass
    write_nwb(workspace / "m3.nwb", subject_id="m3", session_id="s3")  # never inspected
    assert cli("organize", "-w", str(workspace)).exit_code == 0

    result = cli("upload", "--target", "dandi", "-w", str(workspace), "--format", "json")

    assert result.exit_code == 1, result.stdout + result.stderr
    report = json.loads(result.stdout)["dandi"]
    assert report["counts"] == {"uploaded": 2, "unchanged": 0, "removed": 0, "failed": 1}
    files = {f["dandi_path"]: f for f in report["files"]}
    refused = files["sub-m1/sub-m1_ses-s1.nwb"]  # first in the upload order: the others go on
    assert refused["outcome"] == "failed" and refused["validated_by_dandi"]
    assert refused["asset_id"] is None
    assert "failed validation" in refused["reason"] and "check_subject_sex" in refused["reason"]
    clean = files["sub-m2/sub-m2_ses-s2.nwb"]
    assert clean["outcome"] == "uploaded"
    # checked as DANDI checks (a suppression leaves the checks as they are): not validated twice;
    # with checks the workspace changed, its inspection says nothing of DANDI's verdict
    assert clean["validated_by_dandi"] is (relaxed != "suppressed")
    late = files["sub-m3/sub-m3_ses-s3.nwb"]  # not inspected here: dandi-cli validates it
    assert late["outcome"] == "uploaded" and late["validated_by_dandi"]
    on_server = {a["path"]: a["asset_id"] for a in api_assets(archive, dandiset)}
    assert on_server == {
        "sub-m2/sub-m2_ses-s2.nwb": clean["asset_id"],
        "sub-m3/sub-m3_ses-s3.nwb": late["asset_id"],
    }
    text = cli("upload", "--target", "dandi", "-w", str(workspace))
    assert text.exit_code == 1
    assert "failed: sub-m1/sub-m1_ses-s1.nwb: UploadValidationError: failed validation" in (
        text.stderr
    )
    assert "2 unchanged" in text.stdout and "1 failed" in text.stdout
    assert "Traceback" not in text.stderr


def test_only_an_inspection_as_dandi_inspects_spares_dandi_cli_its_validation(
    cli, tmp_path: Path, archive: DandiSandbox, monkeypatch
) -> None:
    dandiset = archive.create_dandiset("clean")
    workspace = tmp_path / "clean"
    for n in (1, 2, 3):
        write_nwb(workspace / f"m{n}.nwb", subject_id=f"m{n}", session_id=f"s{n}")
    (workspace / "publishkit.yaml").write_text(
        f"project: clean\ndandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
    )
    as_a_dandi_user(archive, tmp_path / "home", monkeypatch)
    for name, args in (("m1", []), ("m2", ["--no-dandi"]), ("m3", ["--config", "none"])):
        inspected = cli("inspect", str(workspace / f"{name}.nwb"), *args, "-w", str(workspace))
        assert inspected.exit_code == 0, inspected.stdout  # each passes the bar it was given
    assert cli("organize", "-w", str(workspace)).exit_code == 0
    report = upload(cli, workspace)
    validated = {f["dandi_path"].split("/")[0]: f["validated_by_dandi"] for f in report["files"]}
    assert validated == {"sub-m1": False, "sub-m2": True, "sub-m3": True}
    assert report["counts"]["uploaded"] == 3


def test_a_file_changed_since_its_dandi_upload_loses_its_asset_id_in_the_manifest(
    cli, study: tuple[Path, str], archive: DandiSandbox, bucket, aws_env
) -> None:
    workspace, dandiset = study
    release_to_s3(workspace, bucket.bucket)

    def released(version: str, *args: str) -> dict:
        result = cli("release", "--version", version, "-w", str(workspace), *args)
        assert result.exit_code == 0, result.stdout + result.stderr
        path = workspace / "manifests" / f"study_project_manifest_v{version}.json"
        return json.loads(path.read_text())["data_files"]

    first = released("1.0.0")
    assert first["sub-M-101_ses-ts01"]["dandi_asset_id"]
    # new content for one session, organized but not uploaded to DANDI; released to S3 alone
    write_nwb(workspace / "nwb" / "sub-M-101_ses-ts01.nwb", subject_id="M-101", session_id="ts01")
    assert cli("organize", "-w", str(workspace)).exit_code == 0
    assert cli("upload", "--target", "s3", "-w", str(workspace)).exit_code == 0
    stale = released("1.1.0", "--from", "manifest")
    assert stale["sub-M-101_ses-ts01"]["file_hash"] != first["sub-M-101_ses-ts01"]["file_hash"]
    assert not {"dandiset_id", "dandi_asset_path", "dandi_asset_id"} & set(
        stale["sub-M-101_ses-ts01"]
    )  # the old asset holds the old content
    kept, before = stale["sub-M-102_ses-ts02"], first["sub-M-102_ses-ts02"]  # unchanged
    assert (kept["version_id"], kept["dandi_asset_id"]) == (
        before["version_id"],
        before["dandi_asset_id"],
    )
    # the new content is a new asset (the manifest gains it with the next release that changes)
    (uploaded,) = [f for f in upload(cli, workspace)["files"] if f["outcome"] == "uploaded"]
    assert uploaded["dandi_path"] == "sub-M-101/sub-M-101_ses-ts01.nwb"
    assert uploaded["asset_id"] != first["sub-M-101_ses-ts01"]["dandi_asset_id"]
    on_server = {a["path"]: a["asset_id"] for a in api_assets(archive, dandiset)}
    assert on_server[uploaded["dandi_path"]] == uploaded["asset_id"]
