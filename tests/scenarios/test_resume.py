"""A release SIGKILLed in the middle of a large file's upload, then run again, through the WAN
proxy: the re-run resumes the multipart upload the dead run left open and sends only the parts
the bucket lacks (the proxy counts the bytes); a file changed between the runs starts over, and
the re-run says so. Either way: the deep check passes, one version, nothing left open."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from publishkit.sandbox.s3 import S3Sandbox
from publishkit.sandbox.wan import WanProxy
from tests.conftest import Workspace

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
SIZE = 40 * MIB  # 8 parts of 5 MiB
KEY = "demo-project/data/s101.nwb"
CONFIG = "  multipart_threshold_mb: 5\n  part_size_mb: 5\n  max_concurrency: 2\n"


@pytest.fixture
def wan(s3_server: S3Sandbox) -> Iterator[WanProxy]:
    """10 MiB/s per connection: the 40 MiB file takes about two seconds, two parts at once."""
    with WanProxy(s3_server.endpoint_url, rate=10 * MIB, latency_ms=5) as proxy:
        yield proxy


def release(workspace: Workspace, endpoint: str) -> subprocess.Popen[str]:
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint}
    return subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "--version", "0.1.0"],
        cwd=workspace.root,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def journaled_parts(workspace: Workspace) -> int:
    try:
        with sqlite3.connect(workspace.root / ".publishkit" / "state.sqlite", timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM open_upload_parts").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet
        return 0


def killed_mid_upload(workspace: Workspace, wan: WanProxy, s3_client: Any) -> None:
    """A release through the proxy, SIGKILLed once S3 acknowledged 5 of the 8 parts."""
    workspace.write_config(extra_s3=CONFIG)
    workspace.set_sessions({"101": os.urandom(SIZE), "102": b"session 102 " * 2000})
    run = release(workspace, wan.endpoint_url)
    deadline = time.monotonic() + 60
    while journaled_parts(workspace) < 5 and run.poll() is None:
        assert time.monotonic() < deadline, "the upload never got to 5 parts"
        time.sleep(0.01)
    assert run.poll() is None, run.communicate()  # still running: the kill lands mid-upload
    run.kill()
    run.communicate()
    assert 5 <= journaled_parts(workspace) < 8
    (upload,) = s3_client.list_multipart_uploads(Bucket=workspace.bucket)["Uploads"]
    assert upload["Key"] == KEY
    assert versions(s3_client, workspace.bucket) == []


def versions(s3_client: Any, bucket: str) -> list[dict[str, Any]]:
    listed = s3_client.list_object_versions(Bucket=bucket, Prefix=KEY).get("Versions", [])
    return [v for v in listed if v["Key"] == KEY]


def assert_released_once(cli, workspace: Workspace, s3_client: Any) -> None:
    (only,) = versions(s3_client, workspace.bucket)
    pinned = json.loads(workspace.manifest_path("0.1.0").read_text())["data_files"]["101"]
    assert pinned["version_id"] == only["VersionId"]
    body = s3_client.get_object(Bucket=workspace.bucket, Key=KEY)["Body"].read()
    assert body == (workspace.root / "data" / "s101.nwb").read_bytes()
    assert s3_client.list_multipart_uploads(Bucket=workspace.bucket).get("Uploads", []) == []
    deep = cli("verify", str(workspace.manifest_path("0.1.0")), "--deep", cwd=workspace.root)
    assert deep.exit_code == 0, deep.stdout + deep.stderr


def test_a_release_killed_mid_upload_resumes_and_sends_under_45_percent_again(
    cli, workspace: Workspace, aws_env, s3_client, wan: WanProxy
) -> None:
    killed_mid_upload(workspace, wan, s3_client)
    wan.reset_counts()
    rerun = release(workspace, wan.endpoint_url)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    sent = wan.traffic().bytes_up
    assert sent < 0.45 * SIZE, f"the re-run sent {sent / SIZE:.0%} of the file again"
    assert "resumed 1 interrupted upload(s)" in stdout, stdout
    assert "started over" not in stderr
    assert_released_once(cli, workspace, s3_client)


def test_a_file_changed_between_the_runs_starts_over_and_says_so(
    cli, workspace: Workspace, aws_env, s3_client, wan: WanProxy
) -> None:
    killed_mid_upload(workspace, wan, s3_client)
    (workspace.root / "data" / "s101.nwb").write_bytes(os.urandom(SIZE))  # same size, new bytes
    wan.reset_counts()
    rerun = release(workspace, wan.endpoint_url)
    stdout, stderr = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, stderr
    assert (
        "data/s101.nwb: its upload started over: it changed since an earlier run began "
        "uploading it" in stderr
    ), stderr
    assert "resumed" not in stdout
    assert wan.traffic().bytes_up >= SIZE  # all of it, again
    assert_released_once(cli, workspace, s3_client)
