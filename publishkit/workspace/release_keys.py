"""Where each file of a release lands in the bucket: its path under the prefix, and its key.

A data file's path in its table becomes its key, `<prefix>/<path>`, and a table's name becomes
`<prefix>/project_metadata/<name>.csv`: each must be a clean relative key (formats.keys) that a
manifest URL carries unchanged, and none may land where publishkit writes its own files.
"""

from __future__ import annotations

import re

from publishkit.errors import WorkspaceError
from publishkit.formats.keys import KEY_FIX, key_problem
from publishkit.formats.release_layout import MANIFESTS_FOLDER, NOTES_FILE
from publishkit.formats.summaries import SUMMARIES_FOLDER

# AllenSDK takes the S3 key from the manifest URL without percent-decoding it, so a key must be
# spelled the same in a URL and in the bucket: no spaces, no characters a URL would escape.
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~/-]+$")
# Keys publishkit itself writes under the prefix: a data file there would clobber or pose as one.
_RESERVED_FOLDERS = (MANIFESTS_FOLDER + "/", "project_metadata/", SUMMARIES_FOLDER + "/")
_RESERVED_FILE = NOTES_FILE
_SHOWN = 80  # characters of a key shown in a message


def table_relpath(table: str) -> str:
    """Where a metadata table lands under the prefix."""
    return f"project_metadata/{table}.csv"


def data_relpath(raw: str, where: str, column: str) -> str:
    """The path under the prefix of a data file a table lists as `raw` (stripped); a
    WorkspaceError naming `where` and `column` when it is not a clean relative key, has
    characters a URL would escape, or lands among publishkit's own files."""
    problem = key_problem(raw)
    if problem is not None:
        raise WorkspaceError(
            f"{where}: {column} {raw!r} {problem}; a data file's path becomes its S3 key, so it "
            "must be a clean relative path inside the workspace",
            hint=KEY_FIX,
        )
    if not _URL_SAFE.match(raw):
        raise WorkspaceError(
            f"{where}: {column} {raw!r} has characters that AllenSDK cannot read back from a "
            "manifest URL",
            hint="rename the file using letters, digits and . _ - ~ / only",
        )
    if raw.startswith(_RESERVED_FOLDERS) or raw == _RESERVED_FILE:
        raise WorkspaceError(
            f"{where}: {column} {raw!r} would land where publishkit writes its own files "
            f"({', '.join(_RESERVED_FOLDERS)} and {_RESERVED_FILE})",
            hint="move the file to another folder",
        )
    return raw


def check_key(prefix: str | None, relpath: str, what: str) -> None:
    """Refuse a file whose whole key, `<prefix>/<relpath>`, is not a clean relative key (too
    long for S3, say), naming `what`."""
    key = f"{prefix}/{relpath}" if prefix else relpath
    problem = key_problem(key)
    if problem is not None:
        shown = repr(key) if len(key) <= _SHOWN else f"{key[:_SHOWN]!r}…"
        raise WorkspaceError(
            f"{what}: its S3 key {shown} {problem}",
            hint="shorten the path (or s3.prefix), or rename the table; " + KEY_FIX,
        )
