"""`publishkit sandbox`: a real server process, its KEY=VALUE lines, a versioned public bucket."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from werkzeug.serving import WSGIRequestHandler

from publishkit.errors import UsageError
from publishkit.sandbox.archive import DandiSandbox
from tests.nwbfactory import write_nwb

ROOT = Path(__file__).resolve().parents[2]  # the publishkit the subprocesses import


def test_sandbox_serves_s3_and_dandi_and_prints_their_environment(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "publishkit", "sandbox", "--bucket", "rehearsal"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(8)]
        env = dict(line.split("=", 1) for line in lines)
        told = [process.stdout.readline().strip() for _ in range(3)]
        assert told[0].startswith("# dandi-cli reads this archive's key from 127.0.0.1:")
        assert env["DANDI_API_URL"].startswith("http://127.0.0.1:")
        assert env["DANDI_API_URL"].endswith("/api")
        dandiset = requests.get(
            f"{env['DANDI_API_URL']}/dandisets/{env['DANDISET_ID']}/versions/draft/assets/",
            headers={"Authorization": f"token {env['DANDI_API_KEY']}"},
            timeout=30,
        ).json()
        assert dandiset["count"] == 0  # an empty dandiset, ready for uploads
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert env["PUBLISHKIT_BUCKET"] == "rehearsal"
        client = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=env["AWS_DEFAULT_REGION"],
        )
        assert client.get_bucket_versioning(Bucket="rehearsal")["Status"] == "Enabled"
        client.put_object(Bucket="rehearsal", Key="k", Body=b"x")
        anonymous = boto3.client(
            "s3",
            endpoint_url=env["AWS_ENDPOINT_URL"],
            region_name=env["AWS_DEFAULT_REGION"],
            config=Config(signature_version=UNSIGNED),
        )
        assert anonymous.get_object(Bucket="rehearsal", Key="k")["Body"].read() == b"x"
        uploaded_with(told[-1].removeprefix("# "), env, tmp_path)
    finally:
        process.terminate()
        process.communicate(timeout=10)


def uploaded_with(command: str, env: dict[str, str], tmp_path: Path) -> None:
    """Run the `env ... dandi upload` line the sandbox printed, in a shell, in a dandiset
    folder of one file: the real dandi-cli uploads it with the key the line passes."""
    folder = tmp_path / env["DANDISET_ID"]
    folder.mkdir()
    (folder / "dandiset.yaml").write_text(f"identifier: DANDI:{env['DANDISET_ID']}\n")
    write_nwb(folder / "sub-m1" / "sub-m1_ses-s1.nwb", subject_id="m1", session_id="s1")
    home = {"HOME": str(tmp_path), "DANDI_CACHE": "ignore", "DANDI_NO_ET": "1"}
    shell = {k: v for k, v in os.environ.items() if not k.startswith("DANDI")}
    shell["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{shell.get('PATH', '')}"
    done = subprocess.run(
        ["sh", "-c", f"{command} --validation skip"],
        cwd=folder,
        env={**shell, **home, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    listed = requests.get(
        f"{env['DANDI_API_URL']}/dandisets/{env['DANDISET_ID']}/versions/draft/assets/", timeout=30
    ).json()
    assert [a["path"] for a in listed["results"]] == ["sub-m1/sub-m1_ses-s1.nwb"]


def sandbox_command(*args: str, tmp: Path) -> tuple[list[str], dict[str, str]]:
    """`publishkit sandbox ARGS` as a subprocess of this checkout, its temp folders under tmp."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp)}
    return [sys.executable, "-m", "publishkit", "sandbox", *args], env


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another program is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield other.getsockname()[1]


def test_a_port_in_use_is_refused_at_once(taken_port: int, tmp_path: Path) -> None:
    command, env = sandbox_command("--port", str(taken_port), tmp=tmp_path)
    # moto's server thread used to die on the port and leave the command asleep forever
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (
        f"error: cannot listen on 127.0.0.1:{taken_port}: Address already in use (fix: pass "
        f"--port 0 to pick a free port, or stop the program using port {taken_port})\n"
    )
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # its temporary folder is gone too


def test_the_dandi_sandbox_refuses_a_port_in_use(s3_server, taken_port: int, tmp_path) -> None:
    archive = DandiSandbox(
        s3_server.endpoint_url, "blobs", "us-west-2", tmp_path / "d.sqlite", port=taken_port
    )
    with pytest.raises(UsageError) as caught:
        archive.start()
    assert f"cannot listen on 127.0.0.1:{taken_port}: Address already in use" in str(caught.value)
    assert "--port 0" in (caught.value.hint or "")
    archive.stop()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--bucket", "Bad_Name"], "error: --bucket 'Bad_Name': not a valid S3 bucket name"),
        (["--bucket", "ab"], "error: --bucket 'ab': not a valid S3 bucket name"),
        (["--bucket", "dandi-blobs"], "error: --bucket dandi-blobs: the sandbox keeps its DANDI"),
        (["--region", "US_West"], "error: --region 'US_West': not a valid region name"),
        (["--region", "us west"], "error: --region 'us west': not a valid region name"),
    ],
)
def test_bad_bucket_and_region_names_are_refused_before_anything_starts(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    command, env = sandbox_command(*args, tmp=tmp_path)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(expected) and "(fix: " in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no temporary folder: nothing started


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_stops_the_sandbox_and_removes_its_temporary_folder(
    tmp_path: Path, stop: signal.Signals
) -> None:
    """How a sandbox ends (`kill`, Ctrl-C): exit 0, not an interrupted command's 130/143."""
    command, env = sandbox_command(tmp=tmp_path)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    try:
        printed = dict(lines.get(timeout=60).strip().split("=", 1) for _ in range(8))
        assert printed["DANDISET_ID"] == "000001"
        (state,) = tmp_path.iterdir()
        assert state.name.startswith("publishkit-sandbox-")
        assert (state / "dandi.sqlite").is_file()
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert stderr == ""
    assert not state.exists()


def test_both_sandboxes_serve_on_loopback_until_stopped() -> None:
    """One LoopbackServer serves each sandbox's app: its URL while it runs, a clear error
    before and after."""
    from publishkit.sandbox.s3 import LoopbackServer

    def hello(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    server = LoopbackServer("test", 0)
    with pytest.raises(RuntimeError, match="the test sandbox is not running"):
        _ = server.url
    server.start(hello, WSGIRequestHandler)
    try:
        assert server.running
        assert requests.get(server.url, timeout=5).text == "hello"
    finally:
        server.stop()
    assert not server.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.url
