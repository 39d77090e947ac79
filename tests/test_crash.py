"""A release SIGKILLed at different instants, then run again: the bucket, the manifests and the
workspace end consistent, with nothing uploaded twice."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

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
