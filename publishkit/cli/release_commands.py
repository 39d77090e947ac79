"""`publishkit release`, `status` and `demo`: the whole pipeline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from publishkit.cli import render
from publishkit.cli.options import (
    ConcurrencyOption,
    ExecutorOption,
    FormatOption,
    JobsOption,
    PartSizeOption,
    SchedulerOption,
    TextOrJson,
    WaitOption,
    WorkspaceOption,
    dandi_api_key,
    environment,
    relayed_to_dandi_cli,
    with_executor,
    with_transfers,
    workspace_settings,
)
from publishkit.cli.render import err
from publishkit.cli.signals import SIGNALS
from publishkit.cli.startup_gc import collecting_after_startup
from publishkit.errors import CheckFailed
from publishkit.formats.versions import Bump
from publishkit.workspace.settings import METADATA, StageName
from publishkit.writable import check_folder

if TYPE_CHECKING:
    from publishkit.release.results import PipelineResult


def release(
    workspace: WorkspaceOption = Path("."),
    version: Annotated[
        str | None, typer.Option("--version", help="The new version, X.Y.Z (semver).")
    ] = None,
    bump: Annotated[
        Bump | None, typer.Option("--bump", help="Bump the latest version: major, minor, patch.")
    ] = None,
    plan: Annotated[
        bool, typer.Option("--plan", help="Show what would happen and change nothing.")
    ] = False,
    first: Annotated[str | None, typer.Option("--from", help="First stage to run.")] = None,
    last: Annotated[str | None, typer.Option("--to", help="Last stage to run.")] = None,
    only: Annotated[str | None, typer.Option("--only", help="Run this stage alone.")] = None,
    despite: Annotated[
        str | None,
        typer.Option(
            "--publish-despite-inspection",
            metavar="REASON",
            help="Publish although inspection fails; the release notes record REASON.",
        ),
    ] = None,
    note: Annotated[
        list[str] | None,
        typer.Option(
            "--note",
            metavar="TEXT",
            help="A remark for the top of this release's notes (repeatable).",
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Allow a first release that has no data file at all."),
    ] = False,
    allow_smaller_bump: Annotated[
        bool,
        typer.Option(
            "--allow-smaller-bump",
            help="Allow a --bump smaller than the changes call for (patch for a deleted file).",
        ),
    ] = False,
    wait: WaitOption = False,
    jobs: JobsOption = 1,
    executor: ExecutorOption = None,
    scheduler: SchedulerOption = None,
    max_concurrency: ConcurrencyOption = None,
    part_size_mb: PartSizeOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors.")] = False,
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Run the stages the workspace enables: convert, inspect, organize, upload, manifest, notes.

    Inspection gates publication (exit 1 with the findings) unless
    --publish-despite-inspection gives a reason. Without --version or --bump, an S3-only release
    prints the bump the changes suggest and exits 2; `--plan` shows it for any workspace. A
    release with nothing changed writes nothing and exits 0. Re-running after a crash converges.
    """
    from publishkit.release.pipeline import run_release, select_stages
    from publishkit.release.stages import Request

    settings = with_executor(workspace_settings(workspace), executor, scheduler)
    settings = with_transfers(settings, max_concurrency, part_size_mb)
    stages = select_stages(first, last, only)
    request = Request(
        version=version,
        bump=bump,
        despite=despite,
        notes=tuple(note or ()),
        allow_empty=allow_empty,
        dandi_api_key=dandi_api_key(settings),
        jobs=jobs,
        allow_smaller_bump=allow_smaller_bump,
    )
    if plan:
        from publishkit.release.plan import plan_release

        planned = plan_release(settings=settings, stages=stages, request=request)
        if fmt is TextOrJson.json:
            render.print_json(planned.as_json())
        else:
            render.print_plan(planned)
        if not planned.ok:
            raise typer.Exit(CheckFailed.exit_code)
        return
    with (
        relayed_to_dandi_cli(settings, request.dandi_api_key),
        render.Bars(fmt is TextOrJson.text and not quiet) as bars,
        collecting_after_startup(SIGNALS, pause=not settings.executor.dask) as interrupt,
    ):
        result = run_release(
            settings=settings,
            stages=stages,
            request=request,
            wait=wait,
            progress=bars,
            interrupt=interrupt,
        )
    if fmt is TextOrJson.json:
        render.print_json(result.as_json())
    else:
        _print_release(result, quiet)
    if not result.ok:
        raise typer.Exit(CheckFailed.exit_code)


def _print_release(result: PipelineResult, quiet: bool) -> None:
    """The run's report for people: what stopped it, with the reports that say why."""
    from publishkit.release.decision import shown_warnings

    for line in shown_warnings(result.warnings):
        err.print(f"warning: {line}", markup=False, highlight=False)
    failure = result.failure()
    if failure is None:
        if not quiet:
            render.print_pipeline(result)
        return
    if result.stopped == StageName.CONVERT and result.conversion is not None:
        render.print_conversion(result.conversion)
    elif result.stopped == METADATA and result.dandiset_metadata is not None:
        render.print_metadata(result.dandiset_metadata)
    elif result.stopped == StageName.PUBLISH and result.published is not None:
        render.print_pipeline(result)
    elif result.stopped == StageName.UPLOAD and result.dandi is not None:
        render.print_uploads({"dandi": result.dandi.as_json()})
    elif result.stopped == StageName.INSPECT:
        if result.inspection is not None:
            render.print_inspection(result.inspection)
        if result.tables is not None:
            render.print_table_checks(result.tables)
    err.print(f"error: {failure[0]} (fix: {failure[1]})", markup=False, highlight=False)


def status(workspace: WorkspaceOption = Path("."), fmt: FormatOption = TextOrJson.text) -> None:
    """Each stage the workspace enables, and each NWB file's state (inspected, on DANDI, in the
    latest release), from the workspace's records alone."""
    from publishkit.release.status import workspace_status

    report = workspace_status(settings=workspace_settings(workspace))
    if fmt is TextOrJson.json:
        render.print_json(report.as_json())
    else:
        render.print_status(report)


def demo(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Keep the demo workspace here (default: a temporary folder, removed at the end).",
        ),
    ] = None,
) -> None:
    """Two releases of a template's example to a local S3 and DANDI: no network, no AWS.

    Cuts 1.0.0 (convert, inspect, organize, upload to DANDI and S3, manifest, notes), changes the
    data (one session edited, one added, one removed), cuts the next release, shows its notes and
    verifies it.
    """
    import tempfile

    from publishkit.demo import DemoTarget, run_demo
    from publishkit.sandbox.services import serve

    if folder is not None:  # refused before any server starts
        check_folder(folder, "the demo workspace")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="publishkit-demo-") as scratch, serve() as services:
        root = (folder or Path(scratch)).absolute()  # its page's file:// URI needs it whole
        root.mkdir(parents=True, exist_ok=True)
        # The sandboxes' own credentials (not secrets), for boto3 and dandi-cli: never the user's.
        lent = {
            **services.environment(),
            services.api_key_variable: services.api_key,
            "DANDI_CACHE": "ignore",
            "DANDI_NO_ET": "1",
        }
        with environment(lent), render.Bars(True) as bars:
            s3 = services.s3
            target = DemoTarget(
                api_url=services.api_url,
                api_key=services.api_key,
                dandiset=services.dandiset,
                bucket=s3.bucket,
                region=s3.region,
                endpoint_url=s3.endpoint_url,
            )
            result = run_demo(root=root, target=target, progress=bars)
        render.print_demo(result, time.monotonic() - started, keep=folder is not None)
    if not result.verified.ok or not result.first.ok or not result.second.ok:
        raise typer.Exit(CheckFailed.exit_code)
