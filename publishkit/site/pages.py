"""The site's pages rendered: index.html (every release, newest first, with charts) and one
page per release. jinja2 with autoescape: whatever users wrote (file names, table names, cell
values, notes) is text, never markup; a link is made only of an http(s) URL."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from publishkit.formats.comparison import Comparison
from publishkit.formats.manifest import manifest_name
from publishkit.formats.notes_html import render_html
from publishkit.formats.release_layout import DandiVersion
from publishkit.site.charts import chart_library, history_charts, size_text
from publishkit.site.file_table import (
    FilePage,
    Folder,
    FolderLink,
    TableRow,
    folder_links,
    folders,
    paged,
    tables,
)
from publishkit.site.history import (
    PAGES_FOLDER,
    History,
    dandi_version,
    manifest_url,
    page_name,
)

_LINK = re.compile(r"https?://[^/?#\s\x00-\x1f\x7f]+[^\s\x00-\x1f\x7f]*\Z")
OPEN_UP_TO = 200  # a release of at most this many data files shows its folders open
INLINE_UP_TO = 2_000  # a release of more data files has its file table on pages of its own
PER_PAGE = 1_000  # files on each of those pages
NOTES_ITEMS = 100  # files of each group of changes the notes on the page name


class InspectionSummary(msgspec.Struct, frozen=True):
    """What the release's inspection found: files inspected, findings by importance (most
    important first), findings the settings suppressed, and the reason given to publish
    despite a failure (None: it passed, or no reason was needed)."""

    files: int
    findings: tuple[tuple[str, int], ...]
    suppressed: int = 0
    overridden: str | None = None


class ReleasePage(msgspec.Struct, frozen=True):
    project: str
    version: str
    previous: str | None
    date: str
    manifest_name: str
    manifest_url: str | None
    dandi: DandiVersion | None
    notes: str  # the release notes' section, as HTML (escaped by notes_html)
    inspection: InspectionSummary | None
    overridden: str | None
    tables: tuple[TableRow, ...]
    folders: tuple[Folder, ...]
    files: int
    bytes: int
    file_pages: tuple[FilePage, ...] = ()  # the file table's pages; () when it is inline

    @property
    def data_files(self) -> int:
        return sum(len(folder.files) for folder in self.folders)

    @property
    def dandi_links(self) -> bool:
        """Some file links to its DANDI asset (else the file table has no DANDI column)."""
        return any(f.dandi_url for folder in self.folders for f in folder.files)

    @property
    def folder_links(self) -> tuple[FolderLink, ...]:
        return folder_links(self.folders, self.file_pages)

    @property
    def files_folder(self) -> str:
        """The folder of the file table's pages, beside the release page."""
        return f"v{self.version}"

    @property
    def open_folders(self) -> bool:
        return self.data_files <= OPEN_UP_TO


def release_page(
    document: Mapping[str, Any],
    comparison: Comparison,
    *,
    remarks: tuple[str, ...] = (),
    inspection: InspectionSummary | None = None,
    shapes: Mapping[str, tuple[int, int]] | None = None,
) -> ReleasePage:
    """What the page of release `document` shows; `comparison`: what changed since the release
    before it; `remarks`: the notes' remarks (--note, DANDI, the override); `shapes`: each
    table's rows and columns, when read."""
    entries = [*document["metadata_files"].values(), *document["data_files"].values()]
    by_folder = folders(document)
    date = str(document.get("created") or "")[:10]
    return ReleasePage(
        project=str(document["project_name"]),
        version=str(document["manifest_version"]),
        previous=comparison.old_version,
        date=date,
        manifest_name=manifest_name(document["project_name"], document["manifest_version"]),
        manifest_url=manifest_url(document),
        dandi=dandi_version(document),
        notes=render_html(comparison, date=date or None, remarks=remarks, max_items=NOTES_ITEMS),
        inspection=inspection,
        overridden=inspection.overridden if inspection else None,
        tables=tables(document, shapes),
        folders=by_folder,
        files=len(entries),
        bytes=sum(int(e.get("size") or 0) for e in entries),
        file_pages=paged(by_folder, PER_PAGE) if len(document["data_files"]) > INLINE_UP_TO else (),
    )


def render_release(page: ReleasePage) -> str:
    """A release's page (releases/vX.Y.Z.html): self-contained HTML."""
    return _environment().get_template("release.html.j2").render(page=page)


def release_files(page: ReleasePage) -> dict[str, str]:
    """A release's pages by their path in the site: its page, and the pages of its file
    table when it has them (`releases/vX.Y.Z/files-NNN.html`)."""
    found = {f"{PAGES_FOLDER}/{page_name(page.version)}": render_release(page)}
    template = _environment().get_template("files.html.j2")
    for file_page in page.file_pages:
        found[f"{PAGES_FOLDER}/{page.files_folder}/{file_page.name}"] = template.render(
            page=page, file_page=file_page
        )
    return found


def render_index(history: History) -> str:
    """The project's page (index.html): every release, newest first, and the history charts."""
    charts = history_charts(history.releases) if history.releases else ()
    template = _environment().get_template("index.html.j2")
    return template.render(history=history, charts=charts)


def warm() -> None:
    """Import and compile what drawing the pages takes (jinja2 and the layouts, pygal), and
    draw nothing: for a release to call in a thread of its own while it waits on its uploads,
    so its pages are drawn at once after them (~0.04 s of CPU moved off its path). A failure
    is left for the drawing itself to meet."""
    with contextlib.suppress(Exception):
        environment = _environment()
        for name in ("index.html.j2", "release.html.j2", "files.html.j2"):
            environment.get_template(name)
        chart_library()


def href(url: object) -> str | None:
    """`url` when it is an http(s) URL with a host to put in a link; None for anything else
    (javascript:, data:, a relative path a manifest should not hold, a space or control
    character)."""
    return url if isinstance(url, str) and _LINK.match(url) else None


@cache
def _environment() -> Any:
    """The layouts' environment; their compiled code kept in jinja2's bytecode cache (a folder
    of the user's own in the temporary folder, written atomically; an entry is used only for
    the same template source and jinja2 version), as Python keeps its own: compiling them is
    ~0.03 s of CPU a release. A cache that cannot be read or written is left alone."""
    import jinja2

    from publishkit import __version__

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "layouts"),
        bytecode_cache=_bytecode_cache(jinja2),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["href"] = href
    environment.filters["size"] = size_text
    environment.globals["generator"] = __version__
    return environment


def _bytecode_cache(jinja2: Any) -> Any:
    """jinja2's bytecode cache in its own folder, whose failures (a full or read-only disk, an
    unsafe folder) only mean compiling again; None when there can be none."""

    class Cache(jinja2.FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError, EOFError, ValueError):
                super().load_bytecode(bucket)

        def dump_bytecode(self, bucket: Any) -> None:
            with contextlib.suppress(OSError):
                super().dump_bytecode(bucket)

    try:
        return Cache()
    except (OSError, RuntimeError):
        return None
