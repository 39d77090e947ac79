"""The release a run cuts, as the preflight settles it: read by the stages that write it out
(the manifest and the notes), so none of them imports the preflight that decided it."""

from __future__ import annotations

import msgspec

from publishkit.formats.comparison import Comparison
from publishkit.formats.summaries import Summaries
from publishkit.formats.versions import Version


class Decision(msgspec.Struct, frozen=True):
    """The release a run cuts, settled before anything is uploaded."""

    version: Version | None  # None: nothing changed since the latest release
    comparison: Comparison  # what changed, inside the tables and NWB files too
    summaries: Summaries  # the NWB files' summaries, published beside the manifest
    unreadable: dict[str, str]  # relpath -> why its contents cannot be compared
    provisional: bool = False  # settled while the files were inspected: without their summaries

    def warnings(self) -> tuple[str, ...]:
        """One line per NWB file of the release that cannot be read as NWB."""
        return tuple(
            f"{path}: {why}; its contents are not compared in the release notes"
            for path, why in sorted(self.unreadable.items())
        )


SHOWN_WARNINGS = 10  # lines a console shows of a long list of warnings; JSON has every one


def shown_warnings(warnings: tuple[str, ...]) -> list[str]:
    """The warnings a person reads: the first SHOWN_WARNINGS, then how many more there are."""
    more = len(warnings) - SHOWN_WARNINGS
    if more <= 0:
        return list(warnings)
    return [*warnings[:SHOWN_WARNINGS], f"and {more} more (`--format json` lists every one)"]
