"""The consoles: a plain line is written as rich would write it, without importing rich; rich
is imported when something needs it, and then prints everything."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console

from publishkit.cli.consoles import LazyConsole

LINES = [
    "warning: data/a.nwb: not an HDF5 file",
    "a [bold]markup-looking[/] line :smile: with 'quotes' and 'ünïcode'",
    "control codes \x07bell \x08back \x0bvt \x0cff \rcr, kept\ttab",
    "",
]


@pytest.mark.parametrize("stderr", [False, True])
def test_a_plain_line_is_what_rich_writes(
    stderr: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = io.StringIO()
    rich = Console(file=expected, highlight=False, soft_wrap=True, width=40, emoji=False)
    for line in LINES:
        rich.print(line, markup=False, highlight=False)
        rich.print(line, "and more", markup=False, highlight=False, end="")
        rich.out(line, highlight=False)
    console = LazyConsole(stderr=stderr)
    for line in LINES:
        console.print(line, markup=False, highlight=False)
        console.print(line, "and more", markup=False, highlight=False, end="")
        console.out(line, highlight=False)
    captured = capsys.readouterr()
    assert (captured.err if stderr else captured.out) == expected.getvalue()
    assert (captured.out if stderr else captured.err) == ""


def test_markup_makes_the_rich_console_and_it_prints_from_then_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console = LazyConsole(stderr=False)
    console.print("[bold]done[/]")
    assert capsys.readouterr().out == "done\n"
    assert console._console is not None
    console.print("x [b]:smile:[/b]", highlight=False)  # rich's own from now on
    assert capsys.readouterr().out == "x :smile:\n"  # (a name is shown as it is, no emoji)


def test_a_quiet_json_command_imports_no_rich() -> None:
    """`--version` aside, a command that prints plain lines and JSON never loads rich."""
    probe = (
        "import sys\n"
        "from publishkit.cli.consoles import err, out\n"
        "from publishkit.cli import render\n"
        "with render.Bars(False) as bars:\n"
        "    bars('Hashing', 1, 2)\n"
        "render.print_json({'b': 1, 'a': [1]})\n"
        "err.print('warning: x', markup=False, highlight=False)\n"
        "print('rich' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout == '{\n  "a": [\n    1\n  ],\n  "b": 1\n}\n'
    assert done.stderr == "warning: x\nFalse\n"
