"""A fetch SIGKILLed between putting a file in place and recording it: the file is still known
as fetch's, so a later fetch of other content for that path replaces it without --overwrite,
while a file fetch never placed (one it meant to place, and did not) is still refused."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import Workspace
from tests.faultproxy import Fault, FaultProxy, Request

REPO = Path(__file__).resolve().parents[2]


def _fetching(endpoint: str, manifest: Path, cache: Path, cwd: Path) -> subprocess.Popen[bytes]:
    """A real `publishkit fetch MANIFEST --to CACHE` started against `endpoint` (a proxy)."""
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "publishkit", "fetch", str(manifest), "--to", str(cache)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_file_placed_by_a_fetch_killed_before_recording_it_is_still_fetchs(
    cli, workspace: Workspace, aws_env, s3_server, tmp_path: Path
) -> None:
    """The window is hit for real: the proxy holds every GET but s102's; once s102's GET has
    arrived, the test takes the fetch folder's state store write lock (as a second fetch into
    the folder committing its records would), lets s102's answer through, waits for the file
    at its name, and SIGKILLs the fetch: no record written after that GET can be committed."""
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    workspace.set_sessions({"101": b"session 101 " * 1000, "102": b"edited"})
    assert cli("release", "--version", "0.2.0", cwd=workspace.root).exit_code == 0
    recut = json.loads(workspace.manifest_path("0.2.0").read_text())
    recut["manifest_version"] = "0.1.0"  # another content of 0.1.0's folder (a re-cut manifest)
    recut_path = tmp_path / "recut.json"
    recut_path.write_text(json.dumps(recut))
    cache = tmp_path / "cache"
    target = cache / "demo-project-0.1.0" / "data" / "s102.nwb"
    arrived, let_102, let_rest = threading.Event(), threading.Event(), threading.Event()

    def hold(request: Request) -> Fault | None:
        if request.method == "GET" and "versionId=" in request.query:
            if request.key.endswith("/s102.nwb"):
                arrived.set()
                let_102.wait(60)
            else:
                let_rest.wait(60)
        return None

    with FaultProxy(s3_server.endpoint_url, hold) as proxy:
        child = _fetching(proxy.url, workspace.manifest_path("0.1.0"), cache, tmp_path)
        lock = None
        try:
            _wait_for(lambda: arrived.is_set() or child.poll() is not None)
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            lock = sqlite3.connect(cache / ".publishkit" / "state.sqlite", timeout=30)
            lock.isolation_level = None
            lock.execute("BEGIN IMMEDIATE")  # no record of the fetch commits from now on
            let_102.set()
            _wait_for(lambda: target.exists() or child.poll() is not None)
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait()
            if lock is not None:
                lock.execute("ROLLBACK")
                lock.close()
            let_102.set()
            let_rest.set()
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"session 102 " * 2000  # placed, then killed
    mine = target.with_name("s101.nwb")  # the killed fetch meant to put 0.1.0's s101 there
    mine.write_bytes(b"my own notes")
    refused = cli("fetch", str(recut_path), "--to", str(cache), cwd=tmp_path)
    assert refused.exit_code == 2
    assert f"{mine}: not this release's content, and not placed there by fetch" in refused.stderr
    assert mine.read_bytes() == b"my own notes"
    mine.unlink()

    result = cli("fetch", str(recut_path), "--to", str(cache), "--format", "json", cwd=tmp_path)

    assert result.exit_code == 0, result.stderr
    outcomes = {f["path"]: f["outcome"] for f in json.loads(result.stdout)["files"]}
    assert outcomes["demo-project-0.1.0/data/s102.nwb"] == "downloaded"
    assert target.read_bytes() == b"edited"


def test_the_partials_of_a_killed_fetch_are_removed_by_the_next_and_only_those(
    cli, workspace: Workspace, aws_env, s3_server, tmp_path: Path
) -> None:
    """A fetch SIGKILLed while its GETs are held by the proxy leaves a `.NAME.<token>.part`
    beside each file it was writing; the next fetch into the folder removes them and fetches
    every file; a file named like a partial beside a path fetch never meant to place is not
    fetch's, and is left alone."""
    workspace.set_sessions({str(n): f"session {n} ".encode() * 300 for n in range(6)})
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    cache = tmp_path / "cache"
    data = cache / "demo-project-0.1.0" / "data"
    held, let_go = threading.Event(), threading.Event()

    def hold(request: Request) -> Fault | None:
        if request.method == "GET" and "versionId=" in request.query and "/data/" in request.key:
            held.set()
            let_go.wait(60)
        return None

    with FaultProxy(s3_server.endpoint_url, hold) as proxy:
        child = _fetching(proxy.url, workspace.manifest_path("0.1.0"), cache, tmp_path)
        try:
            _wait_for(lambda: held.is_set() or child.poll() is not None)
            _wait_for(lambda: len(list(data.glob(".*.part"))) == 6 or child.poll() is not None)
            assert child.poll() is None, child.stderr.read() if child.stderr else ""
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait()
            let_go.set()
    assert child.returncode == -signal.SIGKILL
    left = sorted(p.name for p in data.glob(".*.part"))
    assert len(left) == 6 and all(name.startswith(".s") for name in left), left
    users = data / ".notes.txt.0123456789ab.part"  # beside a path fetch never meant to place
    users.write_bytes(b"mine")

    result = cli("fetch", str(workspace.manifest_path("0.1.0")), "--to", str(cache), cwd=tmp_path)

    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in data.glob(".*.part")) == [users.name]
    assert users.read_bytes() == b"mine"
    for n in range(6):
        assert (data / f"s{n}.nwb").read_bytes() == f"session {n} ".encode() * 300


def test_a_folder_whose_filesystem_refuses_locks_still_fetches_and_removes_nothing(
    tmp_path: Path, monkeypatch
) -> None:
    """Some network mounts refuse flock (ENOLCK). Not caused for real here: flock is made to
    refuse, as such a mount does. The fetch goes on; no partial is removed, as none can be
    known dead."""
    import errno

    from publishkit.consume import leftovers
    from publishkit.workspace.state import StateStore

    def refused(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(leftovers.fcntl, "flock", refused)
    partial = tmp_path / ".s101.nwb.0123456789ab.part"
    partial.write_bytes(b"half")
    state = tmp_path / ".publishkit"
    with StateStore.in_dir(state) as store, leftovers.fetching(store, state) as removed:
        assert removed == 0
    assert partial.exists()
