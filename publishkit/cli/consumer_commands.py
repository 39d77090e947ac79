"""The consumer's commands: `notes`, `verify`, `fetch`, `manifest validate`, `export
file-manifest`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from publishkit.cli import render
from publishkit.cli.options import (
    FormatOption,
    NotesFormat,
    TextOrJson,
    WorkspaceOption,
    finish,
    read_settings,
    workspace_settings,
)
from publishkit.cli.render import err, out
from publishkit.errors import CheckFailed, ManifestError, UsageError
from publishkit.formats import manifest
from publishkit.formats.changes import allensdk_text
from publishkit.formats.comparison import check_comparable
from publishkit.formats.notes import render_markdown
from publishkit.formats.release_layout import MANIFESTS_FOLDER
from publishkit.writable import check_file, write_error

if TYPE_CHECKING:
    from publishkit.consume.transfer import TransferSettings

ConcurrencyOption = Annotated[
    int,
    typer.Option(
        "--max-concurrency",
        min=1,
        max=256,
        help="Ranges of a large file read at once (memory: this x --part-size-mb).",
    ),
]
PartSizeOption = Annotated[
    int,
    typer.Option(
        "--part-size-mb",
        min=1,
        max=5120,
        help="Size of each range of a large file, in MiB; files over 16 MiB (or one part, if "
        "bigger) are read in ranges.",
    ),
]


def _transfer(concurrency: int, part_size_mb: int) -> TransferSettings:
    from publishkit.consume.transfer import MIB, TransferSettings

    part = part_size_mb * MIB
    return TransferSettings(concurrency=concurrency, part_size=part, threshold=max(16 * MIB, part))


def notes(
    old: Annotated[Path, typer.Argument(help="The earlier manifest (JSON file).")],
    new: Annotated[Path, typer.Argument(help="The later manifest (JSON file).")],
    fmt: Annotated[
        NotesFormat,
        typer.Option(
            "--format",
            "-f",
            help="markdown (default), allensdk (AllenSDK compare_manifests text), json, html "
            "(NEW's release page, as its release published it).",
        ),
    ] = NotesFormat.markdown,
    files_only: Annotated[
        bool,
        typer.Option(
            "--files-only",
            help="Compare file by file only: read nothing from the bucket (no rows, cells or "
            "NWB fields).",
        ),
    ] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """Say what changed between two manifests: created, deleted, changed, renamed files, and
    inside them: each changed table's rows, cells and columns (both versions read from the
    bucket at their pinned versions) and each changed NWB file's fields and objects (from the
    summaries the releases published). `--format allensdk` is AllenSDK's own text, file by file.
    """
    if fmt is NotesFormat.allensdk:  # (AllenSDK's text reads every entry of both)
        old_doc, new_doc = manifest.load(old), manifest.load(new)
        _warn_if_backwards(old_doc, new_doc, old, new)
        out.out(allensdk_text(old_doc, new_doc, old.name, new.name), highlight=False)
        return
    from publishkit.release.manifest_pair import read_pair

    pair = read_pair(old, new)
    old_doc, new_doc = pair.old, pair.new
    _warn_if_backwards(old_doc, new_doc, old, new)
    comparison = pair.compared(old.name, new.name)
    read = None
    if not files_only:
        from publishkit.release.published_readback import compared_where_published

        read = read_settings(workspace)
        comparison = compared_where_published(comparison, old_doc, new_doc, read)
    if fmt is NotesFormat.json:
        render.print_json(comparison.as_json())
    elif fmt is NotesFormat.html:
        from publishkit.release.site_preview import release_page_html

        page = release_page_html(comparison=comparison, new=new_doc, read=read)
        out.out(page, highlight=False, end="")
    else:
        out.print(render_markdown(comparison), markup=False, end="")


def _warn_if_backwards(
    old_doc: dict[str, Any], new_doc: dict[str, Any], old: Path, new: Path
) -> None:
    backwards = check_comparable(old_doc, new_doc, old.name, new.name)
    if backwards:
        err.print(f"warning: {backwards}", markup=False)


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
    concurrency: ConcurrencyOption = 10,
    part_size_mb: PartSizeOption = 8,
) -> None:
    """Check that every version a manifest pins exists with its size (and, --deep, its hashes).

    Exits 1 on any problem. Warns when a file has a newer version than the pinned one and when
    the bucket's versioning is suspended. --deep reads a large file as parallel ranges of its
    pinned version, each retried on its own after a transient failure (counted in the report).
    """
    from publishkit.consume.verify import verify_release

    read = read_settings(workspace)
    with render.Bars(fmt is TextOrJson.text) as bars:
        report = verify_release(
            manifest_path=manifest_file,
            read=read,
            deep=deep,
            transfer=_transfer(concurrency, part_size_mb),
            progress=bars,
        )
    finish(report, fmt, render.print_verify)


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
    concurrency: ConcurrencyOption = 10,
    part_size_mb: PartSizeOption = 8,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace a file at a target that fetch did not place there (refused without).",
        ),
    ] = False,
) -> None:
    """Download every file of a release at its pinned version, hash-checked before use.

    Every digest the manifest records (size, blake2b, sha256) is checked: on download, for a file
    already in place, and before a file fetched for another manifest (same content) is
    hard-linked rather than downloaded.

    A large file is read as parallel ranges into a partial file beside its target; an
    interrupted fetch, run again, keeps the ranges already written (each checked again) and
    reads only the others.

    A file at a target that is not this release's and that fetch did not place is refused, by
    name, unless --overwrite.
    """
    from publishkit.consume.fetch import fetch_release

    read = read_settings(workspace)
    with render.Bars(fmt is TextOrJson.text) as bars:
        report = fetch_release(
            manifest_path=manifest_file,
            dest=to,
            read=read,
            transfer=_transfer(concurrency, part_size_mb),
            overwrite=overwrite,
            progress=bars,
        )
    finish(report, fmt, render.print_fetch)


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
    pin_dandi: Annotated[
        bool,
        typer.Option(
            "--pin-dandi-version",
            help="archive_uri in the published DANDI version the manifest records, not the draft.",
        ),
    ] = False,
    workspace: WorkspaceOption = Path("."),
) -> None:
    """A CSV with one row per data file: its id, dandiset path, DANDI URL and pinned S3 URL.

    With --pin-dandi-version each DANDI URL is the asset in the published version the release
    was published with (`dandi download` fetches exactly that), not the draft's.
    """
    from publishkit.consume.export import export_file_manifest, latest_local_manifest

    settings = workspace_settings(workspace)
    chosen = manifest_file or latest_local_manifest(settings.workspace / MANIFESTS_FOLDER)
    check_file(output, "the file manifest", "file_manifest.csv")
    try:
        rows = export_file_manifest(
            manifest_path=chosen,
            output=output,
            dandi_instance=settings.dandi.instance,
            id_column=settings.id_column,
            pinned=pin_dandi,
        )
    except OSError as exc:
        raise write_error(exc, output, "the file manifest") from None
    out.print(f"{output}: {rows} data file(s) from {chosen.name}")
