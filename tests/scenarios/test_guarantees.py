"""A published release is never wrong: each promise of the README's "What publishkit
guarantees", caused for real (a file rewritten while it uploads, two processes, a bucket in
another region, a DANDI key the archive refuses) and checked in the bucket afterwards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REGION, Workspace
from tests.faultproxy import Request

MIB = 1024 * 1024
BIG = "demo-project/data/s101.nwb"


def versions(s3_client: Any, bucket: str) -> list[dict[str, Any]]:
    return s3_client.list_object_versions(Bucket=bucket).get("Versions", [])


def versions_of(s3_client: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    return [v for v in versions(s3_client, bucket) if v["Key"] == key]


def open_uploads(s3_client: Any, bucket: str) -> list[dict[str, Any]]:
    return s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def one_line_error(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    assert "internal error" not in text and "Traceback" not in text
    return lines[0]


def rewrite_at(path: Path, offset: int) -> None:
    """Change bytes of `path` in place, as a program still writing the file would."""
    with path.open("r+b") as handle:
        handle.seek(offset)
        handle.write(b"REWRITTEN")


# --- the bytes hashed are the bytes uploaded --------------------------------------------------


@pytest.mark.parametrize(
    ("when", "offset"),
    [
        ("UploadPart 1", 20 * MIB),  # before the last part is read: the whole-file hash differs
        ("UploadPart 1", 10),  # after part 1 was read and signed, before it is sent
        ("PutObject", 100),  # a small file, after it was signed, before it is sent
    ],
)
def test_a_file_rewritten_while_it_uploads_is_refused_and_leaves_no_version(
    cli, workspace: Workspace, through_proxy, s3_client, when: str, offset: int
) -> None:
    big = workspace.root / "data" / "s101.nwb"
    if when.startswith("UploadPart"):
        workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n")
        workspace.set_sessions({"101": os.urandom(24 * MIB), "102": b"session 102 " * 2000})
    rewritten: list[str] = []

    def plan(request: Request) -> None:
        is_part = "partNumber=1&" in request.query or request.query.endswith("partNumber=1")
        is_put = request.method == "PUT" and not request.query and request.key.endswith(BIG)
        wanted = is_part if when.startswith("UploadPart") else is_put
        if wanted and request.key.endswith(BIG) and not rewritten:
            rewrite_at(big, offset)
            rewritten.append(request.path)

    through_proxy(plan)
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)

    assert rewritten, "the file was never rewritten mid-upload"
    assert result.exit_code == 1, result.stdout + result.stderr
    assert "s101.nwb changed while it was being released" in result.stderr
    assert "no manifest was written" in result.stderr
    assert versions_of(s3_client, workspace.bucket, BIG) == []
    assert open_uploads(s3_client, workspace.bucket) == []
    assert not workspace.manifest_path("1.0.0").exists()
    # Run again: the new content is hashed, uploaded and pinned; the deep check agrees.
    again = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert again.exit_code == 0, again.stderr
    (only,) = versions_of(s3_client, workspace.bucket, BIG)
    pinned = json.loads(workspace.manifest_path("1.0.0").read_text())["data_files"]["101"]
    assert pinned["version_id"] == only["VersionId"]
    deep = cli("verify", str(workspace.manifest_path("1.0.0")), "--deep", cwd=workspace.root)
    assert deep.exit_code == 0, deep.stdout


def test_a_file_changed_after_it_was_hashed_is_refused_before_any_upload(
    cli, workspace: Workspace, aws_env, s3_client, monkeypatch
) -> None:
    """Staged (hashed) first, then edited before the upload starts: nothing goes up."""
    from publishkit.release import s3_staging

    staged_once = s3_staging.stage_release

    def stage_then_edit(**kwargs: Any) -> Any:
        staged = staged_once(**kwargs)
        big = workspace.root / "data" / "s102.nwb"
        big.write_bytes(big.read_bytes() + b" and one more line")
        return staged

    # The edit must land between hashing and uploading; this wraps the real staging step to
    # time it there (the bucket and files are real).
    monkeypatch.setattr(s3_staging, "stage_release", stage_then_edit)
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 1, result.stderr
    assert "s102.nwb changed while it was being released" in result.stderr
    assert "modified after it was hashed" in result.stderr
    assert versions(s3_client, workspace.bucket) == []


def test_a_retried_complete_whose_first_attempt_landed_is_recognised(
    cli, workspace: Workspace, through_proxy, s3_client
) -> None:
    """The first CompleteMultipartUpload completes the object but its answer is lost; the retry
    meets real S3's NoSuchUpload (the proxy answers it as S3 would; moto would answer 200)."""
    workspace.write_config(extra_s3="  multipart_threshold_mb: 5\n")
    workspace.set_sessions({"101": os.urandom(11 * MIB), "102": b"session 102 " * 2000})
    completes: list[int] = []

    def plan(request: Request) -> str | None:
        if request.method == "POST" and "uploadId=" in request.query:
            completes.append(request.number)
            return "reset_after" if len(completes) == 1 else "no_such_upload"
        return None

    through_proxy(plan)
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert len(completes) == 2, completes  # the answer was lost and the request sent again
    assert result.exit_code == 0, result.stderr
    (only,) = versions_of(s3_client, workspace.bucket, BIG)
    pinned = json.loads(workspace.manifest_path("1.0.0").read_text())["data_files"]["101"]
    assert pinned["version_id"] == only["VersionId"]
    assert open_uploads(s3_client, workspace.bucket) == []


# --- one writing run per workspace --------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from publishkit.workspace.runlock import exclusive_run
with exclusive_run(Path(sys.argv[1]), "release"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def hold_lock(workspace: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process inside the workspace's run lock, as a release in progress is."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(workspace / ".publishkit"), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_is_refused_with_the_first_ones_pid_or_waits(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    holder = hold_lock(workspace.root, 3)
    try:
        refused = cli("release", "--version", "1.0.0", cwd=workspace.root)
        assert refused.exit_code == 2
        line = one_line_error(refused.stderr)
        assert f"another publishkit release (pid {holder.pid}, since " in line
        assert "--wait" in line
        assert versions(s3_client, workspace.bucket) == []
        upload = cli("upload", "--target", "s3", cwd=workspace.root)  # convert, organize: below
        assert upload.exit_code == 2 and f"(pid {holder.pid}, " in upload.stderr
        started = time.monotonic()
        waited = cli("release", "--version", "1.0.0", "--wait", cwd=workspace.root)
        assert waited.exit_code == 0, waited.stderr
        assert holder.poll() is not None  # it ran once the first run had finished
        assert time.monotonic() - started > 0.5
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("command", ["convert", "organize"])
def test_convert_and_organize_wait_their_turn(cli, tmp_path: Path, command: str) -> None:
    """In a workspace where the command succeeds once the other run is gone: refused while
    another run holds the workspace, naming it, and nothing written."""
    study = tmp_path / "study"
    assert cli("init", str(study), "--template", "timeseries").exit_code == 0
    if command == "organize":
        assert cli("convert", "-w", str(study)).exit_code == 0
    holder = hold_lock(study, 60)
    before = sorted(p for p in study.rglob("*") if p.name != "run.lock")
    try:
        refused = cli(command, "-w", str(study))
        assert refused.exit_code == 2, refused.stdout + refused.stderr
        line = one_line_error(refused.stderr)
        assert f"another publishkit release (pid {holder.pid}, since " in line
        assert sorted(p for p in study.rglob("*") if p.name != "run.lock") == before
    finally:
        holder.kill()
        holder.wait()
    alone = cli(command, "-w", str(study))
    assert alone.exit_code == 0, alone.stderr


def test_a_killed_run_leaves_no_stuck_lock(cli, workspace: Workspace, aws_env) -> None:
    holder = hold_lock(workspace.root, 60)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr


# --- the region named in every URL is the bucket's ---------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "us-weast-1"])
def test_a_region_other_than_the_buckets_is_refused(
    cli, workspace: Workspace, aws_env, s3_client, region: str
) -> None:
    workspace.write_config(
        body=(
            f"project: demo-project\ns3:\n  bucket: {workspace.bucket}\n  region: {region}\n"
            "metadata_files:\n  sessions: metadata/sessions.csv\n"
        )
    )
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 2
    line = one_line_error(result.stderr)
    assert f"lives in region {REGION}" in line and f"region {region} in every manifest" in line
    assert f"s3.region: {REGION}" in line
    assert versions(s3_client, workspace.bucket) == []
    plan = cli("release", "--plan", "--version", "1.0.0", cwd=workspace.root)
    assert plan.exit_code == 1 and f"lives in region {REGION}" in plan.stdout


def test_without_a_region_the_environments_is_used(
    cli, workspace: Workspace, aws_env, monkeypatch
) -> None:
    workspace.write_config(
        body=(
            f"project: demo-project\ns3:\n  bucket: {workspace.bucket}\n"
            "metadata_files:\n  sessions: metadata/sessions.csv\n"
        )
    )
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    entry = json.loads(workspace.manifest_path("1.0.0").read_text())["data_files"]["101"]
    assert f".s3.{REGION}.amazonaws.com/" in entry["url"]
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # us-east-1 then: not where the bucket is
    workspace.set_sessions({"101": b"new 101", "102": b"session 102 " * 2000})
    refused = cli("release", "--version", "1.1.0", cwd=workspace.root)
    assert refused.exit_code == 2 and "lives in region" in refused.stderr


# --- a release publishes what the engineer meant -----------------------------------------------


def test_a_converting_workspace_releases_its_files_table_by_default(
    cli, tmp_path: Path, bucket, aws_env, s3_client
) -> None:
    study = tmp_path / "study"
    assert cli("init", str(study), "--template", "timeseries").exit_code == 0
    config = study / "publishkit.yaml"
    config.write_text(config.read_text() + f"s3:\n  bucket: {bucket.bucket}\n  region: {REGION}\n")
    result = cli("release", "--version", "1.0.0", "-w", str(study))
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((study / "manifests" / "study_project_manifest_v1.0.0.json").read_text())
    assert set(manifest["metadata_files"]) == {"nwb_files"}
    assert set(manifest["data_files"]) == {"sub-M-101_ses-ts01", "sub-M-102_ses-ts02"}


def test_a_first_release_without_data_files_is_refused_unless_meant(
    cli, tmp_path: Path, bucket, aws_env, s3_client
) -> None:
    study = tmp_path / "study"
    assert cli("init", str(study), "--template", "timeseries").exit_code == 0
    config = study / "publishkit.yaml"
    config.write_text(
        config.read_text().replace("conversion:\n", "conversion:\n  release_files_table: false\n")
        + f"s3:\n  bucket: {bucket.bucket}\n  region: {REGION}\n"
        + "metadata_files:\n  sessions: sessions.csv\n"
    )
    refused = cli("release", "--version", "1.0.0", "-w", str(study))
    assert refused.exit_code == 2
    line = one_line_error(refused.stderr)
    assert "the first release would have no data file" in line and "--allow-empty" in line
    assert versions(s3_client, bucket.bucket) == []
    meant = cli("release", "--version", "1.0.0", "--allow-empty", "-w", str(study))
    assert meant.exit_code == 0, meant.stderr


def test_a_release_candidate_is_promoted_without_changes(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    assert cli("release", "--version", "1.0.1-rc1", cwd=workspace.root).exit_code == 0
    before = versions(s3_client, workspace.bucket)
    result = cli("release", "--bump", "patch", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    candidate = json.loads(workspace.manifest_path("1.0.1-rc1").read_text())
    final = json.loads(workspace.manifest_path("1.0.1").read_text())
    for group in ("metadata_files", "data_files"):
        assert {k: v["version_id"] for k, v in final[group].items()} == {
            k: v["version_id"] for k, v in candidate[group].items()
        }
    data_keys = {v["Key"] for v in before}
    after = [v for v in versions(s3_client, workspace.bucket) if v["Key"] in data_keys]
    # the notes, the site's history and its index, rewritten; no data file uploaded again
    assert len(after) == len(before) + 3
    notes = (workspace.root / "release_notes.md").read_text()
    assert notes.startswith("# Release notes\n\n## v1.0.1 ")
    assert "No changes since v1.0.1-rc1." in notes
    again = cli("release", "--version", "1.0.1", "-f", "json", cwd=workspace.root)
    assert json.loads(again.stdout)["release"]["status"] == "unchanged"


def test_an_empty_reason_to_publish_despite_inspection_is_refused(
    cli, workspace: Workspace, aws_env
) -> None:
    for reason in ("", "   "):
        result = cli(
            "release",
            "--version",
            "1.0.0",
            "--publish-despite-inspection",
            reason,
            cwd=workspace.root,
        )
        assert result.exit_code == 2
        assert "needs a reason" in one_line_error(result.stderr)


def test_local_edits_to_the_release_notes_are_never_lost(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    notes = workspace.root / "release_notes.md"
    notes.write_text(notes.read_text() + "\nHand-written: session 101 was re-sorted.\n")
    workspace.set_sessions({"101": b"re-sorted 101", "102": b"session 102 " * 2000})
    before = versions(s3_client, workspace.bucket)
    refused = cli("release", "--bump", "minor", cwd=workspace.root)
    assert refused.exit_code == 2
    line = one_line_error(refused.stderr)
    assert "release_notes.md: differs from the bucket's copy" in line and "--note" in line
    assert "Hand-written" in notes.read_text()
    assert versions(s3_client, workspace.bucket) == before
    notes.unlink()
    kept = cli(
        "release", "--bump", "minor", "--note", "Session 101 was re-sorted.", cwd=workspace.root
    )
    assert kept.exit_code == 0, kept.stderr
    assert "> **Note:** Session 101 was re-sorted." in notes.read_text()


# --- the plan refuses what the release would refuse ---------------------------------------------


def test_the_plan_checks_the_version_asked_for(cli, workspace: Workspace, aws_env) -> None:
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    workspace.set_sessions({"101": b"changed", "102": b"session 102 " * 2000})
    older = cli("release", "--plan", "--version", "0.9.0", cwd=workspace.root)
    assert older.exit_code == 1
    assert "older than the latest release 1.0.0" in older.stdout
    same = cli("release", "--plan", "--version", "1.0.0", "-f", "json", cwd=workspace.root)
    assert same.exit_code == 1 and "already published" in json.loads(same.stdout)["refusal"]
    good = cli("release", "--plan", "--version", "1.0.1", "-f", "json", cwd=workspace.root)
    assert good.exit_code == 0
    planned = json.loads(good.stdout)
    assert planned["ok"] and planned["next_version"] == "1.0.1"
    assert planned["draft_notes"].startswith("## v1.0.1")
