"""Clean relative S3 keys: keys that every URL reader reads back as themselves.

A key with a '.' or '..' segment, an empty one ('//', a leading or trailing '/'), a backslash
(a browser reads it as '/') or a control character (some are dropped from URLs) names one
object in S3 and another once curl, requests or a browser normalises its URL; S3 takes no key
over 1,024 UTF-8 bytes. `key_problem` is the one place that decides what a clean key is; the
config, the inventory and every manifest reader ask it.
"""

from __future__ import annotations

import re
from itertools import compress

MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes
# Unicode's control characters (category Cc), and surrogates no UTF-8 key can hold
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_ASCII_CONTROLS = bytes([*range(0x0A), *range(0x0B, 0x20), 0x7F])
_SHORT = MAX_KEY_BYTES // 4  # a key of at most this many characters is short enough
# ASCII letters, digits and . _ ~ - between single '/', not starting with '.' or '/', nor ending
# with '/': clean if no part starts with '.' (a part that does may still be clean)
_PLAIN = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~/-]*(?<!/)")
_DOT_SEGMENT = re.compile(r"(?:^|/)(\.\.?)(?:/|$)")
KEY_FIX = "use a relative path of plain names joined by single '/' (no '.' or '..' parts)"


def key_problem(key: str) -> str | None:
    """What makes `key` not a clean relative S3 key (or key segment), in a few words; None
    when it is clean."""
    if (
        type(key) is str
        and len(key) <= _SHORT
        and _PLAIN.fullmatch(key) is not None
        and "//" not in key
        and "/." not in key
    ):
        return None  # the common case, settled quickly
    if not isinstance(key, str):
        return f"is a {type(key).__name__}, not a string"
    if not key:
        return "is empty"
    control = _CONTROL.search(key)
    if control is not None:
        kind = "a surrogate" if control.group() >= "\ud800" else "control character"
        return f"holds {kind} U+{ord(control.group()):04X}"
    if "\\" in key:
        return "holds a backslash (URLs read it as '/')"
    if key.startswith("/"):
        return "starts with '/'"
    if key.endswith("/"):
        return "ends with '/'"
    if "//" in key:
        return "has an empty part ('//')"
    dots = _DOT_SEGMENT.search(key)
    if dots is not None:
        return f"has a {dots.group(1)!r} part (URLs read it as {_READ_AS[dots.group(1)]})"
    size = len(key.encode("utf-8"))
    if size > MAX_KEY_BYTES:
        return f"is {size:,} UTF-8 bytes long (S3's limit: {MAX_KEY_BYTES:,})"
    return None


_READ_AS = {".": "the folder it is in", "..": "the folder above"}


def first_unclean(keys: list[str]) -> tuple[int, str] | None:
    """The index and problem of the first key of `keys` that is not clean; None if all are.
    Many keys at once: checked joined, at C speed, and one by one only when that finds
    something."""
    try:
        wrapped = "/" + "/\n/".join(keys) + "/"  # every key's parts between two '/'
    except TypeError:  # not all strings
        return _one_by_one(keys)
    if (
        wrapped.count("\n") != max(len(keys) - 1, 0)
        or _has_control(wrapped)
        or any(mark in wrapped for mark in ("//", "/./", "/../", "\\"))
        or (
            max(map(len, keys), default=0) > _SHORT
            and any(len(key.encode()) > MAX_KEY_BYTES for key in keys if len(key) > _SHORT)
        )
    ):
        return _one_by_one(keys)
    return None


def _has_control(text: str) -> bool:
    """Whether `text` holds a control character but for newlines, or a surrogate."""
    if text.isascii():  # known without a look at the text; then bytes are quicker to scan
        encoded = text.encode("ascii")
        return len(encoded.translate(None, _ASCII_CONTROLS)) != len(encoded)
    return _CONTROL_BUT_NEWLINE.search(text) is not None


def _one_by_one(keys: list[str]) -> tuple[int, str] | None:
    problems = list(map(key_problem, keys))
    found = next(compress(range(len(keys)), problems), None)
    if found is None:
        return None
    problem = problems[found]
    assert problem is not None
    return found, problem
