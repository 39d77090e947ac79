"""Reading and writing JSON documents the way every publishkit file is written."""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from itertools import chain, repeat
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

_SCALARS = frozenset({str, int, float, bool, type(None)})


def dumps(document: Any) -> str:
    """Sorted keys, two-space indent, trailing newline: diffs between versions stay readable."""
    out: list[str] = []
    try:
        _write(document, "\n", out)
        return "".join([*out, "\n"])
    except (_Unusual, RecursionError):
        pass  # json.dumps then writes it, or raises what it raises, outside this handler
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# json.dumps(indent=2) runs Python's encoder, seconds for a manifest of 300,000 entries. The C
# encoder only writes compactly, but given "," + newline + indent as its item separator it
# writes the inside of a container of scalars exactly as indent=2 does. `_write` gets the text
# of json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) that way for documents
# of dicts with str keys, lists, str, int, float, bool and None; json.dumps writes the others.
class _Unusual(Exception):
    """A value `_write` leaves to json.dumps."""


@cache
def _encoder(newline: str) -> json.JSONEncoder:
    """Writes scalars, and containers of scalars with an item on each line."""
    return json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=("," + newline, ": "))


def _write(value: Any, newline: str, out: list[str]) -> None:
    """Append `value` as indent=2 writes it where `newline` (a newline and indent) starts a line."""
    kind = type(value)
    if kind in _SCALARS:
        out.append(_encoder(newline).encode(value))
    elif kind is not dict and kind is not list:
        raise _Unusual
    elif not value:
        out.append("{}" if kind is dict else "[]")
    elif _SCALARS.issuperset(map(type, value.values() if kind is dict else value)):
        text = _encoder(newline + "  ").encode(value)
        out += (text[0], newline, "  ", text[1:-1], newline, text[-1])
    else:
        _write_members(value, newline, out)


def _write_members(value: dict[Any, Any] | list[Any], newline: str, out: list[str]) -> None:
    inner = newline + "  "
    if isinstance(value, dict):
        if not all(type(key) is str for key in value):
            raise _Unusual
        keys = sorted(value)
        members = [value[key] for key in keys]
        heads = [f",{inner}{encode_basestring(key)}: " for key in keys]
        heads[0] = "{" + heads[0][1:]
    else:
        members, heads = value, [f",{inner}"] * len(value)
        heads[0] = "[" + inner
    bodies = _entries(members, inner + "  ")
    if bodies is None:
        for head, member in zip(heads, members, strict=True):
            out.append(head)
            _write(member, inner, out)
    else:
        opening, closing = repeat("{" + inner + "  "), repeat(inner + "}")
        out.extend(chain.from_iterable(zip(heads, opening, bodies, closing, strict=False)))
    out += (newline, "}" if isinstance(value, dict) else "]")


def _entries(members: list[Any], newline: str) -> list[str] | None:
    """The insides of members that are all non-empty dicts of scalars (as manifest entries
    are), written with one call of the C encoder: as a list, cut where one member ends and the
    next begins ("}," newline "{"; a JSON string never holds a newline, and only a member's
    end comes before one and only its start after one)."""
    if not {dict} >= set(map(type, members)) or not all(members):
        return None
    if not _SCALARS.issuperset(map(type, chain.from_iterable(map(dict.values, members)))):
        return None
    text = _encoder(newline).encode(members)
    return text[2:-2].split("}," + newline + "{")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def default_mode() -> int:
    """The mode a plainly created file gets (0o644 under the usual umask)."""
    return 0o666 & ~_umask()


def write_atomic(path: Path, text: str | bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then `os.replace` it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, default_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
