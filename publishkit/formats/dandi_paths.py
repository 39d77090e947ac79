"""The archive's rule for asset paths, checked before anything is organized or uploaded.

DANDI refuses an asset whose path has a character other than ASCII letters, digits, spaces and
`(),&#+~_=-`, or two dots or slashes in a row (dandiapi's ASSET_PATH_REGEX, here in a form
Python matches in linear time). Its character class writes the letters as `A-z`, a range that
also admits the brackets, the caret, the backslash and the backtick; publishkit keeps to the
letters the rule means and refuses those five too (the archive would take them, but they break
paths on Windows and code spans in Markdown). `dandi organize` itself names files with whatever
the metadata holds (`sub-Maus-ü1`, `@`, `'`, `%`, `..`).

`dandi organize` first turns some characters of an id into `-` (`_`, spaces, `.`, `@`, ...:
SANITIZED, dandi-cli's `_sanitize_value`, checked by tests/test_upstream.py); what is left of an
id must pass the archive's rule, which `refused_in_id` tells from the id alone, so that convert
can refuse a sessions-table row before any file is made of it.
"""

from __future__ import annotations

import re

ALLOWED = "letters A-Z and a-z, digits, spaces, (),&#+~_=- and single dots"
_CHARS = r"A-Za-z0-9(),&\s#+~_=-"  # not A-z: that range holds [ \ ] ^ ` too
_PATH = re.compile(rf"^(?:/?\.?[{_CHARS}])+$")
_REFUSED = re.compile(rf"[^./{_CHARS}]")  # a character no path may hold
SANITIZED = re.compile(r"[_*\\/<>:|\"'?%@;,\s.]")  # what dandi organize turns into "-"
NAMED_BY = ("subject_id", "session_id", "tissue_sample_id", "slice_id", "cell_id")


def archive_refuses(path: str) -> bool:
    """The archive would refuse an asset at this dandiset path."""
    return path.startswith("/") or _PATH.match(path) is None


def culprit(path: str) -> str:
    """What in `path` the archive refuses: the first character it does not allow, or the
    doubled dot or slash."""
    refused = _REFUSED.search(path)
    if refused:
        return repr(refused.group())
    for pair in ("..", "//", "./"):
        if pair in path:
            return repr(pair)
    return "its form"


def refused_value(metadata: dict[str, object], path: str) -> tuple[str, str] | None:
    """The metadata field (and its value) the refused part of `path` came from, if one did."""
    bad = culprit(path).strip("'")
    for field in NAMED_BY:
        value = metadata.get(field)
        if isinstance(value, str) and bad in value:
            return field, value
    return None


def refused_in_id(value: str) -> str | None:
    """The first character of an id (subject_id, session_id, ...) that the archive would refuse
    in the dandiset path `dandi organize` names after it, quoted; None when it allows them all."""
    refused = _REFUSED.search(SANITIZED.sub("-", value))
    return repr(refused.group()) if refused else None
