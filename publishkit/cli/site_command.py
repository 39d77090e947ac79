"""`publishkit site --out DIR`: the release site, every page, from the bucket's manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from publishkit.cli.options import WorkspaceOption, workspace_settings
from publishkit.cli.render import out
from publishkit.writable import check_folder, write_error


def site(
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Folder to write the site into (created if missing)."),
    ],
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Write the workspace's release site from the bucket's manifests into a folder, for a
    preview: index.html (every release, newest first, with charts of the history) and
    releases/vX.Y.Z.html (one release: notes, files at their pinned URLs, tables, inspection).

    Each release also puts its page and the index beside its manifests (unless publishkit.yaml
    says `site: false`). The pages are self-contained: they open from a folder, the bucket or
    a web server alike.
    """
    from publishkit.release.site_preview import write_site_preview

    settings = workspace_settings(workspace)
    check_folder(out_dir, "the release site")
    try:
        written = write_site_preview(settings=settings, out=out_dir)
    except OSError as exc:
        raise write_error(exc, out_dir, "the release site") from None
    pages = len(written)
    out.print(f"{out_dir / 'index.html'}: the release site of {settings.project}, {pages} page(s)")
