"""The command line: the only place that imports typer and rich."""

from __future__ import annotations


def main() -> None:
    """The `publishkit` command."""
    from publishkit.cli.startup_gc import pause

    pause()  # the collector finds no garbage among what the imports make; resumed as it runs
    from publishkit.cli.signals import SIGNALS

    SIGNALS.install(raising=False)  # recorded during the imports below, which take a while
    from publishkit.cli.app import main as run

    run()
