"""A whole release (convert, inspect, organize, DANDI upload, S3 upload, manifest, notes) SIGKILLed
once in each stage that writes, at a random instant inside it, then run again: it converges to
what one uninterrupted run makes, with nothing duplicated anywhere and no partial file left.

Each kill waits for a sign that its stage is under way (a file being converted, a DANDI name
computed, an asset on the archive, an object in the bucket), then a random delay; afterwards it
checks that it hit the stage (the run was still going, the stage not finished). A kill that missed
starts the whole sequence again in a new workspace, with shorter delays. Publishkit's S3 requests
go through a proxy that holds each PUT a moment, so that the S3 upload lasts long enough to be
hit. The seed is printed; PUBLISHKIT_CRASH_SEED=N replays a failing run's delays.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import h5py
import pytest

from publishkit.sandbox.archive import DandiSandbox
from tests.faultproxy import Request
from tests.sandbox.test_archive import api_assets
from tests.studies import release_to_s3, repeat_first_session

pytestmark = pytest.mark.slow
SESSIONS = 6
NOTES = "release_notes.md"
ATTEMPTS = 3
PUT_HOLD = 0.1  # s the proxy holds each PUT to the bucket, one PUT after the other


def release(workspace: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "-w", str(workspace), *args],
        env=os.environ.copy(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def kill_inside(
    process: subprocess.Popen[str],
    started: Callable[[], bool],
    finished: Callable[[], bool],
    delay: float,
    what: str,
) -> tuple[bool, str]:
    """SIGKILL `process` `delay` s after `started()` first holds. Whether the kill landed inside
    the stage (the process still running, so killed by this signal, and `finished()` false
    afterwards, when nothing moves any more), and what happened, for the log."""
    deadline = time.monotonic() + 120
    while not started():
        if process.poll() is not None:
            _, stderr = process.communicate()
            last = (stderr.strip().splitlines() or [""])[-1]  # the error line, when it failed
            return False, f"{what}: the run ended (exit {process.returncode}) before it: {last}"
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            pytest.fail(f"{what}: no sign of the stage within 120 s")
        time.sleep(0.005)
    time.sleep(delay)
    process.kill()
    process.communicate()
    if process.returncode != -signal.SIGKILL:
        return False, f"{what}: the run had ended (exit {process.returncode}) {delay:.3f} s after"
    if finished():
        return False, f"{what}: killed {delay:.3f} s after its sign, but the stage had finished"
    return True, f"{what}: killed inside the stage, {delay:.3f} s after its sign"


@dataclass
class Study:
    workspace: Path
    dandiset: str
    bucket: str

    @property
    def nwb(self) -> Path:
        return self.workspace / "nwb"

    @property
    def organized(self) -> Path:
        return self.workspace / "dandiset"


@pytest.fixture
def new_study(
    cli, tmp_path: Path, archive: DandiSandbox, s3_server, through_proxy, dandi_home
) -> Callable[[int], Study]:
    """Six sessions from the timeseries template, to DANDI and to a bucket of their own (one
    each per attempt); publishkit reaches the bucket through a proxy that holds each PUT."""

    one_at_a_time = threading.Lock()

    def hold_puts(request: Request) -> None:
        if request.method == "PUT":
            with one_at_a_time:  # a slow link: PUTs in parallel still take turns
                time.sleep(PUT_HOLD)

    through_proxy(hold_puts)

    def make(attempt: int) -> Study:
        dandiset = archive.create_dandiset(f"crash test {attempt}")
        bucket = s3_server.create_bucket(f"crash-release-{attempt}", "us-west-2").bucket
        workspace = tmp_path / f"study-{attempt}" / "study"
        assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
        repeat_first_session(workspace, SESSIONS)
        config = workspace / "publishkit.yaml"
        config.write_text(
            config.read_text()
            + f"dandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
        )
        release_to_s3(workspace, bucket)
        return Study(workspace, dandiset, bucket)

    return make


def test_a_release_killed_in_every_stage_converges(
    new_study: Callable[[int], Study], archive: DandiSandbox, s3_server
) -> None:
    seed = int(os.environ.get("PUBLISHKIT_CRASH_SEED", random.randrange(2**31)))
    print(f"PUBLISHKIT_CRASH_SEED={seed}")
    chance = random.Random(seed)
    s3 = s3_server.client("us-west-2")
    happened: list[str] = []
    for attempt in range(ATTEMPTS):
        study = new_study(attempt)
        if _kill_in_every_stage(study, s3, archive, chance, attempt, happened):
            break
    else:
        pytest.fail("no attempt killed every stage inside it:\n" + "\n".join(happened))
    print("\n".join(happened))
    workspace, dandiset, bucket = study.workspace, study.dandiset, study.bucket
    nwb, organized = study.nwb, study.organized

    def objects() -> list[dict]:
        return s3.list_object_versions(Bucket=bucket).get("Versions", [])

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


def _kill_in_every_stage(
    study: Study,
    s3,
    archive: DandiSandbox,
    chance: random.Random,
    attempt: int,
    happened: list[str],
) -> bool:
    """One run per stage, each SIGKILLed inside its stage; False as soon as a kill missed."""
    nwb, organized, state = study.nwb, study.organized, study.workspace / ".publishkit"

    def released_keys() -> set[str]:
        versions = s3.list_object_versions(Bucket=study.bucket).get("Versions", [])
        published = ("/manifests/", "/summaries/", "/releases/")  # the manifest's and notes'
        keys = {v["Key"] for v in versions if not any(p in v["Key"] for p in published)}
        return keys - {f"study/{NOTES}", "study/index.html"}

    def names_computed() -> bool:
        if not (state / "state.sqlite").exists():
            return False
        with closing(sqlite3.connect(state / "state.sqlite", timeout=30)) as db:
            try:
                return bool(db.execute("SELECT count(*) FROM dandi_names").fetchone()[0])
            except sqlite3.OperationalError:  # the table is not made yet
                return False

    # (stage, a sign it started, whether it finished, the spread of the delay after the sign)
    stages: list[tuple[str, Callable[[], bool], Callable[[], bool], float]] = [
        (
            "convert",
            lambda: any(nwb.glob(".*.part")) or any(nwb.glob("*.nwb")),
            lambda: (study.workspace / "nwb_files.csv").exists(),  # written last
            0.4,
        ),
        ("organize", names_computed, lambda: (organized / "dandiset.yaml").exists(), 0.3),
        (
            "DANDI upload",
            lambda: bool(api_assets(archive, study.dandiset)),
            lambda: len(api_assets(archive, study.dandiset)) == SESSIONS,
            0.4,
        ),
        (
            "S3 upload",
            lambda: bool(released_keys()),
            lambda: len(released_keys()) == SESSIONS + 1,  # the NWB files and their table
            SESSIONS * PUT_HOLD / 2,  # the sign comes with the first of SESSIONS + 1 PUTs
        ),
    ]
    for what, started, finished, spread in stages:
        run = release(study.workspace, "--version", "1.0.0")
        delay = chance.uniform(0, spread / 2**attempt)
        hit, line = kill_inside(run, started, finished, delay, f"attempt {attempt + 1}, {what}")
        happened.append(line)
        if not hit:
            return False
    return True
