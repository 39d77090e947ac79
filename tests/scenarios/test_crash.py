"""A release SIGKILLed at different instants, then run again: the bucket, the manifests and the
workspace end consistent, with nothing uploaded twice."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import Workspace

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


@pytest.mark.slow
# A whole release takes about 1.3 s here: the kills land in start-up, hashing, the uploads
# (the big file's parts), the manifest and the notes; a late one may find the run finished.
@pytest.mark.parametrize("delay", [0.6, 0.75, 0.9, 1.0, 1.1, 1.2, 1.3])
def test_sigkill_then_rerun_converges(
    cli, workspace: Workspace, aws_env, s3_client, delay: float
) -> None:
    workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n")
    workspace.set_sessions({"101": BIG, "102": b"session 102 " * 2000})
    killed = release(workspace)
    time.sleep(delay)
    killed.kill()
    killed.communicate()

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
    cli, workspace: Workspace, aws_env, s3_client, round_: int
) -> None:
    """Release A starts; release B starts while A runs (refused: one run at a time); the big
    file may be rewritten while A uploads it, and A may be SIGKILLed at a random instant. Then
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
    if kill:
        time.sleep(rng.uniform(0, 0.5))
        first.kill()  # whichever of the two holds the workspace, or the refused one
    _, first_err = first.communicate(timeout=120)
    _, second_err = second.communicate(timeout=120)
    print(f"rewrite={rewrite} kill={kill}: A exit {first.returncode}, B exit {second.returncode}")
    for run, err in ((first, first_err), (second, second_err)):
        assert run.returncode in (0, 1, 2, -9), err  # -9: killed
        if run.returncode == 1:  # the rewrite stopped its upload
            assert "changed while it was being released" in err, err
        if run.returncode == 2:  # the other one was running
            assert "another publishkit release (pid" in err, err
    assert 2 in (first.returncode, second.returncode) or first.returncode == -9, (
        "two releases ran at once and neither was refused"
    )

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
