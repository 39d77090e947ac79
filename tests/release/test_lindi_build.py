"""LINDI indexes built from local NWB files by lindi's builder (files the h5py builder does not
index): /specifications indexed once per content."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from publishkit.release.lindi_build import PLACEHOLDER, _with_lindi
from tests.reading.conftest import write_session


def test_an_index_with_shared_specifications_is_lindis_own(tmp_path: Path) -> None:
    first = write_session(tmp_path / "a.nwb", np.ones((100, 3)), units=2)
    second = write_session(tmp_path / "b.nwb", np.zeros((50, 4)), units=7)
    cache = tmp_path / "cache"

    _with_lindi(first, PLACEHOLDER, cache)  # builds and keeps the specifications' index
    shared = _with_lindi(second, PLACEHOLDER, cache)

    assert len(list(cache.glob("specifications-*.json"))) == 1
    assert json.dumps(shared, sort_keys=True) == json.dumps(
        _with_lindi(second, PLACEHOLDER, None), sort_keys=True
    )
    assert any(key.startswith("specifications/") for key in shared["refs"])
