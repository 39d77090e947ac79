"""The reading commands: `ls` (a release's files, sizes and summary fields) and `show` (one
file's summary and objects), both from the manifest and the summaries it published; no file is
downloaded."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from publishkit.cli import render
from publishkit.cli.options import FormatOption, TextOrJson, WorkspaceOption, read_settings
from publishkit.cli.render import out

if TYPE_CHECKING:
    from publishkit.reading.listing import ListedFile, Listing

ManifestArgument = Annotated[
    str,
    typer.Argument(
        metavar="MANIFEST",
        help="A manifest file, its s3:// or https:// URL, or s3://BUCKET/PREFIX (the latest "
        "release there, or --version).",
    ),
]
ReleaseOption = Annotated[
    str | None,
    typer.Option("--version", help="With s3://BUCKET/PREFIX: the release to read (X.Y.Z)."),
]


def ls(
    manifest_source: ManifestArgument,
    release: ReleaseOption = None,
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """List a release's files: id, size, path, and each NWB file's summary fields (session,
    subject, units), read from the summaries the release published (one request)."""
    from publishkit.reading.listing import list_release

    listing = list_release(
        manifest_source=manifest_source, version=release, read=read_settings(workspace)
    )
    if fmt is TextOrJson.json:
        render.print_json(listing.as_json())
    else:
        _print_listing(listing)


def show(
    manifest_source: ManifestArgument,
    file_id: Annotated[
        str, typer.Argument(metavar="FILE_ID", help="A data file's id, or a table's name.")
    ],
    release: ReleaseOption = None,
    workspace: WorkspaceOption = Path("."),
    fmt: FormatOption = TextOrJson.text,
) -> None:
    """Print one file of a release: its path, size, hashes, pinned URL and LINDI index, and
    its NWB summary (session and subject fields, devices, and each object's type and shape)."""
    from publishkit.reading.listing import show_file

    found = show_file(
        manifest_source=manifest_source,
        file_id=file_id,
        version=release,
        read=read_settings(workspace),
    )
    if fmt is TextOrJson.json:
        render.print_json(found.as_json())
    else:
        _print_file(found)


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError(size)


def _print_listing(listing: Listing) -> None:
    out.print(f"{listing.project} v{listing.version} ({listing.source})", markup=False)
    width = max((len(f.file.id) for f in listing.files), default=0)
    for item in listing.files:
        fields = "  ".join(f"{k}={v}" for k, v in item.fields().items())
        line = f"{item.file.id:<{width}}  {_size(item.file.size):>10}  {item.file.path}"
        out.print(f"{line}  {fields}".rstrip(), markup=False, highlight=False)
    total = sum(f.file.size or 0 for f in listing.files)
    out.print(f"{len(listing.files)} file(s), {_size(total)}", markup=False)


def _print_file(found: ListedFile) -> None:
    item = found.file
    lines = [
        f"{item.id} ({item.group}): {item.path}",
        f"  size      {_size(item.size)} ({item.size} bytes)",
        *(f"  {name:<9} {value}" for name, value in sorted(item.hashes.items())),
        f"  url       {item.url}",
        f"  index     {item.index['path'] if item.index else 'none (streamed with remfile)'}",
    ]
    summary = found.summary
    if summary is None:
        if item.group == "data":
            lines.append("  (no NWB summary published for this file)")
        out.print("\n".join(lines), markup=False, highlight=False)
        return
    for section in ("session", "subject"):
        fields: dict[str, Any] = summary.get(section, {})
        if fields:
            lines.append(f"{section}:")
            lines += [f"  {name}: {value}" for name, value in sorted(fields.items())]
    for section in ("devices", "electrode_groups", "imaging_planes"):
        named: dict[str, Any] = summary.get(section, {})
        if named:
            lines.append(f"{section}: {', '.join(sorted(named))}")
    objects: dict[str, Any] = summary.get("objects", {})
    lines.append(f"objects ({len(objects)}):")
    for name, spec in sorted(objects.items()):
        lines.append(f"  {name}  {_describe(spec)}".rstrip())
    out.print("\n".join(lines), markup=False, highlight=False)


def _describe(spec: dict[str, Any]) -> str:
    parts = [str(spec.get("type", ""))]
    if "shape" in spec:
        parts.append("x".join(str(n) for n in spec["shape"]) or "scalar")
    for field in ("dtype", "unit"):
        if spec.get(field):
            parts.append(str(spec[field]))
    if spec.get("rate"):
        parts.append(f"{spec['rate']} Hz")
    if "rows" in spec:
        parts.append(f"{spec['rows']} rows")
    if spec.get("columns"):
        parts.append(f"columns: {', '.join(spec['columns'])}")
    return "  ".join(p for p in parts if p)
