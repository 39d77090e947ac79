"""Quick checks that vouch for the members of a big object at once (a manifest's entries, the
summaries of a release), several times faster than a compiled validator going member by member."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from itertools import chain, repeat
from numbers import Number
from typing import Any

from publishkit.formats.schemas import load_schema

# fastjsonschema's compiled validator spends ~6 us on a manifest entry: 2 s for 300,000 entries,
# more than reading them. A quick check looks at many instances at once with builtins that run at
# C speed (~4x faster) and says True only if jsonschema finds nothing wrong with any of them;
# False means "not sure, ask `schemas.violations`". It knows the keywords in _KEYWORDS and makes
# no check (None) of a schema with any other, so a schema edit can make validation slower but
# never change its verdict.
# `format` is an annotation only: `violations` validates without a format checker; so are the
# content keywords (contentEncoding, contentMediaType, contentSchema), as in JSON Schema 2020-12.
QuickCheck = Callable[[dict[str, Any]], bool]
_ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "format", "examples", "default"}
    | {"contentEncoding", "contentMediaType", "contentSchema"}
)
_MEMBERWISE = frozenset({"type", "propertyNames", "additionalProperties"}) | _ANNOTATIONS
# the Python types that surely are each JSON type (jsonschema's checker also takes subclasses,
# and 1.0 as an integer: those go to jsonschema)
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "object": (dict,),
    "array": (list,),
    "boolean": (bool,),
    "null": (type(None),),
}


@cache
def members_check(schema_name: str, name: str) -> QuickCheck | None:
    """The quick check of the members of the object at `properties/<name>` of a schema, if
    every keyword of that object's schema applies to each member on its own: jsonschema then
    finds in the members the check does not vouch for all it finds in the whole object."""
    root = load_schema(schema_name)
    schema = root.get("properties", {}).get(name)
    if not isinstance(schema, dict) or not set(schema) <= _MEMBERWISE:
        return None
    check = _compile(schema, root) if schema.get("type", "object") == "object" else None
    return None if check is None else lambda members: check(_Column([members]))


class _Column:
    """Instances checked together, and their Python types."""

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.kinds = set(map(type, values))

    def of(self, kind: type) -> list[Any]:
        """The instances jsonschema's type checker takes for `kind` (it uses isinstance)."""
        if all(issubclass(found, kind) for found in self.kinds):
            return self.values
        return [value for value in self.values if isinstance(value, kind)]

    def numbers(self) -> list[Any]:
        if not any(issubclass(found, bool) for found in self.kinds):
            return self.of(Number)
        return [value for value in self.of(Number) if not isinstance(value, bool)]


_Check = Callable[[_Column], bool]


@dataclass(frozen=True)
class _Scope:
    """Where a keyword is: the schema holding it, the whole document, the $refs followed."""

    schema: dict[str, Any]
    root: dict[str, Any]
    refs: frozenset[str]

    def compile(self, schema: Any, ref: str | None = None) -> _Check | None:
        return _compile(schema, self.root, self.refs | {ref} if ref else self.refs)


def _compile(
    schema: Any, root: dict[str, Any], refs: frozenset[str] = frozenset()
) -> _Check | None:
    if schema is True:
        return lambda column: True
    if schema is False:  # no instance is valid
        return lambda column: not column.values
    if not isinstance(schema, dict):
        return None
    at = _Scope(schema, root, refs)
    checks = []
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        make = _KEYWORDS.get(keyword)
        check = make(value, at) if make else None
        if check is None:
            return None
        checks.append(check)
    return lambda column: all(check(column) for check in checks)


def _type(value: Any, at: _Scope) -> _Check | None:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) and n in _TYPES for n in names):
        return None
    allowed = {kind for name in names for kind in _TYPES[name]}
    return lambda column: column.kinds <= allowed


def _pattern(value: Any, at: _Scope) -> _Check | None:
    try:
        search = re.compile(value).search  # as jsonschema: re.search(pattern, instance)
    except (re.error, TypeError):
        return None
    quick = _QUICK_PATTERNS.get(value)

    def check(column: _Column) -> bool:
        strings = column.of(str)
        return (quick is not None and quick(strings)) or all(map(search, strings))

    return check


def _min_length(value: Any, at: _Scope) -> _Check | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    return lambda column: min(map(len, column.of(str)), default=value) >= value


def _minimum(value: Any, at: _Scope) -> _Check | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return lambda column: not any(map(operator.lt, column.numbers(), repeat(value)))


def _required(value: Any, at: _Scope) -> _Check | None:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        return None

    def check(column: _Column) -> bool:
        objects = column.of(dict)
        return all(all(map(operator.contains, objects, repeat(name))) for name in value)

    return check


def _properties(value: Any, at: _Scope) -> _Check | None:
    if not isinstance(value, dict):
        return None
    checks = {}
    for name, schema in value.items():
        check = at.compile(schema)
        if check is None:
            return None
        checks[name] = check

    def check_all(column: _Column) -> bool:
        objects = column.of(dict)
        return all(
            check(_Column([o[name] for o in objects if name in o]))
            for name, check in checks.items()
        )

    return check_all


def _property_names(value: Any, at: _Scope) -> _Check | None:
    check = at.compile(value)
    if check is None:
        return None
    return lambda column: check(_Column(list(chain.from_iterable(column.of(dict)))))


def _additional_properties(value: Any, at: _Scope) -> _Check | None:
    check = at.compile(value)
    named = at.schema.get("properties", {})
    if check is None or "patternProperties" in at.schema or not isinstance(named, dict):
        return None
    if not named:  # every member is an additional one
        return lambda column: check(_Column(_member_values(column)))
    return lambda column: check(
        _Column([o[name] for o in column.of(dict) for name in o if name not in named])
    )


def _member_values(column: _Column) -> list[Any]:
    """The objects' members' values, as jsonschema reads them: o[name] for name in o."""
    if column.kinds <= {dict}:  # no subclass that could read differently
        return list(chain.from_iterable(map(dict.values, column.values)))
    return [o[name] for o in column.of(dict) for name in o]


def _ref(value: Any, at: _Scope) -> _Check | None:
    """Only a JSON pointer into the same document, without escapes, and not a cycle."""
    if not isinstance(value, str) or not value.startswith("#/") or value in at.refs:
        return None
    target: Any = at.root
    for part in value[2:].split("/"):
        if not isinstance(target, dict) or part not in target or "~" in part or "%" in part:
            return None
        target = target[part]
    return at.compile(target, value)


_KEYWORDS: dict[str, Callable[[Any, _Scope], _Check | None]] = {
    "type": _type,
    "pattern": _pattern,
    "minLength": _min_length,
    "minimum": _minimum,
    "required": _required,
    "properties": _properties,
    "propertyNames": _property_names,
    "additionalProperties": _additional_properties,
    "$ref": _ref,
}


# Faster tests for the manifest's patterns, with str and bytes methods where the regular
# expression engine steps through each character. Each is True only if re.search(pattern, s)
# matches every s; on False the regular expression decides.
def _fixed_length(allowed: str, length: int) -> Callable[[list[str]], bool]:
    """For ^[<allowed>]{length}$: each string is `length` of those ASCII characters."""
    delete = allowed.encode()

    def check(strings: list[str]) -> bool:
        if not set(map(len, strings)) <= {length}:
            return False
        joined = "".join(strings)
        return joined.isascii() and not joined.encode().translate(None, delete)

    return check


def _plain_urls(strings: list[str]) -> bool:
    """For ^https?://[^?#]+$: http:// or https://, a character or more, and no ? or #."""
    joined = "\n".join(strings)
    return (
        "?" not in joined
        and "#" not in joined
        and min(map(len, strings), default=9) >= 9  # "https://" + 1
        and all(map(str.startswith, strings, repeat(("https://", "http://"))))
    )


def _relative_paths(strings: list[str]) -> bool:
    r"""For ^(?!/)(?!.*(^|/)\.\.(/|$)).+$: not empty, no newline, no leading / and no ".." at
    all (a name like "a..b" is allowed, and left to the regular expression)."""
    joined = "\0".join(strings)
    return (
        "\n" not in joined
        and ".." not in joined
        and min(map(len, strings), default=1) >= 1
        and not any(map(str.startswith, strings, repeat("/")))
    )


_QUICK_PATTERNS: dict[str, Callable[[list[str]], bool]] = {
    "^[0-9a-f]{128}$": _fixed_length("0123456789abcdef", 128),
    "^[0-9a-f]{64}$": _fixed_length("0123456789abcdef", 64),
    "^[0-9a-f]{32}$": _fixed_length("0123456789abcdef", 32),
    "^[0-9]{6}$": _fixed_length("0123456789", 6),
    "^https?://[^?#]+$": _plain_urls,
    r"^(?!/)(?!.*(^|/)\.\.(/|$)).+$": _relative_paths,
}
