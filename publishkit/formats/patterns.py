"""Tests of a JSON Schema `pattern` over many strings at once: True only if re.search(pattern,
s) matches every s (as jsonschema applies a pattern). For the patterns of publishkit's schemas a
quicker test of the whole column (hex digests, dandiset ids), with str and bytes methods where
the regular expression engine steps through each character; re.search for any other."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache


@cache
def pattern_test(pattern: str) -> Callable[[list[str]], bool]:
    """True only if re.search(pattern, s) matches every s: a quicker test of the whole column
    for the fixed-length patterns of publishkit's schemas, re.search itself for any other."""
    quick = _QUICK.get(pattern)
    search = re.compile(pattern).search
    return lambda strings: (quick is not None and quick(strings)) or all(map(search, strings))


def _fixed_length(allowed: str, length: int) -> Callable[[list[str]], bool]:
    """For ^[<allowed>]{length}$: each string is `length` of those ASCII characters."""
    delete = allowed.encode()

    def check(strings: list[str]) -> bool:
        if not set(map(len, strings)) <= {length}:
            return False
        joined = "".join(strings)
        return joined.isascii() and not joined.encode().translate(None, delete)

    return check


_QUICK: dict[str, Callable[[list[str]], bool]] = {
    "^[0-9a-f]{128}$": _fixed_length("0123456789abcdef", 128),
    "^[0-9a-f]{64}$": _fixed_length("0123456789abcdef", 64),
    "^[0-9a-f]{32}$": _fixed_length("0123456789abcdef", 32),
    "^[0-9]{6}$": _fixed_length("0123456789", 6),
}
