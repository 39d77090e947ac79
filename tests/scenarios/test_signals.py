"""A converting release (convert and inspect with --jobs 2, S3 upload, manifest, notes; with
DANDI too, organize and the DANDI upload, as in issue 20's run) interrupted by SIGINT or
SIGTERM at random instants, run after run, then run to the end.

Each interrupted run exits 130 (SIGINT) or 143 (SIGTERM) with a line saying that a re-run
resumes, and publishes no manifest unless the manifest's PUT reached the bucket before the
signal was sent (the proxy in front of moto records when each request arrives). A run that
ended before its signal must have succeeded. Then a release runs to the end and its manifest
verifies. The seed is printed; PUBLISHKIT_SIGNAL_SEED=N replays a failing run's instants.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.faultproxy import Request
from tests.studies import release_to_s3, repeat_first_session

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads SigCgt in /proc"),
]
SESSIONS = 6
INSTANTS = 4
LATEST = 6.0  # s after the handlers are installed: a first run to S3 takes about this long
PUT_HOLD = 0.05  # s the proxy holds each PUT (one at a time), so that the upload can be hit
PREFIX = "/{bucket}/study/manifests/"


def release(workspace: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "-w", str(workspace), *args],
        cwd=workspace,
        env=os.environ.copy(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def handles_sigterm(pid: int) -> bool:
    """The process catches SIGTERM: publishkit's handlers are installed (SIGINT is caught by
    every Python process from its start, SIGTERM only by publishkit's)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            caught = next(line for line in handle if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.fixture(params=["s3", "dandi"])
def study(request, cli, tmp_path: Path, s3_server, through_proxy) -> tuple[Path, str, list, float]:
    """Six sessions of the timeseries template released to a bucket through a proxy that
    records when each PUT of a manifest arrives (and to a dandiset of the local archive)."""
    bucket = s3_server.create_bucket(f"signalled-{request.param}", "us-west-2").bucket
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    repeat_first_session(workspace, SESSIONS)
    if request.param == "dandi":
        archive = request.getfixturevalue("archive")
        request.getfixturevalue("dandi_home")
        # pynwb's cache of its type map in this fresh home, written once before the runs:
        # pynwb writes it in place on its first import, so a process killed as it writes, or
        # one reading as another writes, finds it cut short (EOFError in the forkserver's
        # preload); what is tested here is publishkit's handling of the signal
        subprocess.run([sys.executable, "-c", "import pynwb"], env=os.environ.copy(), check=True)
        dandiset = archive.create_dandiset("signalled")
        config = workspace / "publishkit.yaml"
        config.write_text(
            config.read_text()
            + f"dandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
        )
    release_to_s3(workspace, bucket)
    arrivals: list[tuple[float, str]] = []
    one_at_a_time = threading.Lock()

    def record(put: Request) -> None:
        if put.method == "PUT":
            if put.key.startswith(PREFIX.format(bucket=bucket)):
                arrivals.append((time.monotonic(), put.key))
            with one_at_a_time:
                time.sleep(PUT_HOLD)

    through_proxy(record)
    return workspace, bucket, arrivals, LATEST * (2 if request.param == "dandi" else 1)


def test_interrupted_at_random_instants_publishes_nothing_after_the_signal_then_converges(
    study: tuple[Path, str, list, float], s3_server
) -> None:
    workspace, bucket, arrivals, latest = study
    replay = os.environ.get("PUBLISHKIT_SIGNAL_SEED")
    seed = int(replay) if replay else random.randrange(2**32)
    print(f"seed {seed} (replay: PUBLISHKIT_SIGNAL_SEED={seed})")
    chance = random.Random(seed)
    s3 = s3_server.client("us-west-2")

    def manifests() -> set[str]:
        listed = s3.list_object_versions(Bucket=bucket, Prefix="study/manifests/")
        return {v["Key"] for v in listed.get("Versions", [])}

    happened = []
    for instant in range(INSTANTS):
        which = chance.choice([signal.SIGINT, signal.SIGTERM])
        delay = chance.uniform(0, latest)
        before = manifests()
        run = release(workspace, "--version", "1.0.0", "--jobs", "2")
        deadline = time.monotonic() + 60
        while not handles_sigterm(run.pid):
            assert run.poll() is None, (
                f"the release ended, never handling SIGTERM: {run.returncode}"
            )
            assert time.monotonic() < deadline, "publishkit installed no handler within 60 s"
            time.sleep(0.002)
        time.sleep(delay)
        sent = time.monotonic()
        run.send_signal(which)  # nothing is sent when the run has ended (and been reaped)
        _, stderr = run.communicate(timeout=120)
        what = f"instant {instant + 1}: {which.name} {delay:.3f} s in, exit {run.returncode}"
        happened.append(f"{what}: {(stderr.strip().splitlines() or [''])[-1][:90]}")
        assert "Traceback" not in stderr, f"{what}\n{stderr}"
        published = {f"study/{k.split('/study/', 1)[1]}" for t, k in arrivals if t < sent}
        assert manifests() <= before | published, f"{what}: a manifest was put after the signal"
        if run.returncode == 0:  # it had ended before the signal
            assert "study/manifests/study_project_manifest_v1.0.0.json" in manifests()
            continue
        assert run.returncode == 128 + which, f"{what}\n{stderr}"
        assert stderr.strip(), f"{what}: it said nothing ({happened})"
        last = stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: interrupted by {which.name} "), last
        assert last.endswith(
            "(fix: run the same command again: it resumes where this run stopped)"
        ), last
    print("\n".join(happened))

    final = release(workspace, "--version", "1.0.0", "--jobs", "2")
    _, stderr = final.communicate(timeout=300)
    assert final.returncode == 0, stderr
    name = "study_project_manifest_v1.0.0.json"
    assert manifests() == {f"study/manifests/{name}"}
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "publishkit",
            "verify",
            "--deep",
            str(workspace / "manifests" / name),
        ],
        cwd=workspace,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert not any(workspace.rglob("*.part"))
