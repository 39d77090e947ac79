"""A release that uploads to DANDI and S3 checks DANDI first and stops when DANDI fails: the
instance, the dandiset and the API key are asked for before any stage writes, and a failed
DANDI upload publishes nothing on S3. Against the local archive, with the real dandi-cli."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from publishkit.sandbox.archive import DandiSandbox
from tests.conftest import REGION
from tests.sandbox.test_archive import api_assets, dandi_env

pytestmark = pytest.mark.slow


@pytest.fixture
def both(cli, tmp_path: Path, archive: DandiSandbox, bucket, aws_env, monkeypatch) -> Path:
    """A template workspace that converts and releases to the local archive and to S3; the
    user's DANDI_API_KEY set, nothing converted yet."""
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    dandiset = archive.create_dandiset("guarantees")
    config = workspace / "publishkit.yaml"
    config.write_text(
        config.read_text()
        + f"dandi:\n  instance: {archive.api_url}\n  dandiset: '{dandiset}'\n"
        + f"s3:\n  bucket: {bucket.bucket}\n  region: {REGION}\n"
    )
    for key, value in dandi_env(archive, tmp_path / "home").items():
        if key.startswith(("HOME", "XDG_", "DANDI_", "PYTHON_KEYRING")):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv(archive.api_key_env_var, raising=False)
    monkeypatch.setenv("DANDI_API_KEY", archive.api_key)
    return workspace


def set_instance(workspace: Path, old: str, new: str) -> None:
    config = workspace / "publishkit.yaml"
    config.write_text(config.read_text().replace(old, new))


def released(s3_client, bucket) -> list[str]:
    """The release's object versions (the archive keeps its blobs in the same bucket)."""
    listed = s3_client.list_object_versions(Bucket=bucket.bucket, Prefix="study/")
    return [v["Key"] for v in listed.get("Versions", [])]


def assert_nothing_written(workspace: Path, archive: DandiSandbox, s3_client, bucket) -> None:
    assert not (workspace / "nwb").exists() and not (workspace / "dandiset").exists()
    assert released(s3_client, bucket) == []
    assert s3_client.list_object_versions(Bucket=bucket.bucket).get("Versions", []) == []


def refusal(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_key_the_archive_refuses_stops_the_release_before_anything_is_written(
    cli, both: Path, archive: DandiSandbox, s3_client, bucket, monkeypatch
) -> None:
    monkeypatch.setenv("DANDI_API_KEY", "not-the-key")
    started = time.monotonic()
    result = cli("release", "--version", "1.0.0", "-w", str(both))
    assert result.exit_code == 2
    line = refusal(result)
    assert "refused the DANDI API key (HTTP 401)" in line and "DANDI_API_KEY" in line
    assert "not-the-key" not in result.stderr + result.stdout
    assert time.monotonic() - started < 30
    assert_nothing_written(both, archive, s3_client, bucket)
    plan = cli("release", "--plan", "--version", "1.0.0", "-w", str(both))
    assert plan.exit_code == 1 and "refused the DANDI API key" in plan.stdout


def test_no_key_at_all_is_refused_with_where_to_put_it(
    cli, both: Path, archive: DandiSandbox, s3_client, bucket, monkeypatch
) -> None:
    monkeypatch.delenv("DANDI_API_KEY")
    result = cli("release", "--version", "1.0.0", "-w", str(both))
    assert result.exit_code == 2
    line = refusal(result)
    assert "no DANDI API key" in line and "export DANDI_API_KEY" in line
    assert_nothing_written(both, archive, s3_client, bucket)


def test_an_instance_that_does_not_answer_is_refused_in_seconds(
    cli, both: Path, archive: DandiSandbox, s3_client, bucket
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    set_instance(both, archive.api_url, f"http://127.0.0.1:{closed}/api")
    started = time.monotonic()
    result = cli("release", "--version", "1.0.0", "-w", str(both))
    assert result.exit_code == 1  # an outage, not bad input
    assert "no answer asking for its server info" in refusal(result)
    assert time.monotonic() - started < 15
    assert_nothing_written(both, archive, s3_client, bucket)


def test_an_instance_that_accepts_and_never_answers_is_refused_in_seconds(
    cli, both: Path, archive: DandiSandbox, s3_client, bucket
) -> None:
    """dandi-cli would wait for ever (its requests have no timeout), then retry for minutes:
    the preflight asks once, with a short timeout."""
    with socket.socket() as silent:  # connections accepted by the kernel, never answered
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        set_instance(both, archive.api_url, f"http://127.0.0.1:{silent.getsockname()[1]}/api")
        started = time.monotonic()
        result = cli("release", "--version", "1.0.0", "-w", str(both))
        took = time.monotonic() - started
    assert result.exit_code == 1  # an outage, not bad input
    assert "no answer asking for its server info (ReadTimeout)" in refusal(result)
    assert took < 9  # the preflight's timeout (5 s), before the CLI says it is still working
    assert_nothing_written(both, archive, s3_client, bucket)


def test_a_dandiset_the_archive_does_not_have_is_refused(
    cli, both: Path, archive: DandiSandbox, s3_client, bucket
) -> None:
    config = both / "publishkit.yaml"
    text = config.read_text()
    dandiset = text.split("dandiset: '")[1].split("'")[0]
    config.write_text(text.replace(f"dandiset: '{dandiset}'", "dandiset: '999999'"))
    result = cli("release", "--version", "1.0.0", "-w", str(both))
    assert result.exit_code == 2
    assert "dandi.dandiset 999999" in refusal(result)
    assert_nothing_written(both, archive, s3_client, bucket)


def test_a_failed_dandi_upload_publishes_nothing_on_s3(
    cli, both: Path, archive: DandiSandbox, s3_client, bucket
) -> None:
    """A file DANDI rejects, published despite inspection: dandi-cli validates it (it did not
    pass), refuses it, and the S3 release stops before anything goes up."""
    sessions = both / "sessions.csv"
    sessions.write_text(sessions.read_text().replace(",F,P70D,", ",female,P70D,"))
    result = cli(
        "release",
        "--version",
        "1.0.0",
        "-w",
        str(both),
        "--publish-despite-inspection",
        "sex is in the lab notebook",
        "-f",
        "json",
    )
    assert result.exit_code == 1, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["stopped_by_dandi"] and summary["release"] is None
    failed = [f for f in summary["dandi"]["files"] if f["outcome"] == "failed"]
    assert failed and all(f["reason"] for f in failed)
    assert released(s3_client, bucket) == []
    assert not (both / "manifests").exists()
    text = cli(
        "release", "--version", "1.0.0", "-w", str(both), "--publish-despite-inspection", "x"
    )
    assert "the DANDI upload failed, so nothing was published to S3" in text.stderr
    assert "Traceback" not in text.stdout + text.stderr
    assert len(api_assets(archive, summary["dandi"]["dandiset"])) < 2
