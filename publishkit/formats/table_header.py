"""A table's header, checked: every column has a name, and no two columns the same one.

A reader keyed by column name (csv.DictReader, pandas, the notes' diff) keeps one of two
columns of one name and drops the other's values unseen; a column without a name cannot be
matched between releases. Every CSV table publishkit reads is checked here.
"""

from __future__ import annotations

from collections.abc import Sequence


def header_problem(header: Sequence[str]) -> str | None:
    """What is wrong with a header's column names, naming the columns; None when nothing is."""
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if not name.strip():
            after = f" (after {header[number - 2]!r})" if number > 1 else ""
            return f"column {number}{after} has no name"
        if name in seen:
            return f"columns {seen[name]} and {number} are both named {name!r}"
        seen[name] = number
    return None


HEADER_HINT = "give every column its own name in the header row"
