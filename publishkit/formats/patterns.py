"""Tests of a JSON Schema `pattern` over many strings at once: True only if re.search(pattern,
s) matches every s (as jsonschema applies a pattern). For the patterns of publishkit's schemas a
quicker test of the whole column, with str and bytes methods where the regular expression engine
steps through each character; re.search itself for any other, or when the quick test fails."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from itertools import repeat


@cache
def pattern_test(pattern: str) -> Callable[[list[str]], bool]:
    """True only if re.search(pattern, s) matches every s: a quicker test of the whole column
    for the manifest's patterns, re.search itself for any other."""
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
    all (a name like "a..b" is left to the regular expression)."""
    joined = "\0".join(strings)
    return (
        "\n" not in joined
        and ".." not in joined
        and min(map(len, strings), default=1) >= 1
        and not any(map(str.startswith, strings, repeat("/")))
    )


_QUICK: dict[str, Callable[[list[str]], bool]] = {
    "^[0-9a-f]{128}$": _fixed_length("0123456789abcdef", 128),
    "^[0-9a-f]{64}$": _fixed_length("0123456789abcdef", 64),
    "^[0-9a-f]{32}$": _fixed_length("0123456789abcdef", 32),
    "^[0-9]{6}$": _fixed_length("0123456789", 6),
    "^https?://[^?#]+$": _plain_urls,
    r"^(?!/)(?!.*(^|/)\.\.(/|$)).+$": _relative_paths,
}
