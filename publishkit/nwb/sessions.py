"""The sessions table convert reads: one row per NWB file to make.

It is read as a release reads its tables (`workspace.csv_tables`: strict UTF-8 and quoting, one
field per column, a header naming every column once), and only from inside the workspace
(`workspace.confined`). The ids DANDI names files after are checked against the archive's path
rule from the table, before any file is made: organize would otherwise refuse them only after
every row was converted.
"""

from __future__ import annotations

from typing import Any

import msgspec

from publishkit.errors import WorkspaceError
from publishkit.formats.dandi_paths import ALLOWED, refused_in_id
from publishkit.local_files import shown
from publishkit.nwb.build import ConversionError
from publishkit.nwb.templates import render
from publishkit.workspace.config import Settings
from publishkit.workspace.confined import inside, is_regular_file
from publishkit.workspace.csv_tables import read_table

# the template fields dandi organize names a file after: (section, field)
NAMED_FIELDS = (("subject", "subject_id"), ("nwbfile", "session_id"))


class Sessions(msgspec.Struct, frozen=True):
    """The sessions table: its rows (column -> value, stripped) and the line each starts on."""

    rows: list[dict[str, str]]
    lines: list[int]


def planned_sessions(settings: Settings, template: dict[str, Any]) -> list[dict[str, str]]:
    """The sessions table's rows, checked before anything converts: read from inside the
    workspace, and (for a workspace that uploads to DANDI) ids that make dandiset paths the
    archive accepts; convert's output folder and files table are inside the workspace too.
    `template`: the template's document. A release's preflight can call this: it writes
    nothing."""
    conversion = settings.conversion
    for what, path in (
        ("conversion.output_dir", conversion.output_dir),
        ("conversion.files_table", conversion.files_table),
    ):
        inside(settings.workspace, path, what, f"give {what} a path inside the workspace")
    sessions = read_sessions(settings)
    if settings.dandi_enabled:
        check_dandi_ids(template, sessions, shown(conversion.sessions, settings.workspace))
    return sessions.rows


def read_sessions(settings: Settings) -> Sessions:
    """The rows of conversion.sessions; a WorkspaceError names the table, the line and the fix
    when it is outside the workspace, absent, empty or malformed."""
    path = settings.conversion.sessions
    what = f"sessions table {path}"
    real = inside(settings.workspace, path, what, "fix conversion.sessions in publishkit.yaml")
    if not is_regular_file(real, what):
        raise WorkspaceError(
            f"sessions table {path} does not exist",
            hint="fix conversion.sessions in publishkit.yaml or create the table",
        )
    table = read_table(
        path, real, empty_hint="write a header row of column names, then one row per session"
    )
    rows, lines = [], []
    for line, values in table.rows:
        rows.append({k: v.strip() for k, v in zip(table.header, values, strict=True)})
        lines.append(line)
    if not rows:
        raise WorkspaceError(f"sessions table {path} has no rows", hint="add one row per session")
    return Sessions(rows, lines)


def check_dandi_ids(document: dict[str, Any], sessions: Sessions, shown: str) -> None:
    """Every row's subject_id and session_id, as the template renders them, make a dandiset path
    the archive accepts; a WorkspaceError names the row, its line and the value. A row whose
    fields cannot be rendered is left to the conversion, which reports it."""
    for number, (row, line) in enumerate(zip(sessions.rows, sessions.lines, strict=True), 1):
        for section, field in NAMED_FIELDS:
            template_value = (document.get(section) or {}).get(field)
            try:
                value = render(template_value, row, f"{section}.{field}")
            except ConversionError:
                continue
            if not isinstance(value, str) or not value:
                continue
            bad = refused_in_id(value)
            if bad is not None:
                raise WorkspaceError(
                    f"{shown} row {number} (line {line}): {field} {value!r} would name a "
                    f"dandiset path DANDI refuses: {bad} is not allowed; the archive allows "
                    f"only {ALLOWED}",
                    hint=f"change the row's {field} in {shown} before converting",
                )
