"""Shared steps of the per-template round-trip tests: init, convert, inspect, read back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pynwb import NWBHDF5IO

BLOCKING = {"CRITICAL", "PYNWB_VALIDATION", "ERROR"}


def make_and_convert(cli: Callable[..., Any], tmp_path: Path, template: str) -> Path:
    """`publishkit init` + `publishkit convert`; returns the workspace."""
    workspace = tmp_path / f"{template}-study"
    made = cli("init", str(workspace), "--template", template)
    assert made.exit_code == 0, made.stderr
    converted = cli("convert", "--format", "json", "-w", str(workspace))
    assert converted.exit_code == 0, converted.stdout + converted.stderr
    report = json.loads(converted.stdout)
    assert report["counts"]["failed"] == 0
    assert report["counts"]["converted"] >= 2
    return workspace


def assert_publishable(cli: Callable[..., Any], workspace: Path) -> list[Path]:
    """nwbinspector (dandi config) finds nothing CRITICAL, PYNWB_VALIDATION or ERROR, and DANDI
    has what `dandi organize` needs; returns the NWB files."""
    files = sorted((workspace / "nwb").glob("*.nwb"))
    assert files
    result = cli("inspect", *map(str, files), "--config", "dandi", "--format", "json")
    report = json.loads(result.stdout)
    blocking = [m for m in report["messages"] if m["importance"] in BLOCKING]
    assert blocking == [], blocking
    assert result.exit_code == 0
    return files


@contextmanager
def read_back(path: Path) -> Iterator[Any]:
    with NWBHDF5IO(str(path), "r") as io:
        nwbfile = io.read()
        assert nwbfile.subject.subject_id
        assert nwbfile.session_id
        assert "template" in nwbfile.source_script and "publishkit" in nwbfile.source_script
        yield nwbfile
