"""`publishkit dandi ...`: the dandiset's own metadata, checked as the archive checks it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from publishkit.cli import render
from publishkit.cli.options import FormatOption, TextOrJson, WorkspaceOption, finish
from publishkit.cli.options import workspace_settings as settings_of


def metadata_check(
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[FILE]",
            help="The dandiset metadata file (default: publishkit.yaml's dandi.metadata).",
        ),
    ] = None,
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Check dandiset.yaml offline as the archive checks a dandiset before it publishes it.

    The fields the archive computes are filled with placeholders, then dandischema validates
    the dandiset as a published one, as the archive does. Each problem is printed with its
    field, its line and the fix. The instance's schema version and licenses come from its
    /api/info/ when it answers. Exits 1 when the archive would refuse the dandiset.
    """
    from publishkit.dandi.access import DandiUnreachable, server_info
    from publishkit.dandi.metadata import ServerInfo, check_metadata, metadata_path

    settings = settings_of(workspace)
    instance = settings.dandi.instance
    server = None
    if instance:
        try:
            server = ServerInfo.from_json(server_info(instance))
        except DandiUnreachable:
            server = None  # the report says it was checked against the installed dandischema
    report = check_metadata(
        path=file or metadata_path(settings),
        dandiset=settings.dandi.dandiset,
        server=server,
        instance=instance,
    )
    finish(report, fmt, render.print_metadata)
