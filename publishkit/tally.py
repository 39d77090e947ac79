"""What the stages and checks report: a tally of items that each end in one outcome.

Convert (rows), organize, the DANDI upload and fetch (files), verify (checks): each report is a
frozen record holding its items, and is ok when no item failed. `Tally` gives them `ok`,
`count`, `counts` and the items as JSON once, instead of each writing its own.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec


class Tally:
    """A report whose items (the field `ITEMS` names) each end in one of `OUTCOMES`, held in
    the item's field `OUTCOME`; ok when none is `FAILED` (or, with `PASSED` set, when every one
    is `PASSED`). A mixin of reports that are records (`msgspec.Struct`): no slots of its own."""

    __slots__ = ()

    ITEMS: ClassVar[str]
    OUTCOMES: ClassVar[tuple[str, ...]]
    OUTCOME: ClassVar[str] = "outcome"
    FAILED: ClassVar[str] = "failed"
    PASSED: ClassVar[str | None] = None

    def items(self) -> tuple[Any, ...]:
        """The report's items."""
        return tuple(getattr(self, self.ITEMS))

    @property
    def ok(self) -> bool:
        """No item failed (or every item passed, for a report with `PASSED`)."""
        outcomes = [getattr(item, self.OUTCOME) for item in self.items()]
        if self.PASSED is not None:
            return all(outcome == self.PASSED for outcome in outcomes)
        return all(outcome != self.FAILED for outcome in outcomes)

    def count(self, outcome: str) -> int:
        """How many items ended in `outcome`."""
        return sum(getattr(item, self.OUTCOME) == outcome for item in self.items())

    def counts(self) -> dict[str, int]:
        """Every outcome's count, zeros included, in `OUTCOMES`' order."""
        return {outcome: self.count(outcome) for outcome in self.OUTCOMES}

    def items_json(self) -> list[dict[str, Any]]:
        """Every item as a JSON object of its fields."""
        return [_fields(item) for item in self.items()]


def _fields(item: msgspec.Struct) -> dict[str, Any]:
    """A record's fields, records in them as their fields too."""
    found = msgspec.structs.asdict(item)
    return {k: _fields(v) if isinstance(v, msgspec.Struct) else v for k, v in found.items()}
