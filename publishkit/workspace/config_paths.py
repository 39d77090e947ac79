"""The paths publishkit.yaml names, each checked to stay inside the workspace when it is read.

conversion's sessions table, output folder, files table and templates folder, the dandiset
folder and metadata file, and an inspection config file: an absolute path, one that climbs out
with `..`, or one through a symlink leading outside is refused at its line (the one check of
`workspace.confined`), so that no stage reads or writes outside the workspace. The tables a
release publishes are checked where they are read (`workspace.inventory`), as their files are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from publishkit.errors import ConfigError, WorkspaceError
from publishkit.formats.yamlio import line_of
from publishkit.workspace.confined import inside

PATH_KEYS = (
    ("conversion", "sessions"),
    ("conversion", "output_dir"),
    ("conversion", "files_table"),
    ("conversion", "templates_dir"),
    ("dandi", "folder"),
    ("dandi", "metadata"),
    ("inspection", "config"),
)
BUILTIN_INSPECTION = ("dandi", "none")


def check_paths(
    document: dict[str, Any], path: Path, root: yaml.Node | None, workspace: Path
) -> None:
    """Every path key of `document` inside `workspace` (resolved), and a dandiset folder that is
    a folder of its own; a ConfigError names the line, the key and the fix."""
    for section, key in PATH_KEYS:
        value = (document.get(section) or {}).get(key)
        if not isinstance(value, str) or (section == "inspection" and value in BUILTIN_INSPECTION):
            continue
        where = f"{path} line {line_of(root, (section, key))}: {section}.{key}"
        try:
            inside(
                workspace,
                workspace / value,
                where,
                f"give {section}.{key} a path inside the workspace",
            )
        except WorkspaceError as exc:
            raise ConfigError(exc.message, hint=exc.hint) from None
    _check_dandi_folder(document, path, root, workspace)


def _check_dandi_folder(
    document: dict[str, Any], path: Path, root: yaml.Node | None, workspace: Path
) -> None:
    """organize lays out the NWB files outside the dandiset folder: a folder that is the
    workspace itself, or holds convert's output folder, would leave it nothing to lay out."""
    folder = (document.get("dandi") or {}).get("folder", "dandiset")
    if not isinstance(folder, str):
        return
    real = (workspace / folder).resolve()
    where = f"{path} line {line_of(root, ('dandi', 'folder'))}: dandi.folder {folder!r}"
    if real == workspace:
        raise ConfigError(
            f"{where} is the workspace itself, so organize would find no NWB file outside it "
            "to lay out",
            hint="name a folder of its own, e.g. dandi: {folder: dandiset}",
        )
    conversion = document.get("conversion")
    if isinstance(conversion, dict):
        output = conversion.get("output_dir", "nwb")
        if isinstance(output, str) and (workspace / output).resolve().is_relative_to(real):
            raise ConfigError(
                f"{where} holds conversion.output_dir {output!r}, so organize would find no "
                "converted file outside it to lay out",
                hint="give the dandiset a folder of its own beside the output folder",
            )
