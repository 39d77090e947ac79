"""Each NeuroConv template's example is what its make_example.py writes: the committed files are
reproducible from the formats' documentation, byte for byte, and small."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from publishkit.nwb.templates import builtin_dir

TEMPLATES = ("spikeglx-phy", "openephys-kilosort", "intan", "suite2p", "deeplabcut")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("template", TEMPLATES)
def test_the_example_is_what_its_script_writes(template: str, tmp_path: Path) -> None:
    folder = builtin_dir() / template
    done = subprocess.run(
        [sys.executable, str(folder / "make_example.py"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    committed = _files(folder / "example")
    assert _files(tmp_path) == committed
    assert sum(map(len, committed.values())) < 200_000  # KBs, not MBs
