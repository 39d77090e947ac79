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


def test_an_index_holds_the_specifications_compressed_and_reads_as_lindis_own(
    tmp_path: Path,
) -> None:
    """pynwb's cached specifications (JSON text, most of a small file's index) are held
    zlib-compressed: the index is under half the file's size, and lindi reads from it every
    attribute and value it reads from its own index of the file."""
    from publishkit.release.lindi_build import _lindi, build_index
    from tests.release.test_lindi_h5py_index import read_through_lindi

    path = write_session(tmp_path / "a.nwb", np.ones((100, 3)), units=20)
    built = build_index(path, str(path))
    own = _lindi(path, str(path), skip_specifications=False)

    size = len(json.dumps(built, separators=(",", ":")))
    assert size < path.stat().st_size / 2 < len(json.dumps(own, separators=(",", ":")))
    core = [k for k in built["refs"] if k.startswith("specifications/core/") and "/nwb." in k]
    arrays = [k for k in core if k.endswith("/.zarray")]
    assert arrays and all(built["refs"][k]["compressor"]["id"] == "zlib" for k in arrays)
    assert read_through_lindi(built) == read_through_lindi(own)
