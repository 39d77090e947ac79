"""Which NWB files a command works on: those named, or the workspace's own."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from publishkit.errors import UsageError
from publishkit.workspace.config import Settings
from publishkit.workspace.inventory import collect


def find_nwb_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders searched for *.nwb; a path that does not exist is bad input."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.nwb") if p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder", hint="check the path")
    if not found:
        raise UsageError(
            f"no .nwb files in {', '.join(str(p) for p in paths)}",
            hint="name NWB files or folders that contain them",
        )
    return list(dict.fromkeys(found))


def workspace_nwb_files(settings: Settings) -> list[Path]:
    """The workspace's own NWB files: convert's outputs when it converts, else those its tables
    list, else every *.nwb outside dot-folders and the dandiset folder (organize's copies)."""
    if settings.converts:
        found = sorted(settings.conversion.output_dir.glob("*.nwb"))
    else:
        # by the listed name: a file may be a symlink to a blob without the suffix (git-annex)
        found = [f.path for f in collect(settings) if PurePosixPath(f.relpath).suffix == ".nwb"]
    if not found:
        dandiset = settings.dandi.folder.resolve()
        found = [
            p
            for p in sorted(settings.workspace.rglob("*.nwb"))
            if not any(part.startswith(".") for part in p.relative_to(settings.workspace).parts)
            and not p.resolve().is_relative_to(dandiset)
        ]
    if not found:
        raise UsageError(
            f"{settings.workspace}: the workspace has no .nwb files",
            hint="name NWB files or folders to inspect",
        )
    return list(dict.fromkeys(found))  # a file listed under two ids is inspected once
