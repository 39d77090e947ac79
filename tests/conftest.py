"""Shared fixtures: a real moto S3 server on loopback, buckets, workspaces and a CLI runner."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from publishkit.cli.app import app
from publishkit.sandbox.archive import DandiSandbox
from publishkit.sandbox.s3 import S3Sandbox, SandboxInfo

REGION = "us-west-2"
_bucket_numbers = itertools.count()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Sandbox]:
    """One moto S3 server over HTTP on 127.0.0.1 for the whole session (never in-process mocks)."""
    with S3Sandbox() as server:
        yield server


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's AWS configuration or writes to their home."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Sandbox) -> dict[str, str]:
    """Credentials and endpoint for the sandbox, as a release engineer's shell would have them."""
    env = {
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": "sandbox",
        "AWS_DEFAULT_REGION": REGION,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def bucket(s3_server: S3Sandbox) -> SandboxInfo:
    """A fresh versioned, public-read bucket for one test."""
    return s3_server.create_bucket(f"test-bucket-{next(_bucket_numbers)}", REGION)


@pytest.fixture
def archive(s3_server: S3Sandbox, bucket: SandboxInfo, tmp_path: Path) -> Iterator[DandiSandbox]:
    """The local DANDI archive (publishkit's), its blobs in a fresh bucket of the S3 server."""
    with DandiSandbox(
        s3_server.endpoint_url, bucket.bucket, REGION, tmp_path / "dandi.sqlite"
    ) as sandbox:
        yield sandbox


@pytest.fixture
def s3_client(s3_server: S3Sandbox) -> Any:
    return s3_server.client(REGION)


@dataclass
class Workspace:
    """A release workspace on disk: publishkit.yaml, a sessions table, data files."""

    root: Path
    bucket: str
    project: str = "demo-project"

    def write_config(self, extra_s3: str = "", body: str | None = None) -> None:
        text = body or (
            f"project: {self.project}\n"
            f"s3:\n  bucket: {self.bucket}\n  region: {REGION}\n{extra_s3}"
            "metadata_files:\n  sessions: metadata/sessions.csv\n"
        )
        (self.root / "publishkit.yaml").write_text(text)

    def set_sessions(self, rows: dict[str, bytes]) -> None:
        """One row per data file id -> content, written to data/<id>.nwb."""
        lines = ["file_id,file_path,subject_id"]
        for file_id, content in rows.items():
            path = self.root / "data" / f"s{file_id}.nwb"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists() or path.read_bytes() != content:
                path.write_bytes(content)
            lines.append(f"{file_id},data/s{file_id}.nwb,mouse-{file_id}")
        (self.root / "metadata").mkdir(exist_ok=True)
        (self.root / "metadata" / "sessions.csv").write_text("\n".join(lines) + "\n")

    def manifest_path(self, version: str) -> Path:
        return self.root / "manifests" / f"{self.project}_project_manifest_v{version}.json"


@pytest.fixture
def workspace(tmp_path: Path, bucket: SandboxInfo) -> Workspace:
    ws = Workspace(tmp_path / "release", bucket.bucket)
    ws.root.mkdir()
    ws.write_config()
    ws.set_sessions({"101": b"session 101 " * 1000, "102": b"session 102 " * 2000})
    return ws


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run `publishkit ARGS` through typer's CliRunner in a folder (default: the cwd)."""

    def run(*args: str, cwd: Path | None = None) -> Result:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        result = CliRunner().invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    return run
