"""Helpers around the pipeline: `init`, `templates`, `schema`, `sandbox`."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from publishkit.cli import render
from publishkit.cli.options import FormatOption, TextOrJson, WorkspaceOption, user_templates
from publishkit.cli.render import out
from publishkit.errors import UsageError
from publishkit.writable import check_folder, write_error

if TYPE_CHECKING:  # the sandbox starts servers: only its own command imports it
    from publishkit.sandbox.services import Services


def schema_command(
    name: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="config (publishkit.yaml), manifest, template (template.yaml), "
            "template-objects/KIND (one entry of a template's objects), inspection-report "
            "(inspect --format json), nwb-summaries (the NWB summaries a release publishes) or "
            "nwb-summary (one of them).",
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


def sandbox(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0: any free port).")
    ] = 0,
    bucket: Annotated[
        str, typer.Option(help="Name of the versioned bucket to create.")
    ] = "demo-release",
    region: Annotated[str, typer.Option(help="Region of the bucket.")] = "us-west-2",
    wan_rate: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            metavar="MBPS",
            help="Put a simulated WAN in front of S3: cap each connection at MBPS MiB/s.",
        ),
    ] = None,
    wan_latency_ms: Annotated[
        float, typer.Option(min=0, help="Simulated WAN: milliseconds per round trip.")
    ] = 0.0,
    wan_cut_after_mb: Annotated[
        float | None,
        typer.Option(min=0.01, help="Simulated WAN: cut each connection after this many MiB."),
    ] = None,
) -> None:
    """Serve a local S3 (moto) and a local DANDI archive on loopback, for rehearsals and tests.

    Creates a versioned, public-read bucket and an empty dandiset, prints KEY=VALUE lines to
    export (AWS_ENDPOINT_URL, credentials, the bucket, DANDI_API_URL, DANDI_API_KEY,
    DANDISET_ID) and a working `env ... dandi upload` line for the real dandi-cli, then serves
    until interrupted (Ctrl-C or SIGTERM).

    The local archive validates and publishes as DANDI does. Data lives in memory and a
    temporary folder, removed at the end. With --wan-rate, --wan-latency-ms or
    --wan-cut-after-mb, AWS_ENDPOINT_URL is a proxy that shapes each connection as a long link
    would (the DANDI archive's own blobs go straight to the local S3).
    """
    import contextlib
    import signal

    from publishkit.sandbox.services import serve
    from publishkit.sandbox.wan import WanProxy

    for each in (signal.SIGINT, signal.SIGTERM):  # how a sandbox ends, not an interruption:
        signal.signal(each, _interrupt)  # cleaned up, exit 0 (no 130/143 from cli.signals)
    shaped = wan_rate is not None or wan_latency_ms > 0 or wan_cut_after_mb is not None
    try:
        with (
            serve(port=port, bucket=bucket, region=region) as services,
            contextlib.ExitStack() as stack,
        ):
            environment = services.environment()
            if shaped:
                proxy = stack.enter_context(
                    WanProxy(
                        environment["AWS_ENDPOINT_URL"],
                        rate=None if wan_rate is None else wan_rate * 2**20,
                        latency_ms=wan_latency_ms,
                        cut_after=None
                        if wan_cut_after_mb is None
                        else int(wan_cut_after_mb * 2**20),
                    )
                )
                environment["AWS_ENDPOINT_URL"] = proxy.endpoint_url
            for key, value in environment.items():
                out.out(f"{key}={value}", highlight=False)
            for line in _dandi_cli_lines(services):
                out.out(line, highlight=False)
            sys.stdout.flush()
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass  # how a sandbox ends: its servers stopped, its temporary folder removed


def _dandi_cli_lines(services: Services) -> list[str]:
    """How to run the real `dandi` against the local archive: dandi-cli reads its key from
    `<host:port>_API_KEY`, a name a shell cannot export, so `env` passes it."""
    variable, key, api = services.api_key_variable, services.api_key, services.api_url
    return [
        f"# dandi-cli reads this archive's key from {variable}, which a shell cannot export;",
        "# run it through env, e.g. in the organized dandiset folder:",
        f"# env '{variable}={key}' dandi upload -i {api}",
    ]


def _interrupt(signum: int, frame: Any) -> None:
    """Ctrl-C or SIGTERM: the sandbox stops cleanly and removes its temporary folder."""
    raise KeyboardInterrupt


def templates_list(
    workspace: WorkspaceOption = Path("."), fmt: FormatOption = TextOrJson.text
) -> None:
    """The built-in templates, and a workspace's own (conversion.templates_dir)."""
    from publishkit.nwb.templates import load_template, template_folders

    found = [
        load_template(folder) for folder in template_folders(user_templates(workspace)).values()
    ]
    if fmt is TextOrJson.json:
        render.print_json([{"name": t.name, "description": t.description} for t in found])
        return
    for template in found:
        out.print(f"[bold]{template.name}[/] {template.version}  {escape(template.description)}")


def templates_show(
    name: Annotated[str, typer.Argument(help="Template name.")],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """A template's README and its template.yaml."""
    from publishkit.nwb.templates import TEMPLATE_FILE, find_template

    template = find_template(name, user_templates(workspace))
    readme = template.folder / "README.md"
    if readme.is_file():
        out.print(readme.read_text(encoding="utf-8"), markup=False)
    out.print(f"--- {template.folder / TEMPLATE_FILE}", markup=False)
    out.print((template.folder / TEMPLATE_FILE).read_text(encoding="utf-8"), markup=False)


def init(
    dest: Annotated[Path, typer.Argument(metavar="DIR", help="New workspace folder.")],
    template: Annotated[str, typer.Option("--template", "-t", help="Template to start from.")],
) -> None:
    """Make a workspace from a template's example: publishkit.yaml, sessions table, source data."""
    from publishkit.nwb.scaffold import init_workspace
    from publishkit.nwb.templates import find_template

    chosen = find_template(template)
    if not dest.exists() or dest.is_dir():  # init_workspace refuses anything else itself
        check_folder(dest, "the workspace")
    try:
        made = init_workspace(dest=dest, template=chosen)
    except OSError as exc:
        raise write_error(exc, dest, "the workspace") from None
    out.print(f"Made {made} from template {template}. Next: cd {made} && publishkit convert")
