"""What the commands share: options, output formats, and the settings they read from the
workspace and the environment (the only place that reads it)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from msgspec.structs import replace

from publishkit.cli import render
from publishkit.errors import CheckFailed, UsageError
from publishkit.workspace import CONFIG_NAME
from publishkit.workspace.inspection_settings import LEVELS

if TYPE_CHECKING:  # the settings are imported when a command reads them, not for its --help
    from publishkit.s3.pinned import ReadSettings
    from publishkit.workspace.config import Settings


class TextOrJson(StrEnum):
    text = "text"
    json = "json"


class NotesFormat(StrEnum):
    markdown = "markdown"
    allensdk = "allensdk"
    json = "json"
    html = "html"


class InspectFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"
    github = "github"


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


ConcurrencyOption = Annotated[
    int | None,
    typer.Option(
        "--max-concurrency",
        min=1,
        max=256,
        help="Parts of large files sent to S3 at once (default: s3.max_concurrency, else 10); "
        "small files go up eight times as many at once, at most 64.",
    ),
]
PartSizeOption = Annotated[
    int | None,
    typer.Option(
        "--part-size-mb",
        min=5,
        max=5120,
        help="Size of each part of a multipart upload to S3, in MiB (default: s3.part_size_mb, "
        "else 8, raised to keep a file within 10,000 parts).",
    ),
]


def with_transfers(
    settings: Settings, concurrency: int | None, part_size_mb: int | None
) -> Settings:
    """The settings with this run's --max-concurrency and --part-size-mb, when given."""
    s3 = settings.s3_settings
    if s3 is None or (concurrency is None and part_size_mb is None):
        return settings
    if concurrency is not None:
        s3 = replace(s3, max_concurrency=concurrency)
    if part_size_mb is not None:
        s3 = replace(s3, part_size=part_size_mb * 1024 * 1024)
    return replace(settings, s3_settings=s3)


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


def with_executor(settings: Settings, kind: ExecutorKind | None, scheduler: str | None) -> Settings:
    chosen = settings.executor.overridden(kind.value if kind else None, scheduler)
    return replace(settings, executor=chosen)


def finish(report: Any, fmt: TextOrJson, show: Any) -> None:
    """Render a stage's report (JSON for scripts, text for people); exit 1 when it failed."""
    if fmt is TextOrJson.json:
        render.print_json(report.as_json())
    else:
        show(report)
    if not report.ok:
        raise typer.Exit(CheckFailed.exit_code)


def workspace_settings(workspace: Path) -> Settings:
    from publishkit.workspace.config import load_settings

    settings = load_settings(workspace, default_region=env_region())
    if not settings.s3_enabled:
        return settings
    endpoint = settings.s3.endpoint_url or env_endpoint()
    return replace(settings, s3_settings=replace(settings.s3, endpoint_url=endpoint))


def dandi_api_key(settings: Settings) -> str | None:
    """The DANDI API key of the workspace's instance: where dandi-cli looks for it
    (`<INSTANCE>_API_KEY`), else DANDI_API_KEY."""
    instance = settings.dandi.instance
    if not (instance and settings.dandi.dandiset):
        return None
    from publishkit.dandi.access import key_variable

    return os.environ.get(key_variable(instance)) or os.environ.get("DANDI_API_KEY")


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """These environment variables for the block, the previous values restored after it."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def relayed_to_dandi_cli(settings: Settings, api_key: str | None) -> Iterator[None]:
    """For the command's duration, the key where dandi-cli's upload reads it (a user sets
    DANDI_API_KEY; dandi-cli reads `<host:port>_API_KEY` for an instance given by URL)."""
    instance = settings.dandi.instance
    lent = {}
    if api_key and instance and settings.dandi.dandiset:
        from publishkit.dandi.access import key_variable

        variable = key_variable(instance)
        if not os.environ.get(variable):
            lent[variable] = api_key
    with environment(lent):
        yield


def env_region() -> str | None:
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


def env_endpoint() -> str | None:
    """AWS_ENDPOINT_URL when set; a UsageError naming it when it is not a URL."""
    from publishkit.workspace.config import is_endpoint_url, shown_url

    url = os.environ.get("AWS_ENDPOINT_URL") or None
    if url is not None and not is_endpoint_url(url):
        raise UsageError(
            f"AWS_ENDPOINT_URL={shown_url(url)!r} is not an S3 endpoint URL "
            "(expected http(s)://HOST[:PORT])",
            hint="set it to the S3 server's URL, e.g. http://localhost:9000, or unset it to use "
            "AWS",
        )
    return url


def read_settings(workspace: Path) -> ReadSettings:
    """A workspace's S3 settings when there is one, else the standard AWS environment."""
    from publishkit.s3.pinned import ReadSettings

    if (workspace / CONFIG_NAME).is_file():
        s3 = workspace_settings(workspace).s3
        return ReadSettings(s3.region, s3.endpoint_url, s3.public_url, s3.bucket)
    return ReadSettings(region=env_region() or "us-east-1", endpoint_url=env_endpoint())


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "publishkit"


def user_templates(workspace: Path) -> Path | None:
    if not (workspace / CONFIG_NAME).is_file():
        return None
    settings = workspace_settings(workspace)
    return settings.conversion_settings.templates_dir if settings.conversion_settings else None
