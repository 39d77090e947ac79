"""Progress without a terminal: a line per transfer at least every LINE_EVERY seconds, and one
when it ends; nothing for a quick one, nothing for counts of items."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from publishkit.cli import progress_bars
from publishkit.cli.progress_bars import Bars, plain_line

MIB = 1024 * 1024


def console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=False, width=200), buffer


def test_a_long_transfer_prints_lines_with_bytes_rate_and_time_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(progress_bars, "LINE_EVERY", 0.1)
    screen, buffer = console()
    with Bars(True, screen) as bars:
        bars("Hashing", 1, 2)  # a count of files: never a line
        for _ in range(4):
            bars("Uploading", 64 * MIB, 256 * MIB)
            time.sleep(0.12)
    lines = buffer.getvalue().splitlines()
    assert lines, "no progress line without a terminal"
    assert all(line.startswith("Uploading: ") for line in lines), lines
    assert any(" s left" in line and "MiB/s" in line for line in lines), lines
    assert lines[-1].startswith("Uploading: 256.0 MiB of 256.0 MiB (100%)"), lines


def test_a_quick_transfer_prints_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    screen, buffer = console()
    with Bars(True, screen) as bars:
        bars("Uploading", 10, 10)
    assert buffer.getvalue() == ""


def test_plain_line() -> None:
    started = time.monotonic() - 10
    line = plain_line("Uploading", 512 * MIB, 1024 * MIB, started)
    assert line.startswith("Uploading: 512.0 MiB of 1.0 GiB (50%), 51.")
    assert line.endswith(" s left")
    assert plain_line("Hashing", 10, 40, started) == "Hashing: 10 of 40 (25%)"
