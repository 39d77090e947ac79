"""The `publishkit` command line: parse options, call one stage, render its result.

This is the only module that imports typer, prints, exits or reads the environment.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import sys
import time
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.exceptions import TyperException

from publishkit import __version__
from publishkit.cli import render
from publishkit.errors import CheckFailed, ManifestError, PublishkitError, UsageError
from publishkit.formats import manifest
from publishkit.formats.jsonio import dumps, write_atomic
from publishkit.formats.notes import compare_manifests, render_allensdk, render_markdown
from publishkit.formats.versions import Bump
from publishkit.inspection.report import as_json, as_junit
from publishkit.inspection.stage import start_inspection
from publishkit.release.pipeline import dandi_enabled
from publishkit.s3.pinned import ReadSettings
from publishkit.workspace.config import (
    CONFIG_NAME,
    Settings,
    is_endpoint_url,
    load_settings,
    shown_url,
)
from publishkit.workspace.executors import LOCAL
from publishkit.workspace.inspection_settings import BUILTIN_CONFIGS, LEVELS, InspectionConfig
from publishkit.workspace.nwb_files import find_nwb_files, workspace_nwb_files

out, err = render.out, render.err
log = logging.getLogger("publishkit")


class _Group(typer.core.TyperGroup):
    """Turns every PublishkitError into its message, its hint and its exit code: here only."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except PublishkitError as exc:
            hint = f" (fix: {exc.hint})" if exc.hint else ""
            err.print(f"error: {escape(exc.message)}{escape(hint)}")
            raise typer.Exit(exc.exit_code) from None
        except (TyperException, typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(0) from None
        except Exception as exc:  # a bug: say so in one line; --verbose logs the traceback
            log.debug("unexpected error", exc_info=True)
            err.print(
                f"internal error: {type(exc).__name__}: {escape(str(exc))} "
                "(please report it; --verbose shows the traceback)"
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    help="Publish neurophysiology data: versioned S3 releases pinned by manifests.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
manifest_app = typer.Typer(cls=_Group, help="Work with manifest files.", no_args_is_help=True)
app.add_typer(manifest_app, name="manifest")
templates_app = typer.Typer(cls=_Group, help="NWB conversion templates.", no_args_is_help=True)
app.add_typer(templates_app, name="templates")
export_app = typer.Typer(cls=_Group, help="Tables for data consumers.", no_args_is_help=True)
app.add_typer(export_app, name="export")


class TextOrJson(StrEnum):
    text = "text"
    json = "json"


class NotesFormat(StrEnum):
    markdown = "markdown"
    allensdk = "allensdk"
    json = "json"


class InspectFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"


Level = StrEnum("Level", {name: name for name in LEVELS})  # type: ignore[misc]

WorkspaceOption = Annotated[
    Path, typer.Option("--workspace", "-w", help=f"Workspace folder holding {CONFIG_NAME}.")
]
FormatOption = Annotated[
    TextOrJson, typer.Option("--format", "-f", help="text for people, json for scripts.")
]
WaitOption = Annotated[
    bool,
    typer.Option(
        "--wait",
        help="When another publishkit run is writing to the workspace, wait for it to finish "
        "instead of stopping.",
    ),
]
JobsOption = Annotated[
    int, typer.Option("--jobs", "-j", min=1, help="Worker processes (with the local executor).")
]


class ExecutorKind(StrEnum):
    local = "local"
    dask = "dask"


ExecutorOption = Annotated[
    ExecutorKind | None,
    typer.Option(
        "--executor",
        help="Where conversion, inspection and digests run: local (--jobs processes here) or "
        "dask (a cluster, see --scheduler). Default: publishkit.yaml's executor: section, "
        "else local.",
    ),
]
SchedulerOption = Annotated[
    str | None,
    typer.Option(
        "--scheduler",
        metavar="ADDRESS",
        help="The Dask scheduler, e.g. tcp://head-node:8786 (implies --executor dask). Its "
        "workers need publishkit installed and the workspace at the same path.",
    ),
]


def _with_executor(
    settings: Settings, kind: ExecutorKind | None, scheduler: str | None
) -> Settings:
    chosen = settings.executor.overridden(kind.value if kind else None, scheduler)
    return replace(settings, executor=chosen)


def _finish(report: Any, fmt: TextOrJson, show: Any) -> None:
    """Render a stage's report (JSON for scripts, text for people); exit 1 when it failed."""
    if fmt is TextOrJson.json:
        render.print_json(report.as_json())
    else:
        show(report)
    if not report.ok:
        raise typer.Exit(CheckFailed.exit_code)


def _version_callback(value: bool) -> None:
    if value:
        out.print(f"publishkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    for handler in list(log.handlers):
        log.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.WARNING)  # botocore's loggers stay quiet


def _settings(workspace: Path) -> Settings:
    settings = load_settings(workspace, default_region=_env_region())
    if settings.s3_settings is None:
        return settings
    endpoint = settings.s3_settings.endpoint_url or _env_endpoint()
    return replace(settings, s3_settings=replace(settings.s3_settings, endpoint_url=endpoint))


def _relay_dandi_key(settings: Settings) -> str | None:
    """The DANDI API key of the workspace's instance, where dandi-cli looks for it
    (`<INSTANCE>_API_KEY`) or in DANDI_API_KEY, which is relayed to dandi-cli's variable."""
    instance = settings.dandi.instance
    if not (instance and settings.dandi.dandiset):
        return None
    from publishkit.dandi.access import key_variable

    variable = key_variable(instance)
    key = os.environ.get(variable) or os.environ.get("DANDI_API_KEY")
    if key and not os.environ.get(variable):
        os.environ[variable] = key  # dandi-cli's upload reads it there
    return key


def _env_region() -> str | None:
    """AWS_REGION, else AWS_DEFAULT_REGION, when set; a UsageError naming it when it is not a
    region name."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        region = os.environ.get(variable)
        if region and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", region):
            raise UsageError(
                f"{variable}={region!r} is not an AWS region name",
                hint=f"set it to the bucket's region, e.g. us-west-2, or unset {variable}",
            )
        if region:
            return region
    return None


def _env_endpoint() -> str | None:
    """AWS_ENDPOINT_URL when set; a UsageError naming it when it is not a URL."""
    url = os.environ.get("AWS_ENDPOINT_URL") or None
    if url is not None and not is_endpoint_url(url):
        raise UsageError(
            f"AWS_ENDPOINT_URL={shown_url(url)!r} is not an S3 endpoint URL "
            "(expected http(s)://HOST[:PORT])",
            hint="set it to the S3 server's URL, e.g. http://localhost:9000, or unset it to use "
            "AWS",
        )
    return url


def _read_settings(workspace: Path) -> ReadSettings:
    """A workspace's S3 settings when there is one, else the standard AWS environment."""
    if (workspace / CONFIG_NAME).is_file():
        s3 = _settings(workspace).s3
        return ReadSettings(s3.region, s3.endpoint_url, s3.public_url, s3.bucket)
    return ReadSettings(region=_env_region() or "us-east-1", endpoint_url=_env_endpoint())


@app.command()
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
    wait: WaitOption = False,
    jobs: JobsOption = 1,
    executor: ExecutorOption = None,
    scheduler: SchedulerOption = None,
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

    settings = _with_executor(_settings(workspace), executor, scheduler)
    stages = select_stages(first, last, only)
    api_key = _relay_dandi_key(settings)
    if plan:
        from publishkit.release.plan import plan_release

        planned = plan_release(
            settings=settings,
            stages=stages,
            version=version,
            bump=bump,
            allow_empty=allow_empty,
            dandi_api_key=api_key,
        )
        if fmt is TextOrJson.json:
            render.print_json(planned.as_json())
        else:
            render.print_plan(planned)
        if not planned.ok:
            raise typer.Exit(CheckFailed.exit_code)
        return
    with render.Bars(fmt is TextOrJson.text and not quiet) as bars:
        result = run_release(
            settings=settings,
            stages=stages,
            version=version,
            bump=bump,
            publish_despite_inspection=despite,
            notes=tuple(note or ()),
            allow_empty=allow_empty,
            dandi_api_key=api_key,
            jobs=jobs,
            wait=wait,
            progress=bars,
        )
    if fmt is TextOrJson.json:
        render.print_json(result.as_json())
    elif result.stopped_by_conversion and result.conversion is not None:
        render.print_conversion(result.conversion)
        err.print(
            "error: a row failed to convert, so nothing was organized or uploaded (fix: correct "
            "the rows named above and run the release again)"
        )
    elif result.stopped_by_dandi and result.dandi is not None:
        render.print_uploads({"dandi": result.dandi.as_json()})
        err.print(
            "error: the DANDI upload failed, so nothing was published to S3 (fix: correct the "
            "cause named above and run the release again; finished uploads are re-used)"
        )
    elif result.gated and result.inspection is not None:
        render.print_inspection(result.inspection)
        err.print(
            "error: inspection failed, so nothing was uploaded (fix: correct the files, or "
            "pass --publish-despite-inspection REASON)"
        )
    elif not quiet:
        render.print_pipeline(result)
    if not result.ok:
        raise typer.Exit(CheckFailed.exit_code)


@app.command()
def notes(
    old: Annotated[Path, typer.Argument(help="The earlier manifest (JSON file).")],
    new: Annotated[Path, typer.Argument(help="The later manifest (JSON file).")],
    fmt: Annotated[
        NotesFormat,
        typer.Option(
            "--format",
            "-f",
            help="markdown (default), allensdk (AllenSDK compare_manifests text), json.",
        ),
    ] = NotesFormat.markdown,
) -> None:
    """Say what changed between two manifests: created, deleted, changed, renamed files."""
    old_doc, new_doc = manifest.load(old), manifest.load(new)
    if fmt is NotesFormat.allensdk:
        out.out(render_allensdk(old_doc, new_doc, old.name, new.name), highlight=False)
        return
    comparison = compare_manifests(old_doc, new_doc, old.name, new.name)
    if fmt is NotesFormat.json:
        render.print_json(comparison.as_json())
    else:
        out.print(render_markdown(comparison), markup=False, end="")


@app.command()
def verify(
    manifest_file: Annotated[Path, typer.Argument(metavar="MANIFEST", help="Manifest to check.")],
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Download every file and check its size and hashes (blake2b, and sha256 when "
            "the manifest records one).",
        ),
    ] = False,
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Check that every version a manifest pins exists with its size (and, --deep, its hashes).

    Exits 1 on any problem. Warns when a file has a newer version than the pinned one and when
    the bucket's versioning is suspended.
    """
    from publishkit.consume.verify import verify_release

    read = _read_settings(workspace)
    with render.Bars(fmt is TextOrJson.text) as bars:
        report = verify_release(manifest_path=manifest_file, read=read, deep=deep, progress=bars)
    _finish(report, fmt, render.print_verify)


@app.command()
def fetch(
    manifest_file: Annotated[Path, typer.Argument(metavar="MANIFEST", help="Manifest to fetch.")],
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            help="Cache folder; files land in DIR/<project>-<version>/ as in AllenSDK's cache.",
        ),
    ],
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Download every file of a release at its pinned version, hash-checked before use.

    Every digest the manifest records (size, blake2b, sha256) is checked: on download, for a file
    already in place, and before a file fetched for another manifest (same content) is
    hard-linked rather than downloaded.
    """
    from publishkit.consume.fetch import fetch_release

    read = _read_settings(workspace)
    with render.Bars(fmt is TextOrJson.text) as bars:
        report = fetch_release(manifest_path=manifest_file, dest=to, read=read, progress=bars)
    _finish(report, fmt, render.print_fetch)


@manifest_app.command("validate")
def manifest_validate(
    file: Annotated[Path, typer.Argument(help="Manifest JSON file.")],
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Check a manifest against its schema (`publishkit schema manifest`); exits 1 if invalid.

    Also refused: two entries at one path with different content, and an entry whose path is
    a folder in another's (no folder can hold both).
    """
    if not file.is_file():
        raise UsageError(f"{file}: no such file", hint="check the path")
    try:
        document = manifest.load(file)
    except ManifestError as exc:
        if fmt is TextOrJson.json:
            render.print_json({"file": str(file), "valid": False, "error": exc.message})
            raise typer.Exit(CheckFailed.exit_code) from None
        raise CheckFailed(exc.message, exc.hint) from None
    if fmt is TextOrJson.json:
        render.print_json({"file": str(file), "valid": True, "error": None})
        return
    out.print(
        f"{file}: valid manifest v{document['manifest_version']} of {document['project_name']} "
        f"({len(document['metadata_files'])} metadata, {len(document['data_files'])} data files)"
    )


@app.command("schema")
def schema_command(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="config (publishkit.yaml), manifest, template (template.yaml), "
            "template-objects/KIND (one entry of a template's objects), or inspection-report "
            "(inspect --format json).",
        ),
    ],
) -> None:
    """Print the JSON Schema of a file publishkit reads or writes, e.g. `publishkit schema config`.

    Editors and scripts can validate against it; an unknown NAME lists the known ones.
    """
    from publishkit.formats.schemas import load_schema, schema_names

    names = schema_names()
    if name not in names:
        raise UsageError(
            f"no schema named {name!r} (known: {', '.join(names)})",
            hint="e.g. `publishkit schema config`",
        )
    render.print_json(load_schema(name))


@app.command()
def sandbox(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
    ] = 0,
    bucket: Annotated[
        str, typer.Option(help="Name of the versioned bucket to create.")
    ] = "demo-release",
    region: Annotated[str, typer.Option(help="Region of the bucket.")] = "us-west-2",
) -> None:
    """Serve a local S3 (moto) and a local DANDI archive on loopback, for rehearsals and tests.

    Creates a versioned, public-read bucket and an empty dandiset, prints KEY=VALUE lines to
    export (AWS_ENDPOINT_URL, credentials, the bucket, DANDI_API_URL, DANDI_API_KEY,
    DANDISET_ID), then serves until interrupted (Ctrl-C or SIGTERM). Data lives in memory and a
    temporary folder, removed at the end.
    """
    import signal
    import tempfile

    from publishkit.sandbox.archive import DandiSandbox
    from publishkit.sandbox.s3 import DANDI_BLOB_BUCKET, S3Sandbox, check_names

    check_names(bucket, region)
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` cleans up as Ctrl-C does
    try:
        with (
            tempfile.TemporaryDirectory(prefix="publishkit-sandbox-") as state,
            S3Sandbox(port) as s3,
        ):
            info = s3.create_bucket(bucket, region)
            s3.create_bucket(DANDI_BLOB_BUCKET, region)
            with DandiSandbox(
                s3.endpoint_url, DANDI_BLOB_BUCKET, region, Path(state) / "dandi.sqlite"
            ) as archive:
                lines = {
                    **info.environment(),
                    "DANDI_API_URL": archive.api_url,
                    "DANDI_API_KEY": archive.api_key,
                    "DANDISET_ID": archive.create_dandiset("publishkit sandbox dandiset"),
                }
                for key, value in lines.items():
                    out.out(f"{key}={value}", highlight=False)
                sys.stdout.flush()
                while True:
                    time.sleep(3600)
    except KeyboardInterrupt:
        pass  # how a sandbox ends: its servers stopped, its temporary folder removed


def _interrupt(signum: int, frame: Any) -> None:
    """Turn SIGTERM into Ctrl-C: the sandbox stops cleanly and removes its temporary folder."""
    raise KeyboardInterrupt


@app.command("inspect")
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
        typer.Option("--format", "-f", help="text, json (nwbinspector's report shape) or junit."),
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
    Exits 1 when a finding is at or above --fail-on or a file cannot be read, else 0.
    """
    in_workspace = (workspace / CONFIG_NAME).is_file()
    settings = _settings(workspace) if in_workspace else None
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
    with render.Bars(fmt is InspectFormat.text and output is None) as bars:
        report = start_inspection(
            files=files,
            config=inspection,
            cache_dir=settings.state_dir if settings else _user_cache_dir(),
            fail_on=str(fail_on or (settings.fail_on if settings else "CRITICAL")),
            jobs=jobs,
            dandi=not no_dandi,
            relative_to=settings.workspace if settings else None,
            progress=bars,
            executor=chosen,
        ).finish()
    if fmt is InspectFormat.json:
        text = dumps(as_json(report))
    elif fmt is InspectFormat.junit:
        text = as_junit(report)
    else:
        text = ""
    if output is not None:
        write_atomic(output, text or render.plain_summary(report))
        out.print(render.verdict(report), markup=False)
    elif text:
        out.out(text, end="", highlight=False)
    else:
        render.print_inspection(report)
    if not report.passed:
        raise typer.Exit(CheckFailed.exit_code)


def _user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "publishkit"


def _user_templates(workspace: Path) -> Path | None:
    if not (workspace / CONFIG_NAME).is_file():
        return None
    settings = _settings(workspace)
    return settings.conversion_settings.templates_dir if settings.conversion_settings else None


@templates_app.command("list")
def templates_list(
    workspace: WorkspaceOption = Path("."), fmt: FormatOption = TextOrJson.text
) -> None:
    """The built-in templates, and a workspace's own (conversion.templates_dir)."""
    from publishkit.nwb.templates import load_template, template_folders

    found = [
        load_template(folder) for folder in template_folders(_user_templates(workspace)).values()
    ]
    if fmt is TextOrJson.json:
        render.print_json([{"name": t.name, "description": t.description} for t in found])
        return
    for template in found:
        out.print(f"[bold]{template.name}[/] {template.version}  {escape(template.description)}")


@templates_app.command("show")
def templates_show(
    name: Annotated[str, typer.Argument(help="Template name.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """A template's README and its template.yaml."""
    from publishkit.nwb.templates import TEMPLATE_FILE, find_template

    template = find_template(name, _user_templates(workspace))
    readme = template.folder / "README.md"
    if readme.is_file():
        out.print(readme.read_text(encoding="utf-8"), markup=False)
    out.print(f"--- {template.folder / TEMPLATE_FILE}", markup=False)
    out.print((template.folder / TEMPLATE_FILE).read_text(encoding="utf-8"), markup=False)


@app.command()
def init(
    dest: Annotated[Path, typer.Argument(metavar="DIR", help="New workspace folder.")],
    template: Annotated[str, typer.Option("--template", "-t", help="Template to start from.")],
) -> None:
    """Make a workspace from a template's example: publishkit.yaml, sessions table, source data."""
    from publishkit.nwb.scaffold import init_workspace
    from publishkit.nwb.templates import find_template

    made = init_workspace(dest=dest, template=find_template(template))
    out.print(f"Made {made} from template {template}. Next: cd {made} && publishkit convert")


@app.command()
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

    settings = _with_executor(_settings(workspace), executor, scheduler)
    with render.Bars(fmt is TextOrJson.text) as bars:
        report = convert_sessions(settings=settings, jobs=jobs, wait=wait, progress=bars)
    _finish(report, fmt, render.print_conversion)


@app.command()
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

    settings = _settings(workspace)
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


@app.command()
def upload(
    target: Annotated[
        Target, typer.Option("--target", help="dandi, s3, or all that publishkit.yaml enables.")
    ] = Target.all,
    workspace: WorkspaceOption = Path("."),
    wait: WaitOption = False,
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Upload what changed: organized files to the dandiset (dandi-cli), release files to S3.

    Re-running uploads nothing new. A file that fails does not stop the others; failures are
    listed at the end with their reason and the exit code is 1. The S3 upload writes no
    manifest: the next `publishkit release` pins what was uploaded.
    """
    settings = _settings(workspace)
    targets = (
        [target.value]
        if target is not Target.all
        else [
            name
            for name, enabled in (
                ("dandi", dandi_enabled(settings)),
                ("s3", settings.s3_settings is not None),
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

            api_key = _relay_dandi_key(settings)
            check_dandi_access(settings=settings, api_key=api_key)
            dandi_report = upload_to_dandi(settings=settings, wait=wait, progress=bars)
            summary["dandi"] = dandi_report.as_json()
            ok = dandi_report.ok
        if "s3" in targets:
            from publishkit.release.cut import upload_to_s3

            summary["s3"] = upload_to_s3(settings=settings, wait=wait, progress=bars).as_json()
    if fmt is TextOrJson.json:
        render.print_json(summary)
    else:
        render.print_uploads(summary)
    if not ok:
        raise typer.Exit(CheckFailed.exit_code)


@export_app.command("file-manifest")
def export_file_manifest_command(
    manifest_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[MANIFEST]",
            help="Release manifest (default: the latest one in the workspace's manifests/).",
        ),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="CSV file to write.")] = Path(
        "file_manifest.csv"
    ),
    workspace: WorkspaceOption = Path("."),
) -> None:
    """A CSV with one row per data file: its id, dandiset path, DANDI URL and pinned S3 URL."""
    from publishkit.consume.export import export_file_manifest, latest_local_manifest

    settings = _settings(workspace)
    chosen = manifest_file or latest_local_manifest(settings.workspace / "manifests")
    rows = export_file_manifest(
        manifest_path=chosen,
        output=output,
        dandi_instance=settings.dandi.instance,
        id_column=settings.id_column,
    )
    out.print(f"{output}: {rows} data file(s) from {chosen.name}")


@app.command()
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

    from publishkit.sandbox.demo import run_demo

    # The sandboxes accept any credentials; these keep the user's own out of the demo.
    os.environ.update(
        AWS_ACCESS_KEY_ID="sandbox",
        AWS_SECRET_ACCESS_KEY="sandbox",
        DANDI_CACHE="ignore",
        DANDI_NO_ET="1",
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="publishkit-demo-") as scratch:
        root = folder or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        with render.Bars(True) as bars:
            result = run_demo(root=root, progress=bars)
        render.print_demo(result, time.monotonic() - started, keep=folder is not None)
    if not result.verified.ok or not result.first.ok or not result.second.ok:
        raise typer.Exit(CheckFailed.exit_code)


@app.command()
def status(workspace: WorkspaceOption = Path("."), fmt: FormatOption = TextOrJson.text) -> None:
    """Each stage the workspace enables, and each NWB file's state (inspected, on DANDI, in the
    latest release), from the workspace's records alone."""
    from publishkit.release.status import workspace_status

    report = workspace_status(settings=_settings(workspace))
    if fmt is TextOrJson.json:
        render.print_json(report.as_json())
    else:
        render.print_status(report)


def _reflow_help(*apps: typer.Typer) -> None:
    """Commands' help as paragraphs that the terminal wraps: a docstring's own line breaks
    would otherwise show, and wrap mid-sentence in any width but the source's."""
    for each in apps:
        for info in each.registered_commands:
            text = info.help or inspect.getdoc(info.callback) or ""
            paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
            info.help = "\n\n".join(p for p in paragraphs if p)


_reflow_help(app, manifest_app, templates_app, export_app)


def main() -> None:
    try:
        app(prog_name="publishkit")
    except SystemExit as exit:
        _exit_now(exit.code)
    _exit_now(0)


def _exit_now(code: int | str | None) -> None:
    """Exit once every exit handler ran and the output is flushed, without the interpreter's
    module-by-module teardown: with pynwb, dandi and boto3 loaded that alone takes 0.3-0.5 s,
    a fifth of an incremental release. Nothing publishkit writes is left open by then."""
    import atexit
    import threading

    if isinstance(code, str):
        err.print(code)
        code = 1
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or debugger writes its results after main() returns
    threading_shutdown = getattr(threading, "_shutdown", None)
    if threading_shutdown is not None:
        threading_shutdown()  # joins running threads, as the interpreter's own exit would
    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)
