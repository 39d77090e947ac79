"""A release SIGKILLed at different instants, then run again: the bucket, the manifests and the
workspace end consistent, with nothing uploaded twice."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.faultproxy import FaultProxy, Request

BIG = hashlib.sha256(b"crash").digest() * (11 * 1024 * 1024 // 32)  # goes up in 3 parts


def release(workspace: Workspace) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "--version", "0.1.0", "--quiet"],
        cwd=workspace.root,
        env=os.environ.copy(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


PUT_HOLD = 0.1  # s the proxy holds each PUT to the bucket: each step lasts long enough to hit


@pytest.fixture
def slow_puts(aws_env, s3_server, monkeypatch) -> Iterator[list[Callable[[Request], None]]]:
    """publishkit reaches the bucket through a proxy that holds each PUT PUT_HOLD s before
    forwarding it, and calls the hooks a test appends with each PUT, before it is forwarded."""
    hooks: list[Callable[[Request], None]] = []

    def hold(request: Request) -> None:
        if request.method == "PUT":
            for hook in hooks:
                hook(request)
            time.sleep(PUT_HOLD)

    proxy = FaultProxy(s3_server.endpoint_url, hold)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.start())
    yield hooks
    proxy.stop()
    assert proxy.alive_threads() == []


def keys_in(s3_client: Any, bucket: str) -> set[str]:
    return {v["Key"] for v in s3_client.list_object_versions(Bucket=bucket).get("Versions", [])}


DATA = {"demo-project/data/s101.nwb", "demo-project/data/s102.nwb"}
MANIFEST = "demo-project/manifests/demo-project_project_manifest_v0.1.0.json"
NOTES = "demo-project/release_notes.md"


def notes_have_it(s3_client: Any, bucket: str) -> bool:
    if NOTES not in keys_in(s3_client, bucket):
        return False
    body = s3_client.get_object(Bucket=bucket, Key=NOTES)["Body"].read()
    return "## v0.1.0" in body.decode()


@pytest.mark.slow
# Each kill is placed by a sign of its step in the bucket, and must land inside that step: the
# run still going (killed by the signal) and the step's work not done when nothing moves any more.
@pytest.mark.parametrize("step", ["start-up", "uploads", "manifest", "notes"])
def test_sigkill_then_rerun_converges(
    cli, workspace: Workspace, slow_puts, s3_client, step: str
) -> None:
    workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n")
    workspace.set_sessions({"101": BIG, "102": b"session 102 " * 2000})
    name = workspace.bucket
    started, finished, delay = {
        "start-up": (lambda: True, lambda: bool(keys_in(s3_client, name)), 0.3),
        "uploads": (
            lambda: bool(s3_client.list_multipart_uploads(Bucket=name).get("Uploads")),
            lambda: keys_in(s3_client, name) >= DATA,
            PUT_HOLD / 2,
        ),
        "manifest": (
            lambda: keys_in(s3_client, name) >= DATA,
            lambda: MANIFEST in keys_in(s3_client, name),
            0.0,
        ),
        "notes": (
            lambda: MANIFEST in keys_in(s3_client, name),
            lambda: notes_have_it(s3_client, name),
            0.0,
        ),
    }[step]
    killed = release(workspace)
    deadline = time.monotonic() + 60
    while not started():
        assert killed.poll() is None, f"the run ended before the {step}: {killed.communicate()}"
        assert time.monotonic() < deadline, f"no sign of the {step} within 60 s"
        time.sleep(0.005)
    time.sleep(delay)
    killed.kill()
    killed.communicate()
    assert killed.returncode == -signal.SIGKILL, f"the run had ended before the kill ({step})"
    assert not finished(), f"killed after the {step} had finished"
    assert not notes_have_it(s3_client, name), "the kill landed after the release"

    rerun = release(workspace)
    _, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr

    key = "demo-project/manifests/demo-project_project_manifest_v0.1.0.json"
    remote = json.loads(s3_client.get_object(Bucket=workspace.bucket, Key=key)["Body"].read())
    assert json.loads(workspace.manifest_path("0.1.0").read_text()) == remote
    listed = s3_client.list_object_versions(Bucket=workspace.bucket).get("Versions", [])
    per_key: dict[str, int] = {}
    for version in listed:
        per_key[version["Key"]] = per_key.get(version["Key"], 0) + 1
    # one content per key was ever released: one version each (the notes may be rewritten)
    assert {k: n for k, n in per_key.items() if n > 1 and not k.endswith("release_notes.md")} == {}
    assert s3_client.list_multipart_uploads(Bucket=workspace.bucket).get("Uploads", []) == []
    for entry in [*remote["metadata_files"].values(), *remote["data_files"].values()]:
        body = s3_client.get_object(
            Bucket=workspace.bucket,
            Key="demo-project/" + entry["path"],
            VersionId=entry["version_id"],
        )["Body"].read()
        assert hashlib.blake2b(body).hexdigest() == entry["file_hash"]
    notes = s3_client.get_object(Bucket=workspace.bucket, Key="demo-project/release_notes.md")
    assert "## v0.1.0" in notes["Body"].read().decode()
    assert (workspace.root / "release_notes.md").read_text().count("## v0.1.0") == 1


# --- two runs at once, a file rewritten mid-upload, a kill: over random seeds -------------------

ROUNDS = 1 if "PUBLISHKIT_CRASH_SEED" in os.environ else 4  # each round draws its own seed


def bucket_contents(s3_client: Any, bucket: str) -> dict[str, list[bytes]]:
    """Every version of every key, oldest first, its content downloaded."""
    found: dict[str, list[tuple[datetime, bytes]]] = {}
    for version in s3_client.list_object_versions(Bucket=bucket).get("Versions", []):
        body = s3_client.get_object(
            Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
        )["Body"].read()
        found.setdefault(version["Key"], []).append((version["LastModified"], body))
    return {key: [body for _, body in sorted(items)] for key, items in found.items()}


def assert_every_manifest_pins_what_is_in_the_bucket(s3_client: Any, workspace: Workspace) -> int:
    """Each published manifest: its local copy is the published one, and every entry's pinned
    version has the recorded size, blake2b and sha256. Returns how many were published."""
    prefix = "demo-project/manifests/"
    keys = [
        o["Key"]
        for o in s3_client.list_objects_v2(Bucket=workspace.bucket, Prefix=prefix).get(
            "Contents", []
        )
    ]
    for key in keys:
        remote = json.loads(s3_client.get_object(Bucket=workspace.bucket, Key=key)["Body"].read())
        local = workspace.root / "manifests" / key.removeprefix(prefix)
        assert json.loads(local.read_text()) == remote, key
        for entry in [*remote["metadata_files"].values(), *remote["data_files"].values()]:
            body = s3_client.get_object(
                Bucket=workspace.bucket,
                Key="demo-project/" + entry["path"],
                VersionId=entry["version_id"],
            )["Body"].read()
            assert len(body) == entry["size"], (key, entry["path"])
            assert hashlib.blake2b(body).hexdigest() == entry["file_hash"], (key, entry["path"])
            assert hashlib.sha256(body).hexdigest() == entry["sha256"], (key, entry["path"])
    return len(keys)


@pytest.mark.slow
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_runs_a_rewrite_and_a_kill_converge(
    cli, workspace: Workspace, slow_puts, s3_client, round_: int
) -> None:
    """Release A starts; release B starts while A runs (refused: one run at a time); the big
    file may be rewritten while the run that holds the workspace uploads it, and that run may be
    SIGKILLed while the bucket holds one of its PUTs, drawn at random (3 parts, 2 files, the
    manifest, the notes): a kill that lands mid-release, before that PUT is answered. Then
    the release is run until it succeeds: every manifest ever published pins exactly what the
    bucket holds, no key holds the same content twice, nothing is left open."""
    replay = os.environ.get("PUBLISHKIT_CRASH_SEED")
    seed = int(replay) if replay else random.randrange(2**32)
    print(f"seed {seed} (replay: PUBLISHKIT_CRASH_SEED={seed})")
    rng = random.Random(seed)
    workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n")
    workspace.set_sessions({"101": BIG, "102": b"session 102 " * 2000})
    big = workspace.root / "data" / "s101.nwb"
    rewrite, kill = rng.random() < 0.7, rng.random() < 0.6
    kill_at = rng.randrange(1, 8)  # the PUT held when the kill comes
    reached, killed = threading.Event(), threading.Event()
    puts = itertools.count(1)

    def hold_for_the_kill(request: Request) -> None:
        if next(puts) == kill_at:
            reached.set()
            killed.wait(30)  # the PUT goes on (or its client is gone) once the kill is sent

    if kill:
        slow_puts.append(hold_for_the_kill)
    first = release(workspace)
    time.sleep(rng.uniform(0, 0.3))
    second = release(workspace)  # both start up at once: one gets the workspace, one is refused
    deadline = time.monotonic() + 60
    while not s3_client.list_multipart_uploads(Bucket=workspace.bucket).get("Uploads"):
        if first.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.005)
    if rewrite:
        time.sleep(rng.uniform(0, 0.3))
        with big.open("r+b") as handle:
            handle.seek(rng.randrange(len(BIG) - 16))
            handle.write(os.urandom(16))
    holder = None
    while kill and not reached.wait(0.005):
        if first.poll() is not None and second.poll() is not None:
            break  # the rewrite stopped the run before its PUT number kill_at
    if reached.is_set():
        pid = json.loads((workspace.root / ".publishkit" / "run.lock").read_text())["pid"]
        holder = first if first.pid == pid else second
        holder.kill()
        holder.wait(30)
    killed.set()
    slow_puts.clear()
    _, first_err = first.communicate(timeout=120)
    _, second_err = second.communicate(timeout=120)
    print(
        f"rewrite={rewrite} kill={kill} at PUT {kill_at}: "
        f"A exit {first.returncode}, B exit {second.returncode}"
    )
    if holder is not None:  # it was waiting for its PUT's answer: killed mid-release
        assert holder.returncode == -signal.SIGKILL, f"the kill missed: exit {holder.returncode}"
        assert not notes_have_it(s3_client, workspace.bucket), "the kill landed after the release"
    for run, err in ((first, first_err), (second, second_err)):
        assert run.returncode in (0, 1, 2, -9), err  # -9: killed
        if run.returncode == 1:  # the rewrite stopped its upload
            assert "changed while it was being released" in err, err
        if run.returncode == 2:  # the other one was running
            assert "another publishkit release (pid" in err, err
    assert 2 in (first.returncode, second.returncode), "two releases ran at once, none refused"

    for version in ("0.1.0", "0.1.1"):  # 0.1.1 when 0.1.0 went out before the rewrite
        final = cli("release", "--version", version, cwd=workspace.root)
        if final.exit_code == 0:
            break
        assert "already published" in final.stderr, final.stderr
    assert final.exit_code == 0, final.stderr
    assert assert_every_manifest_pins_what_is_in_the_bucket(s3_client, workspace) >= 1
    for key, bodies in bucket_contents(s3_client, workspace.bucket).items():
        if not key.endswith("release_notes.md"):
            assert len(bodies) == len(set(bodies)), f"{key} holds one content twice"
    assert s3_client.list_multipart_uploads(Bucket=workspace.bucket).get("Uploads", []) == []
    latest = json.loads(workspace.manifest_path(version).read_text())
    assert latest["data_files"]["101"]["file_hash"] == hashlib.blake2b(big.read_bytes()).hexdigest()


def test_a_lost_local_manifest_is_restored_by_the_next_release_that_publishes(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    """A kill between the bucket's PUT of v0.1.0 and its local write loses the local copy; the
    next release, which publishes v0.1.1 because a file changed, restores it too."""
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    workspace.manifest_path("0.1.0").unlink()  # what the kill leaves behind
    workspace.set_sessions({"101": b"session 101, changed " * 1000, "102": b"session 102 " * 2000})

    result = cli("release", "--version", "0.1.1", cwd=workspace.root)

    assert result.exit_code == 0, result.stderr
    prefix = "demo-project/manifests/demo-project_project_manifest_v"
    for version in ("0.1.0", "0.1.1"):
        remote = s3_client.get_object(Bucket=workspace.bucket, Key=f"{prefix}{version}.json")
        local = workspace.manifest_path(version)
        assert local.exists(), f"v{version}'s local copy is missing"
        assert json.loads(local.read_text()) == json.loads(remote["Body"].read()), version
