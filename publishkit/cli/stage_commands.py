"""One command per stage: `convert`, `organize`, `upload`, `inspect`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from msgspec.structs import replace
from rich.markup import escape

from publishkit.cli import render
from publishkit.cli.options import (
    ConcurrencyOption,
    ExecutorOption,
    FormatOption,
    InspectFormat,
    JobsOption,
    Level,
    PartSizeOption,
    SchedulerOption,
    TextOrJson,
    WaitOption,
    WorkspaceOption,
    dandi_api_key,
    finish,
    relayed_to_dandi_cli,
    user_cache_dir,
    with_executor,
    with_transfers,
    workspace_settings,
)
from publishkit.cli.render import out
from publishkit.cli.signals import SIGNALS
from publishkit.errors import CheckFailed, UsageError
from publishkit.formats.jsonio import dumps
from publishkit.inspection.inspect_files import start_inspection
from publishkit.inspection.report import as_json, as_junit
from publishkit.local_files import write_atomic
from publishkit.workspace.config import CONFIG_NAME
from publishkit.workspace.executors import LOCAL
from publishkit.workspace.inspection_settings import BUILTIN_CONFIGS, InspectionConfig
from publishkit.workspace.nwb_files import find_nwb_files, workspace_nwb_files
from publishkit.writable import check_file, write_error


def convert(
    workspace: WorkspaceOption = Path("."),
    jobs: JobsOption = 1,
    executor: ExecutorOption = None,
    scheduler: SchedulerOption = None,
    wait: WaitOption = False,
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """One NWB file per sessions-table row, through the workspace's conversion template.

    Rows whose inputs and template are unchanged since the last run are skipped. A failing row is
    reported with its row, column and reason, the others still convert, and the exit code is 1.
    """
    from publishkit.nwb.convert import convert_sessions

    settings = with_executor(workspace_settings(workspace), executor, scheduler)
    with render.Bars(fmt is TextOrJson.text) as bars:
        report = convert_sessions(
            settings=settings, jobs=jobs, wait=wait, progress=bars, interrupt=SIGNALS
        )
    finish(report, fmt, render.print_conversion)


def organize(
    workspace: WorkspaceOption = Path("."),
    wait: WaitOption = False,
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Lay the workspace's NWB files out in the dandiset folder (dandi.folder) as DANDI names them.

    Names come from dandi-cli's naming, file by file, so they never depend on the batch; two files
    that would get the same name are refused by name. dandi.files_mode: copy (default), move,
    symlink or hardlink.
    """
    from publishkit.dandi.organize import organize_files

    settings = workspace_settings(workspace)
    with render.Bars(fmt is TextOrJson.text) as bars:
        report = organize_files(settings=settings, wait=wait, progress=bars)
    if fmt is TextOrJson.json:
        render.print_json(report.as_json())
        return
    for item in report.files:
        if item.action != "unchanged":
            out.print(f"{item.action:>8}  {escape(item.source)} -> {escape(item.dandi_path)}")
    out.print(
        f"{report.folder}: {report.count('created')} created, {report.count('updated')} updated, "
        f"{report.count('unchanged')} unchanged, {report.count('removed')} removed"
    )


class Target(StrEnum):
    dandi = "dandi"
    s3 = "s3"
    all = "all"


def upload(
    target: Annotated[
        Target, typer.Option("--target", help="dandi, s3, or all that publishkit.yaml enables.")
    ] = Target.all,
    workspace: WorkspaceOption = Path("."),
    wait: WaitOption = False,
    max_concurrency: ConcurrencyOption = None,
    part_size_mb: PartSizeOption = None,
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Upload what changed: organized files to the dandiset (dandi-cli), release files to S3.

    Re-running uploads nothing new. A file that fails does not stop the others; failures are
    listed at the end with their reason and the exit code is 1. The S3 upload writes no
    manifest: the next `publishkit release` pins what was uploaded.
    """
    settings = with_transfers(workspace_settings(workspace), max_concurrency, part_size_mb)
    targets = (
        [target.value]
        if target is not Target.all
        else [
            name
            for name, enabled in (
                ("dandi", settings.dandi_enabled),
                ("s3", settings.s3_enabled),
            )
            if enabled
        ]
    )
    if not targets:
        raise UsageError(
            f"{workspace / CONFIG_NAME}: neither dandi (instance, dandiset) nor s3 is configured",
            hint="add a dandi: or s3: section, or pass --target",
        )
    summary: dict[str, Any] = {}
    ok = True
    with render.Bars(fmt is TextOrJson.text) as bars:
        if "dandi" in targets:
            from publishkit.dandi.access import check_dandi_access
            from publishkit.dandi.upload import upload_to_dandi

            api_key = dandi_api_key(settings)
            check_dandi_access(settings=settings, api_key=api_key)
            with relayed_to_dandi_cli(settings, api_key):
                dandi_report = upload_to_dandi(
                    settings=settings,
                    api_key=api_key,
                    wait=wait,
                    progress=bars,
                    interrupt=SIGNALS,
                )
            summary["dandi"] = dandi_report.as_json()
            ok = dandi_report.ok
        if "s3" in targets:
            from publishkit.release.s3_upload import upload_to_s3

            summary["s3"] = upload_to_s3(settings=settings, wait=wait, progress=bars).as_json()
    if fmt is TextOrJson.json:
        render.print_json(summary)
    else:
        render.print_uploads(summary)
    if not ok:
        raise typer.Exit(CheckFailed.exit_code)


def inspect_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="NWB files or folders (searched for *.nwb). Default, inside a "
            "workspace: its NWB files."
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Base config: dandi (the default), none (nwbinspector's "
            "defaults) or an nwbinspector YAML file; merged with publishkit.yaml's "
            "inspection: section.",
        ),
    ] = None,
    fail_on: Annotated[
        Level | None,
        typer.Option(
            "--fail-on",
            help="Exit 1 when a finding is at least this important "
            "(default CRITICAL). Unreadable files always fail.",
        ),
    ] = None,
    fmt: Annotated[
        InspectFormat,
        typer.Option(
            "--format",
            "-f",
            help="text, json (nwbinspector's report shape), junit, or github (GitHub Actions "
            "annotations on the files).",
        ),
    ] = InspectFormat.text,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report to FILE.")
    ] = None,
    jobs: JobsOption = 1,
    executor: ExecutorOption = None,
    scheduler: SchedulerOption = None,
    no_dandi: Annotated[
        bool, typer.Option("--no-dandi", help="Skip the DANDI asset-metadata checks.")
    ] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Inspect NWB files with nwbinspector plus the checks DANDI applies at upload.

    Findings are cached by file content and config: an unchanged file is not inspected twice.
    Inside a workspace without PATHs, the checks publishkit.yaml's tables: section declares
    run too, as the release runs them. Exits 1 when a finding is at or above --fail-on or a
    file cannot be read, else 0.
    """
    in_workspace = (workspace / CONFIG_NAME).is_file()
    settings = workspace_settings(workspace) if in_workspace else None
    chosen = (settings.executor if settings else LOCAL).overridden(
        executor.value if executor else None, scheduler
    )
    inspection = settings.inspection if settings else InspectionConfig()
    if config is not None:
        base = config if config in BUILTIN_CONFIGS else str(Path(config).resolve())
        inspection = replace(inspection, base=base)
    if paths:
        files = find_nwb_files(paths)
    elif settings is not None:
        files = workspace_nwb_files(settings)
    else:
        raise UsageError(
            f"no PATH given and no {CONFIG_NAME} in {workspace.resolve()}",
            hint="name NWB files or folders, or run inside a workspace",
        )
    if output is not None:  # refused before the inspection, not after it
        check_file(output, "the report", "report.txt")
    with render.Bars(fmt is InspectFormat.text and output is None) as bars:
        report = start_inspection(
            files=files,
            config=inspection,
            cache_dir=settings.state_dir if settings else user_cache_dir(),
            fail_on=str(fail_on or (settings.fail_on if settings else "CRITICAL")),
            jobs=jobs,
            dandi=not no_dandi,
            relative_to=settings.workspace if settings else None,
            progress=bars,
            executor=chosen,
        ).finish()
    tables = None
    if not paths and settings is not None and settings.tables_checked:
        from publishkit.workspace.table_checks import check_tables

        tables = check_tables(settings=replace(settings, fail_on=report.fail_on))
    if fmt is InspectFormat.json:
        document = as_json(report)
        text = dumps({**document, "tables": tables.as_json()} if tables else document)
    elif fmt is InspectFormat.junit:
        text = as_junit(report, tables)
    elif fmt is InspectFormat.github:
        text = render.github_annotations(report, tables)
    else:
        text = ""
    if output is not None:
        try:
            write_atomic(output, text or render.plain_summary(report))
        except OSError as exc:
            raise write_error(exc, output, "the report") from None
        out.print(render.verdict(report), markup=False)
        if tables is not None:
            out.print(render.tables_verdict(tables), markup=False)
    elif text:
        out.out(text, end="", highlight=False)
    else:
        render.print_inspection(report)
        if tables is not None:
            render.print_table_checks(tables)
    if not report.passed or (tables is not None and not tables.passed):
        raise typer.Exit(CheckFailed.exit_code)
