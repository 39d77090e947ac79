"""Everything that can refuse a release is decided before the first byte is sent, by the one
preflight that `--plan` runs too: a refused release leaves every key of the bucket with the
versions it had, and the plan's verdict is the release's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from publishkit.release.pipeline import STAGE_NAMES
from tests.conftest import Workspace
from tests.studies import release_to_s3

SESSIONS = (
    "file_id,file_path,subject_id\n101,data/s101.nwb,mouse-101\n102,data/s102.nwb,mouse-102\n"
)


def object_versions(s3_client: Any, bucket: str) -> list[tuple[str, str]]:
    found = s3_client.list_object_versions(Bucket=bucket)
    return sorted(
        (v["Key"], v["VersionId"])
        for v in found.get("Versions", []) + found.get("DeleteMarkers", [])
    )


def local_files(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".publishkit" not in p.parts
    }


def change_cell(workspace: Workspace) -> None:
    sessions = workspace.root / "metadata" / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("mouse-102", "mouse-202"))


def change_file(workspace: Workspace) -> None:
    (workspace.root / "data" / "s101.nwb").write_bytes(b"session 101, re-sorted " * 900)


@pytest.mark.parametrize("change", [change_cell, change_file])
@pytest.mark.parametrize(
    "args",
    [
        ("--version", "0.1.0"),  # already published
        (),  # no version: refused, naming the bump the changes call for
        ("--version", "0.0.9"),  # older than the latest
    ],
)
def test_a_refused_release_leaves_every_key_as_it_was(
    cli, workspace: Workspace, aws_env, s3_client, change, args: tuple[str, ...]
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    before, files = object_versions(s3_client, workspace.bucket), local_files(workspace.root)
    change(workspace)
    refused = cli("release", *args, cwd=workspace.root)
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), refused.stderr
    assert object_versions(s3_client, workspace.bucket) == before
    assert local_files(workspace.root) == files
    plan = cli("release", "--plan", *args, "-f", "json", cwd=workspace.root)
    if args:  # the plan refuses it too; without a version the plan suggests one instead
        assert plan.exit_code == 1 and json.loads(plan.stdout)["refusal"]
    else:
        bump, cut = ("patch", "0.1.1") if change is change_cell else ("minor", "0.2.0")
        assert f"the changes suggest --bump {bump}" in refused.stderr
        assert plan.exit_code == 0 and json.loads(plan.stdout)["next_version"] == cut


def test_build_metadata_does_not_make_a_new_version(cli, workspace: Workspace, aws_env, s3_client):
    """1.0.2+b6 is 1.0.2+b5 in semver's order: refused as already published, before upload."""
    assert cli("release", "--version", "1.0.2+b5", cwd=workspace.root).exit_code == 0
    before = object_versions(s3_client, workspace.bucket)
    change_file(workspace)
    refused = cli("release", "--version", "1.0.2+b6", cwd=workspace.root)
    assert refused.exit_code == 2, refused.stderr
    assert "already published" in refused.stderr
    assert object_versions(s3_client, workspace.bucket) == before


def test_a_bump_smaller_than_the_changes_is_refused_before_upload(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    before = object_versions(s3_client, workspace.bucket)
    workspace.set_sessions({"101": b"session 101 " * 1000})  # 102 deleted: a major change
    refused = cli("release", "--bump", "patch", cwd=workspace.root)
    assert refused.exit_code == 2
    assert "--bump patch is smaller than the changes call for: --bump major" in refused.stderr
    assert "--allow-smaller-bump" in refused.stderr
    assert object_versions(s3_client, workspace.bucket) == before
    plan = cli("release", "--plan", "--bump", "patch", "-f", "json", cwd=workspace.root)
    assert plan.exit_code == 1 and "smaller than the changes" in json.loads(plan.stdout)["refusal"]
    meant = cli("release", "--bump", "patch", "--allow-smaller-bump", cwd=workspace.root)
    assert meant.exit_code == 0, meant.stderr
    assert workspace.manifest_path("0.1.1").exists()
    assert cli("release", "--bump", "major", cwd=workspace.root).exit_code == 0  # nothing changed


def test_a_converting_release_checks_the_bucket_before_it_converts(
    cli, tmp_path: Path, bucket, aws_env, s3_client
) -> None:
    """The S3 preflight runs before convert writes nwb/: versioning Suspended is refused first."""
    study = tmp_path / "study"
    assert cli("init", str(study), "--template", "timeseries").exit_code == 0
    release_to_s3(study, bucket.bucket)
    s3_client.put_bucket_versioning(
        Bucket=bucket.bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    refused = cli("release", "--version", "1.0.0", "-w", str(study))
    assert refused.exit_code == 2, refused.stdout + refused.stderr
    assert "versioning" in refused.stderr
    assert not (study / "nwb").exists()
    assert s3_client.list_objects_v2(Bucket=bucket.bucket).get("KeyCount", 0) == 0


def test_republishing_the_latest_version_of_a_converting_release_is_refused_before_converting(
    cli, tmp_path: Path, bucket, aws_env, s3_client
) -> None:
    study = tmp_path / "study"
    assert cli("init", str(study), "--template", "timeseries").exit_code == 0
    release_to_s3(study, bucket.bucket)
    assert cli("release", "--version", "1.0.0", "-w", str(study)).exit_code == 0
    before = object_versions(s3_client, bucket.bucket)
    again = cli("release", "--version", "1.0.0", "-w", str(study))
    assert again.exit_code == 0, again.stderr  # nothing changed: a re-run, exit 0
    sessions = study / "sessions.csv"
    sessions.write_text(sessions.read_text().replace("home cage.", "home cage at night.", 1))
    stamps = {p: p.stat().st_mtime_ns for p in (study / "nwb").glob("*.nwb")}
    refused = cli("release", "--version", "1.0.0", "-w", str(study))
    assert refused.exit_code == 2 and "already published" in refused.stderr
    assert {p: p.stat().st_mtime_ns for p in (study / "nwb").glob("*.nwb")} == stamps
    assert object_versions(s3_client, bucket.bucket) == before


# --- the plan's verdict is the release's ---------------------------------------------------


def failing_table_check(workspace: Workspace) -> None:
    config = workspace.root / "publishkit.yaml"
    config.write_text(
        config.read_text() + "tables:\n  sessions:\n    columns:\n"
        "      subject_id: {pattern: '^rat-'}\n"
    )


def misspelt_column(workspace: Workspace) -> None:
    config = workspace.root / "publishkit.yaml"
    config.write_text(
        config.read_text() + "tables:\n  sessions:\n    columns:\n      subjet_id: {type: string}\n"
    )


def unreadable_nwb_inspected(workspace: Workspace) -> None:
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "inspection:\n  config: dandi\n")


@pytest.mark.parametrize("fault", [failing_table_check, misspelt_column, unreadable_nwb_inspected])
def test_the_plan_refuses_what_the_release_refuses(
    cli, workspace: Workspace, aws_env, s3_client, fault
) -> None:
    fault(workspace)
    plan = cli("release", "--plan", "--version", "0.1.0", "-f", "json", cwd=workspace.root)
    release = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert release.exit_code != 0, release.stdout + release.stderr
    assert plan.exit_code == 1, plan.stdout + plan.stderr
    assert not json.loads(plan.stdout)["ok"]
    assert object_versions(s3_client, workspace.bucket) == []


SELECTIONS = [
    (),
    *[("--only", stage) for stage in STAGE_NAMES],
    *[("--to", stage) for stage in STAGE_NAMES],
]


@pytest.mark.parametrize("stages", SELECTIONS, ids=" ".join)
def test_the_plan_and_the_release_agree_for_every_stage_selection(
    cli, workspace: Workspace, aws_env, s3_client, stages: tuple[str, ...]
) -> None:
    """A bucket whose versioning is Suspended: every selection that reaches S3 is refused by
    the plan and the release alike, before anything is written; the others do nothing."""
    s3_client.put_bucket_versioning(
        Bucket=workspace.bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    plan = cli("release", "--plan", "--version", "0.1.0", *stages, cwd=workspace.root)
    release = cli("release", "--version", "0.1.0", *stages, cwd=workspace.root)
    assert (plan.exit_code == 0) == (release.exit_code == 0), plan.stdout + release.stderr
    if release.exit_code:
        assert plan.exit_code == 1 and "versioning" in plan.stdout
        assert release.exit_code == 2 and "versioning" in release.stderr
    assert s3_client.list_objects_v2(Bucket=workspace.bucket).get("KeyCount", 0) == 0
    assert not (workspace.root / "manifests").exists()


# --- a file that cannot be read as NWB is named before the release is permanent ---------------


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "an empty file"),
        (b"plain text, not HDF5 at all\n", "not an HDF5 file"),
        (b"\x89HDF\r\n\x1a\n" + b"\0" * 40, "a truncated or damaged HDF5 file"),
    ],
)
def test_an_unreadable_nwb_file_is_named_everywhere_before_it_is_published(
    cli, workspace: Workspace, aws_env, content: bytes, why: str
) -> None:
    (workspace.root / "data" / "s102.nwb").write_bytes(content)
    warning = f"data/s102.nwb: {why}; its contents are not compared in the release notes"
    plan = cli("release", "--plan", "--version", "0.1.0", "-f", "json", cwd=workspace.root)
    assert plan.exit_code == 0 and warning in json.loads(plan.stdout)["warnings"]
    text_plan = cli("release", "--plan", "--version", "0.1.0", cwd=workspace.root)
    assert f"warning: {warning}" in text_plan.stdout
    released = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert released.exit_code == 0, released.stderr
    assert f"warning: {warning}" in released.stderr
    change_cell(workspace)
    second = cli("release", "--version", "0.2.0", "-f", "json", cwd=workspace.root)
    assert warning in json.loads(second.stdout)["warnings"]
    notes = (workspace.root / "release_notes.md").read_text()
    section = notes.split("\n## ")[1]
    assert "contents not compared for files not readable as NWB: " in section
    assert f"data/s102.nwb ({why})" in section


def test_an_hdf5_file_that_is_not_nwb_is_named(cli, workspace: Workspace, aws_env) -> None:
    import h5py

    with h5py.File(workspace.root / "data" / "s101.nwb", "w") as h5:
        h5["x"] = [1, 2, 3]
    plan = cli("release", "--plan", "--version", "0.1.0", "-f", "json", cwd=workspace.root)
    assert (
        "data/s101.nwb: an HDF5 file but not NWB (no neurodata_type); its contents are not "
        "compared in the release notes"
    ) in json.loads(plan.stdout)["warnings"]


def test_a_release_stopped_by_inspection_says_why_in_json(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    unreadable_nwb_inspected(workspace)
    stopped = cli("release", "--version", "0.1.0", "-f", "json", cwd=workspace.root)
    assert stopped.exit_code == 1
    report = json.loads(stopped.stdout)
    assert report["exit_code"] == 1 and report["gated_by_inspection"]
    assert report["error"] == "inspection failed, so nothing was uploaded"
    assert "--publish-despite-inspection" in report["hint"]
    assert report["inspect"]["unreadable_files"] and report["inspect"]["messages"]
    assert object_versions(s3_client, workspace.bucket) == []


def test_a_long_list_of_unreadable_files_is_capped_on_the_console_not_in_json(
    cli, workspace: Workspace, aws_env
) -> None:
    workspace.set_sessions({str(n): b"not HDF5 %d" % n for n in range(100, 125)})
    text = cli("release", "--plan", "--version", "0.1.0", cwd=workspace.root)
    shown = [line for line in text.stdout.splitlines() if line.startswith("warning: ")]
    assert len(shown) == 11 and shown[-1] == (
        "warning: and 15 more (`--format json` lists every one)"
    )
    as_json = cli("release", "--version", "0.1.0", "-f", "json", cwd=workspace.root)
    assert len(json.loads(as_json.stdout)["warnings"]) == 25


@pytest.mark.slow
def test_the_bucket_checks_are_sent_at_once_and_the_notes_read_once(
    cli, workspace: Workspace, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight's reads of the bucket that do not depend on each other (versioning,
    region, the manifests' listing, release_notes.md) are under way together: each request
    here takes 0.3 s longer (a pause before it is sent to the real server), and they overlap.
    The notes stage writes on top of the notes the preflight read, not a second read."""
    import threading
    import time

    from publishkit.release import s3_staging
    from publishkit.s3.bucket import S3Bucket
    from publishkit.workspace.config import load_settings

    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    spans: list[tuple[float, float]] = []
    notes_reads: list[str] = []
    lock = threading.Lock()
    connect = S3Bucket.connect.__func__  # type: ignore[attr-defined]

    def slow_connect(cls: type[S3Bucket], *args: Any, **kwargs: Any) -> S3Bucket:
        made = connect(cls, *args, **kwargs)

        def pause(request: Any, **_: Any) -> None:
            start = time.monotonic()
            time.sleep(0.3)
            with lock:
                spans.append((start, time.monotonic()))
                if request.method == "GET" and request.url.endswith("release_notes.md"):
                    notes_reads.append(request.url)

        made.client.meta.events.register("before-send.s3", pause)
        return made

    monkeypatch.setattr(S3Bucket, "connect", classmethod(slow_connect))
    s3_staging.check_target(settings=load_settings(workspace.root))
    overlapping = max(sum(a <= start < b for a, b in spans) for start, _ in spans)
    assert overlapping >= 3, spans  # versioning, region, listing and notes, together
    assert len(notes_reads) == 1
    change_file(workspace)
    notes_reads.clear()
    assert cli("release", "--bump", "minor").exit_code == 0
    assert len(notes_reads) == 1  # the preflight's; the notes stage wrote on top of it
    notes = (workspace.root / "release_notes.md").read_text()
    assert "## v0.2.0" in notes and "## v0.1.0" in notes


def test_the_plan_passes_a_failed_inspection_the_release_would_publish_despite(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    """The plan is given what the release is given: with a reason, failed inspection refuses
    neither."""
    unreadable_nwb_inspected(workspace)
    plan = ("release", "--plan", "--version", "0.1.0", "-f", "json")
    refused = cli(*plan, cwd=workspace.root)
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["refusal"].startswith("inspection failed")
    despite = cli(*plan, "--publish-despite-inspection", "legacy files", cwd=workspace.root)
    assert despite.exit_code == 0, despite.stdout + despite.stderr
    assert json.loads(despite.stdout)["refusal"] is None
    assert object_versions(s3_client, workspace.bucket) == []
