"""The command line: the only place that imports typer and rich."""

from __future__ import annotations


def main() -> None:
    """The `publishkit` command."""
    from publishkit.cli.app import main as run

    run()
