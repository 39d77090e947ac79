"""Reading and writing JSON documents the way every publishkit file is written."""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import chain
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
# orjson writes the text of json.dumps(indent=2, sort_keys=True, ensure_ascii=False) for these
# (a float it may write otherwise: 1e-05 as 0.00001, NaN as null); json.dumps writes the rest,
# or raises what it raises (an object, a key that is not a string, an int beyond 64 bits, a loop)
_PLAIN = frozenset({dict, list, tuple, str, int, bool, type(None)})
_CONTAINERS = frozenset({dict, list, tuple})
_DEPTH = 200  # orjson refuses deeper documents


def loads(data: bytes | str) -> Any:
    """json.loads's document, read by orjson (faster); what orjson refuses (NaN, Infinity, a
    lone surrogate, a BOM, UTF-16, nesting past 1,024 levels) is json.loads's to accept or to
    refuse with its own error. One difference: an integer beyond 64 bits is read as the nearest
    float (json.loads: the int), which no size or count publishkit writes comes near."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    return json.loads(data)


def dumps(document: Any) -> str:
    """Sorted keys, two-space indent, trailing newline: diffs between versions stay readable."""
    fast = _orjson(document)
    return _json(document) if fast is None else fast.decode("utf-8")


def encode(document: Any) -> bytes:
    """`dumps`, in UTF-8."""
    fast = _orjson(document)
    return _json(document).encode("utf-8") if fast is None else fast


def _orjson(document: Any) -> bytes | None:
    if _plain(document):
        try:
            return orjson.dumps(document, option=_OPTIONS)
        except orjson.JSONEncodeError:
            pass  # json.dumps then writes it, or raises what it raises, outside this handler
    return None


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _plain(document: Any) -> bool:
    """Whether `document` holds only values of the _PLAIN types, level by level (C speed for
    the level of a manifest's 300,000 entries)."""
    level = [document]
    for _ in range(_DEPTH):
        kinds = set(map(type, level))
        if not kinds <= _PLAIN:
            return False
        if kinds.isdisjoint(_CONTAINERS):
            return True
        containers = [value for value in level if type(value) in _CONTAINERS]
        level = list(chain.from_iterable(_members(value) for value in containers))
    return False


def _members(container: dict[Any, Any] | list[Any] | tuple[Any, ...]) -> Iterable[Any]:
    return container.values() if type(container) is dict else container
