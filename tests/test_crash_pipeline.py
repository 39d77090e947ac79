"""A whole release (convert, inspect, organize, DANDI upload, S3 upload, manifest, notes) SIGKILLed
once in each stage that writes, at a random instant inside it, then run again: it converges to
what one uninterrupted run makes, with nothing duplicated anywhere and no partial file left.

Each kill waits for a sign that its stage is under way (a file being converted, a file placed in
the dandiset folder, an asset on the archive, an object in the bucket), then a random delay.
The seed is printed; PUBLISHKIT_CRASH_SEED=N replays a failing run.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import pytest

from publishkit.dandi_server import DandiSandbox
from tests.studies import release_to_s3, repeat_first_session
from tests.test_dandi_server import api_assets, dandi_env

pytestmark = pytest.mark.slow
SESSIONS = 6
NOTES = "release_notes.md"


def release(workspace: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "-w", str(workspace), *args],
        env=os.environ.copy(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_when(
    process: subprocess.Popen[str], sign: Callable[[], bool], delay: float, what: str
) -> str:
    """SIGKILL `process` `delay` s after `sign()` first holds; what happened, for the log."""
    deadline = time.monotonic() + 120
    while not sign():
        if process.poll() is not None:
            return f"{what}: the run ended before its sign (exit {process.returncode})"
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{what}: no sign of the stage within 120 s")
        time.sleep(0.005)
    time.sleep(delay)
    state = "killed" if process.poll() is None else f"had ended (exit {process.returncode})"
    process.kill()
    process.communicate()
    return f"{what}: {state} {delay:.3f} s after its sign"


@pytest.fixture
def study(cli, tmp_path: Path, archive: DandiSandbox, s3_server, monkeypatch) -> dict:
    """Six sessions from the timeseries template, to DANDI and to a bucket of their own."""
    dandiset = archive.create_dandiset("crash test")
    release_bucket = s3_server.create_bucket("crash-release", "us-west-2").bucket
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    repeat_first_session(workspace, SESSIONS)
    config = workspace / "publishkit.yaml"
    config.write_text(
        config.read_text() + f"dandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
    )
    release_to_s3(workspace, release_bucket)
    for key, value in dandi_env(archive, tmp_path / "home").items():
        if key.startswith(("HOME", "XDG_", "DANDI_", "PYTHON_KEYRING")):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv(archive.api_key_env_var, raising=False)
    monkeypatch.setenv("DANDI_API_KEY", archive.api_key)
    for key, value in {
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": "us-west-2",
    }.items():
        monkeypatch.setenv(key, value)
    return {"workspace": workspace, "dandiset": dandiset, "bucket": release_bucket}


def test_a_release_killed_in_every_stage_converges(
    study: dict, archive: DandiSandbox, s3_server
) -> None:
    workspace, dandiset, bucket = study["workspace"], study["dandiset"], study["bucket"]
    seed = int(os.environ.get("PUBLISHKIT_CRASH_SEED", random.randrange(2**31)))
    print(f"PUBLISHKIT_CRASH_SEED={seed}")
    chance = random.Random(seed)
    s3 = s3_server.client("us-west-2")
    nwb, organized = workspace / "nwb", workspace / "dandiset"

    def objects() -> list[dict]:
        return s3.list_object_versions(Bucket=bucket).get("Versions", [])

    signs: list[tuple[str, Callable[[], bool], float]] = [
        ("convert", lambda: any(nwb.glob(".*.part")) or any(nwb.glob("*.nwb")), 0.4),
        ("organize", lambda: any(organized.rglob("*.nwb*")), 0.3),
        ("DANDI upload", lambda: bool(api_assets(archive, dandiset)), 0.4),
        ("S3 upload", lambda: bool(objects()), 0.15),
    ]
    happened = []
    for what, sign, spread in signs:
        run = release(workspace, "--version", "1.0.0")
        happened.append(kill_when(run, sign, chance.uniform(0, spread), what))
    print("\n".join(happened))

    final = release(workspace, "--version", "1.0.0", "--format", "json")
    stdout, stderr = final.communicate(timeout=600)
    assert final.returncode == 0, stdout + stderr

    # the workspace: every session converted whole, placed once, no partial file anywhere
    outputs = sorted(nwb.glob("*.nwb"))
    assert len(outputs) == SESSIONS
    for path in outputs:
        with h5py.File(path, "r") as handle:
            assert "identifier" in handle
    assert not [p for p in workspace.rglob("*.part")]
    placed = sorted(organized.rglob("*.nwb"))
    assert len(placed) == SESSIONS
    contents = {hashlib.sha256(p.read_bytes()).hexdigest() for p in outputs}
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in placed} == contents

    # the archive: one asset per session, each with the content of its file
    assets = api_assets(archive, dandiset)
    assert sorted(a["path"] for a in assets) == sorted(
        p.relative_to(organized).as_posix() for p in placed
    )

    # the bucket: one version per released content, the manifest pins each file's hash
    per_key: dict[str, int] = {}
    for version in objects():
        per_key[version["Key"]] = per_key.get(version["Key"], 0) + 1
    assert {k: n for k, n in per_key.items() if n > 1 and not k.endswith(NOTES)} == {}
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    key = "study/manifests/study_project_manifest_v1.0.0.json"
    remote = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    local = workspace / "manifests" / "study_project_manifest_v1.0.0.json"
    assert json.loads(local.read_text()) == remote
    assert len(remote["data_files"]) == SESSIONS
    for entry in [*remote["metadata_files"].values(), *remote["data_files"].values()]:
        body = s3.get_object(
            Bucket=bucket, Key="study/" + entry["path"], VersionId=entry["version_id"]
        )
        assert hashlib.blake2b(body["Body"].read()).hexdigest() == entry["file_hash"]
        assert entry.get("dandi_asset_id") or entry["path"].endswith(".csv")
    assert (workspace / NOTES).read_text().count("## v1.0.0") == 1

    again = release(workspace, "--bump", "patch", "--format", "json")
    stdout, stderr = again.communicate(timeout=600)
    assert again.returncode == 0, stderr
    assert json.loads(stdout)["release"]["status"] == "unchanged"
    assert len(api_assets(archive, dandiset)) == SESSIONS
