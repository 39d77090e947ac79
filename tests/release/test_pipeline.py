"""`publishkit release` over every stage the workspace enables, `--plan`, and `publishkit demo`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from publishkit.release.pipeline import select_stages
from tests.studies import release_to_s3


@pytest.fixture
def study(cli, tmp_path: Path, bucket) -> Path:
    """A template workspace that converts, inspects and releases to S3 (no DANDI)."""
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    release_to_s3(workspace, bucket.bucket)
    return workspace


def keys(s3_client, bucket: str) -> list[str]:
    return [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_stage_selection() -> None:
    assert select_stages() == (
        "convert",
        "inspect",
        "organize",
        "upload",
        "publish",
        "manifest",
        "notes",
    )
    assert select_stages("inspect", "upload") == ("inspect", "organize", "upload")
    assert select_stages(only="convert") == ("convert",)


def test_the_full_release_runs_every_enabled_stage(cli, study: Path, aws_env) -> None:
    result = cli("release", "--version", "1.0.0", "-w", str(study), "-f", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["stages"] == ["convert", "inspect", "upload", "manifest", "notes"]
    assert summary["skipped"] == ["organize", "publish"]  # no dandi: section
    manifest = json.loads((study / "manifests" / "study_project_manifest_v1.0.0.json").read_text())
    assert set(manifest["data_files"]) == {"sub-M-101_ses-ts01", "sub-M-102_ses-ts02"}
    again = json.loads(cli("release", "--bump", "patch", "-w", str(study), "-f", "json").stdout)
    assert again["release"]["status"] == "unchanged"
    assert again["convert"]["counts"]["unchanged"] == 2


def test_failed_inspection_blocks_publication_unless_a_reason_is_given(
    cli, study: Path, aws_env, s3_client, bucket
) -> None:
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace(",F,P70D,", ",female,P70D,"))
    blocked = cli("release", "--version", "1.0.0", "-w", str(study))
    assert blocked.exit_code == 1
    assert "check_subject_sex" in blocked.stdout
    assert "inspection failed, so nothing was uploaded" in blocked.stderr
    assert keys(s3_client, bucket.bucket) == []

    reason = "sex is recorded in the lab notebook; corrected in the next release"
    allowed = cli(
        "release", "--version", "1.0.0", "-w", str(study), "--publish-despite-inspection", reason
    )
    assert allowed.exit_code == 0, allowed.stderr
    notes = (study / "release_notes.md").read_text()
    assert "published although inspection failed" in notes and reason in notes


def test_only_and_plan_change_nothing_they_should_not(
    cli, study: Path, aws_env, s3_client, bucket
) -> None:
    only = cli("release", "--only", "convert", "-w", str(study), "-f", "json")
    assert json.loads(only.stdout)["stages"] == ["convert"]
    assert len(list((study / "nwb").glob("*.nwb"))) == 2
    assert keys(s3_client, bucket.bucket) == []
    plan = cli("release", "--plan", "-w", str(study), "-f", "json")
    assert plan.exit_code == 0, plan.stderr
    planned = json.loads(plan.stdout)
    assert planned["suggested_bump"] == "minor" and planned["next_version"] == "0.1.0"
    assert "nwb/sub-M-101_ses-ts01.nwb` created" in planned["draft_notes"]
    assert keys(s3_client, bucket.bucket) == []


def test_a_row_that_fails_to_convert_stops_the_release_before_any_upload(
    cli, study: Path, aws_env, s3_client, bucket
) -> None:
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("data/ts02_signals.csv", "data/gone.csv"))
    stopped = cli("release", "--version", "1.0.0", "-w", str(study))
    assert stopped.exit_code == 1
    assert "gone.csv" in stopped.stdout + stopped.stderr
    assert "a row failed to convert, so nothing was organized or uploaded" in stopped.stderr
    assert keys(s3_client, bucket.bucket) == []
    summary = json.loads(
        cli("release", "--version", "1.0.0", "-w", str(study), "-f", "json").stdout
    )
    assert summary["stopped_by_conversion"] and summary["release"] is None


def test_a_release_refused_while_its_files_are_inspected_writes_nothing(
    cli, study: Path, aws_env, s3_client, bucket
) -> None:
    """The S3 side is read while the files are inspected; a version it refuses stops the run
    (exit 2) with the inspection cancelled and nothing uploaded."""
    assert cli("release", "--version", "1.0.0", "-w", str(study)).exit_code == 0
    before = s3_client.list_object_versions(Bucket=bucket.bucket)["Versions"]
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("home cage.", "home cage at night.", 1))
    refused = cli("release", "--version", "0.9.0", "-w", str(study), "--jobs", "2")
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert "0.9.0" in refused.stderr and "1.0.0" in refused.stderr
    assert s3_client.list_object_versions(Bucket=bucket.bucket)["Versions"] == before
    retried = cli("release", "--version", "1.1.0", "-w", str(study), "-f", "json")
    assert retried.exit_code == 0, retried.stderr
    report = json.loads(retried.stdout)
    assert "nwb/sub-M-101_ses-ts01.nwb" in report["release"]["uploaded"]
    sent = report["s3_upload"]  # bytes, retries, resumes: in the report of a release too
    assert sent["bytes_sent"] > 0 and sent["retries"] == 0 and sent["resumed"] == []


def test_a_full_release_without_a_version_is_refused_first(cli, study: Path, aws_env) -> None:
    result = cli("release", "-w", str(study))
    assert result.exit_code == 2
    assert "no --version or --bump given" in result.stderr
    assert "the changes suggest at least --bump minor" in result.stderr  # no round trip via --plan
    assert not (study / "nwb").exists()


@pytest.mark.slow
def test_demo_runs_offline_without_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DANDI"))}
    env["HOME"] = str(tmp_path / "empty-home")
    done = subprocess.run(  # --dir relative, as a user types it
        [sys.executable, "-m", "publishkit", "demo", "--dir", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Released v1.0.0" in done.stdout
    assert "removed session ts02" in done.stdout and "added session ts03" in done.stdout
    assert "Released v2.0.0" in done.stdout  # a deleted file calls for a major version
    assert "- `nwb/sub-M-102_ses-ts02.nwb` deleted" in done.stdout
    assert "v2.0.0: all 3 file(s) present, sizes and hashes match" in done.stdout
    assert re.search(r"Release page: https://\S+/demo-study/releases/v2\.0\.0\.html", done.stdout)
    page = tmp_path / "demo" / "demo-study" / "site" / "releases" / "v2.0.0.html"
    assert f"Its release page, as a local copy: {page.as_uri()}" in done.stdout
    html = page.read_text()
    assert "nwb/sub-M-102_ses-ts02.nwb" in html  # the deleted file, in the notes
    assert "2 files inspected, no findings." in html  # the second release's inspection


def test_status_shows_each_file_state(cli, study: Path, aws_env) -> None:
    assert cli("release", "--version", "1.0.0", "-w", str(study)).exit_code == 0
    report = json.loads(cli("status", "-w", str(study), "-f", "json").stdout)
    assert report["latest_release"] == "1.0.0"
    assert report["enabled_stages"] == ["convert", "inspect", "upload", "manifest", "notes"]
    states = {f["path"]: f for f in report["files"]}
    assert set(states) == {"nwb/sub-M-101_ses-ts01.nwb", "nwb/sub-M-102_ses-ts02.nwb"}
    assert all(f["inspected"] == "passed" and f["in_release"] == "1.0.0" for f in states.values())


def test_the_notes_count_failing_files_as_the_console_does(
    cli, study: Path, aws_env, bucket
) -> None:
    """Both files fail (a sex DANDI cannot read): the console and the notes say the same."""
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace(",F,", ",female,").replace(",M,", ",male,"))
    blocked = cli("release", "--version", "1.0.0", "-w", str(study))
    verdict = next(line for line in blocked.stdout.splitlines() if line.startswith("FAILED: "))
    summary = verdict.removeprefix("FAILED: ").split(" (")[0]
    assert summary.endswith("in 2 file(s)"), verdict
    allowed = cli(
        "release", "--version", "1.0.0", "-w", str(study), "--publish-despite-inspection", "why"
    )
    assert allowed.exit_code == 0, allowed.stderr
    notes = (study / "release_notes.md").read_text()
    assert f"published although inspection failed ({summary}); reason given: why" in notes
