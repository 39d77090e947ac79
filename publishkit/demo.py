"""`publishkit demo`: two releases of a template's example to a local S3 and a local DANDI archive.

Given where a local S3 and DANDI archive answer (`DemoTarget`: the CLI starts the sandbox's and
says where), makes a workspace from a built-in template, cuts release 1.0.0 to DANDI and S3,
changes the data (one session edited, one added, one removed), cuts the release the changes
call for, verifies it, and writes the release site (the pages each release put in the bucket)
into the workspace's site/ folder. Needs no network, no credentials, no AWS. The caller lends the
sandbox's credentials to boto3 and dandi-cli (the environment). A command, not a sandbox part:
it drives the stages, and the sandbox sits below them.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import msgspec
from msgspec.structs import replace

from publishkit.consume.verify import VerifyReport, verify_release
from publishkit.formats.release_layout import NOTES_FILE
from publishkit.nwb.scaffold import init_workspace
from publishkit.nwb.templates import find_template
from publishkit.progress import Progress, no_progress
from publishkit.release.pipeline import STAGE_NAMES, PipelineResult, enabled_stages, run_release
from publishkit.release.plan import plan_release
from publishkit.release.site_preview import write_site_preview
from publishkit.release.stages import Request
from publishkit.s3.pinned import ReadSettings
from publishkit.workspace.config import load_settings


class DemoTarget(msgspec.Struct, frozen=True):
    """Where the demo releases to: a DANDI archive with an empty dandiset, a versioned bucket."""

    api_url: str  # the DANDI archive's API
    api_key: str
    dandiset: str
    bucket: str
    region: str
    endpoint_url: str  # the S3 server's


class DemoResult(msgspec.Struct, frozen=True):
    workspace: Path
    first: PipelineResult
    second: PipelineResult
    changes: tuple[str, ...]
    notes: str  # the second release's section of the release notes
    verified: VerifyReport
    page: Path | None = None  # a local copy of the second release's page (the site in site/)


def run_demo(*, root: Path, target: DemoTarget, progress: Progress = no_progress) -> DemoResult:
    """Two releases into the running `target`; `root` must not hold `demo-study` yet."""
    workspace = root / "demo-study"
    init_workspace(dest=workspace, template=find_template("timeseries"))
    _configure(workspace, target)
    settings = load_settings(workspace)
    key = target.api_key
    first = run_release(
        settings=settings, request=Request("1.0.0", dandi_api_key=key), progress=progress
    )
    changes = _change_the_data(workspace)
    # Everything up to the upload first; then the changes name the version to cut.
    staged = run_release(
        settings=settings,
        stages=STAGE_NAMES[:4],
        request=Request(dandi_api_key=key),
        progress=progress,
    )
    bump = plan_release(settings=settings, stages=("manifest",)).suggested_bump
    # inspect again (each file's result is cached by content): the release's page shows it
    published = run_release(
        settings=settings,
        stages=tuple(n for n in ("inspect", *STAGE_NAMES[4:]) if n in enabled_stages(settings)),
        request=Request(bump=bump or "patch", dandi_api_key=key),
        progress=progress,
    )
    second = replace(
        published,
        stages=staged.stages + tuple(n for n in published.stages if n not in staged.stages),
        conversion=staged.conversion,
        inspection=staged.inspection,
        organized=staged.organized,
        dandi=staged.dandi,
        s3_upload=staged.s3_upload,
    )
    release = second.release
    assert release is not None and release.manifest_path is not None
    verified = verify_release(
        manifest_path=Path(release.manifest_path),
        read=ReadSettings(
            target.region, target.endpoint_url, settings.s3.public_url, target.bucket
        ),
        deep=True,
        progress=progress,
    )
    notes = (workspace / NOTES_FILE).read_text(encoding="utf-8")
    section = notes.split("\n## ")[1] if "\n## " in notes else notes
    write_site_preview(settings=settings, out=workspace / "site")
    page = workspace / "site" / "releases" / f"v{release.version}.html"
    return DemoResult(
        workspace, first, second, changes, "## " + section.strip() + "\n", verified, page
    )


def _configure(workspace: Path, target: DemoTarget) -> None:
    config = workspace / "publishkit.yaml"
    config.write_text(
        config.read_text(encoding="utf-8")
        + "inspection:\n  config: dandi\n"
        + f"dandi:\n  instance: {target.api_url}\n  dandiset: '{target.dandiset}'\n"
        + f"s3:\n  bucket: {target.bucket}\n  region: {target.region}\n"
        + f"  endpoint_url: {target.endpoint_url}\n",
        encoding="utf-8",
    )


def _change_the_data(workspace: Path) -> tuple[str, ...]:
    """Edit the first session's signals, remove the second session, add a third."""
    sessions = workspace / "sessions.csv"
    with sessions.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    first, second = rows[0], rows[1]
    signals = workspace / first["signals_file"]
    lines = signals.read_text(encoding="utf-8").splitlines()
    time, temperature = lines[1].split(",")
    lines[1] = f"{time},{float(temperature) + 0.5:.3f}"  # a corrected first reading
    signals.write_text("\n".join(lines) + "\n", encoding="utf-8")
    added = dict(
        second,
        session_id="ts03",
        subject_id="M-103",
        session_start_time="2023-04-07T09:30:00-07:00",
    )
    for column in ("signals_file", "accelerometer_file"):
        source = workspace / second[column]
        copy = source.with_name(source.name.replace("ts02", "ts03"))
        shutil.copy2(source, copy)
        added[column] = copy.relative_to(workspace).as_posix()
    with sessions.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(first), lineterminator="\n")
        writer.writeheader()
        writer.writerows([first, added])
    return (
        f"edited session {first['session_id']}: {first['signals_file']} first reading corrected",
        f"removed session {second['session_id']}",
        "added session ts03 (subject M-103)",
    )
