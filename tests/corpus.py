"""The corpus of real NWB files beside the repository (`../shared/corpus/real-nwb`), which the
parity tests read: skipped where a clone has none, a failure under CI (CI=true), which must."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "real-nwb"


def real_nwb_corpus(folder: Path = CORPUS) -> Path:
    """`folder` when it holds NWB files; else the test is skipped, or fails when CI is true."""
    if folder.is_dir() and any(folder.rglob("*.nwb")):
        return folder
    message = f"{folder} has no NWB files: this clone has no ../shared corpus of real NWB files"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}, and CI must run the tests that read it")
    pytest.skip(message)
