"""The site's history (`releases/history.json`): the one document a release reads for its
index; a bucket without it (an older publishkit) is read the old way once and given it; a
release it lacks is completed from that release's record, else from its manifest (real moto
S3 over HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Workspace
from tests.site.test_publishing import two_releases, versions

HISTORY = "demo-project/releases/history.json"


def read_json(s3_client: Any, bucket: str, key: str) -> Any:
    return json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())


def put_json(s3_client: Any, bucket: str, key: str, document: Any) -> None:
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())


def reads_of(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys the run reads with get_bytes (each still read for real)."""
    from publishkit.s3.bucket import S3Bucket

    reads: list[str] = []
    real = S3Bucket.get_bytes

    def spy(self: S3Bucket, key: str, version_id: str | None = None) -> bytes | None:
        reads.append(key)
        return real(self, key, version_id)

    monkeypatch.setattr(S3Bucket, "get_bytes", spy)
    return reads


def site_reads(reads: list[str]) -> list[str]:
    """The site's documents read (the preflight reads the latest manifest: not counted)."""
    return sorted(key for key in reads if "/releases/" in key)


def published_index(s3_client: Any, bucket: str) -> str:
    index = s3_client.get_object(Bucket=bucket, Key="demo-project/index.html")
    return str(index["Body"].read().decode())


@pytest.mark.slow
def test_a_bucket_without_the_history_is_read_from_the_records_once_and_given_it(
    cli, workspace: Workspace, aws_env, s3_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages and records an older publishkit put, no history: the next release reads each
    earlier record (the old way) and writes the history; the release after reads only it."""
    two_releases(cli, workspace)
    bucket = workspace.bucket
    for version in versions(s3_client, bucket, HISTORY):  # as an older publishkit left it
        s3_client.delete_object(Bucket=bucket, Key=HISTORY, VersionId=version)
    record_key = "demo-project/releases/v0.1.0.json"
    record = read_json(s3_client, bucket, record_key)
    record["release"]["files"] = 777  # a mark only the record carries
    put_json(s3_client, bucket, record_key, record)
    reads = reads_of(monkeypatch)
    workspace.set_sessions({"101": b"again"})
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    assert site_reads(reads) == [
        HISTORY,
        "demo-project/releases/v0.1.0.json",
        "demo-project/releases/v0.2.0.json",
    ]
    assert '<td class="num">777</td>' in published_index(s3_client, bucket)
    history = read_json(s3_client, bucket, HISTORY)
    assert sorted(history["releases"]) == ["0.1.0", "0.2.0", "1.0.0"]
    assert history["releases"]["0.1.0"]["files"] == 777

    reads.clear()
    workspace.set_sessions({"101": b"and again"})
    assert cli("release", "--version", "1.1.0", cwd=workspace.root).exit_code == 0
    assert site_reads(reads) == [HISTORY]  # one document, not one record per release
    assert '<td class="num">777</td>' in published_index(s3_client, bucket)
    assert len(versions(s3_client, bucket, HISTORY)) == 2  # a new version each release


@pytest.mark.slow
def test_a_release_the_history_lacks_is_completed_from_its_record(
    cli, workspace: Workspace, aws_env, s3_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_releases(cli, workspace)
    bucket = workspace.bucket
    history = read_json(s3_client, bucket, HISTORY)
    del history["releases"]["0.1.0"]
    put_json(s3_client, bucket, HISTORY, history)
    record_key = "demo-project/releases/v0.1.0.json"
    record = read_json(s3_client, bucket, record_key)
    record["release"]["files"] = 777
    put_json(s3_client, bucket, record_key, record)
    reads = reads_of(monkeypatch)
    workspace.set_sessions({"101": b"again"})
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    assert site_reads(reads) == [HISTORY, record_key]  # only the record it lacks
    assert '<td class="num">777</td>' in published_index(s3_client, bucket)
    completed = read_json(s3_client, bucket, HISTORY)
    assert sorted(completed["releases"]) == ["0.1.0", "0.2.0", "1.0.0"]
    assert completed["releases"]["0.1.0"] == record["release"]


@pytest.mark.slow
def test_a_release_made_while_the_site_was_off_is_completed_from_its_manifest(
    cli, workspace: Workspace, aws_env, s3_client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """0.2.0 was released with `site: false` (no page, no record, not in the history): the
    next release with the site reads 0.2.0's manifest and the one before it, and its index is
    the one drawn from every manifest."""
    bucket, config = workspace.bucket, workspace.root / "publishkit.yaml"
    plain = config.read_text()
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    config.write_text(plain + "site: false\n")
    workspace.set_sessions({"101": b"session 101 " * 1000, "102": b"x" * 10, "103": b"new"})
    assert cli("release", "--version", "0.2.0", cwd=workspace.root).exit_code == 0
    config.write_text(plain)
    reads = reads_of(monkeypatch)
    workspace.set_sessions({"101": b"again", "103": b"new"})
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    assert site_reads(reads) == [HISTORY, "demo-project/releases/v0.2.0.json"]  # absent
    manifests = "demo-project/manifests/demo-project_project_manifest_v"
    read = sorted(key for key in reads if key.startswith(manifests))
    # 0.2.0's and the one before it, for 0.2.0's facts (the preflight read the latest
    # manifest from the workspace's copy, whose MD5 is the ETag the bucket listed)
    assert read == [f"{manifests}0.1.0.json", f"{manifests}0.2.0.json"]
    history = read_json(s3_client, bucket, HISTORY)
    assert sorted(history["releases"]) == ["0.1.0", "0.2.0", "1.0.0"]
    facts = history["releases"]["0.2.0"]
    # s103 created; s102 and the sessions table changed
    assert (facts["files"], facts["created"], facts["changed"], facts["deleted"]) == (4, 1, 2, 0)
    out = tmp_path / "preview"
    assert cli("site", "--out", str(out), cwd=workspace.root).exit_code == 0
    assert (out / "index.html").read_text() == published_index(s3_client, bucket)


@pytest.mark.slow
def test_a_history_that_is_not_valid_is_drawn_again_and_said(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    """The release is published by the time its site is: a broken history is drawn again
    from the records (in the log), not a refusal that leaves the site behind."""
    two_releases(cli, workspace)
    bucket = workspace.bucket
    s3_client.put_object(Bucket=bucket, Key=HISTORY, Body=b'{"history_version": 7}')
    workspace.set_sessions({"101": b"again"})
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert f"s3://{bucket}/{HISTORY}: at /" in result.stderr
    assert "Traceback" not in result.stderr
    history = read_json(s3_client, bucket, HISTORY)
    assert sorted(history["releases"]) == ["0.1.0", "0.2.0", "1.0.0"]
    assert history["history_version"] == 1
