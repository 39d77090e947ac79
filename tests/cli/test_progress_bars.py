"""Progress that fits the size: a transfer's plain lines (no terminal) say its rate and the time
left; a count of files says neither."""

from __future__ import annotations

import time

import pytest

from publishkit.cli import render
from publishkit.cli.progress_bars import size_text

MIB = 1024 * 1024


def test_a_long_transfer_prints_lines_with_bytes_rate_and_time_left(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with render.Bars(True, every=0.1) as bars:
        bars("Hashing", 1, 2)
        for _ in range(5):
            bars("Uploading", 32 * MIB, 256 * MIB)
            time.sleep(0.12)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    uploading = [line for line in lines if line.startswith("Uploading ")]
    assert uploading, lines
    assert any("MiB/s" in line and " s left" in line for line in uploading), uploading
    assert all("/s" not in line for line in lines if line.startswith("Hashing")), lines


@pytest.mark.parametrize(
    ("count", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * MIB, "5.0 MiB"), (3 * 2**30, "3.0 GiB")],
)
def test_sizes_are_said_in_binary_units(count: int, text: str) -> None:
    assert size_text(count) == text
