"""Streaming an NWB file through its LINDI index: a file read after another with the same
cached specifications (each file of one release that one pynwb wrote) reuses the namespaces
loaded for it; other specifications are loaded for their own file."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hdmf.backends.hdf5 import HDF5IO

from publishkit.reading import nwb_stream
from publishkit.release.lindi_build import build_index
from tests.reading.conftest import write_session


def test_namespaces_are_loaded_once_per_specifications(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_session(tmp_path / "a.nwb", np.full((20, 2), 1.0), units=2)
    second = write_session(tmp_path / "b.nwb", np.full((30, 3), 2.0), units=4)
    other = tmp_path / "other.nwb"  # the same but for one character of its namespace
    shutil.copy(second, other)
    with h5py.File(other, "r+") as h5:
        group = h5["specifications/core"][next(iter(h5["specifications/core"]))]
        text = group["namespace"][()].decode()
        del group["namespace"]
        group.create_dataset(
            "namespace", data=text.replace("NWB", "NwB", 1), dtype=h5py.string_dtype()
        )
    loads: list[Any] = []
    real = HDF5IO.load_namespaces.__func__  # type: ignore[attr-defined]

    def counted(cls: Any, *args: Any, **kwargs: Any) -> Any:  # a spy: hdmf's own loading
        loads.append(args)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(HDF5IO, "load_namespaces", classmethod(counted))
    monkeypatch.setattr(nwb_stream, "_TYPE_MAPS", {}, raising=False)

    def read(path: Path) -> tuple[int, tuple[int, ...], float]:
        with nwb_stream.stream_nwb(str(path), None, index=build_index(path, str(path))) as nwb:
            data = nwb.acquisition["signal"].data
            return len(nwb.units), data.shape, float(data[0, 0])

    assert read(first) == (2, (20, 2), 1.0)
    assert read(second) == (4, (30, 3), 2.0)
    assert len(loads) == 1  # the second file: the namespaces loaded for the first
    assert read(other) == (4, (30, 3), 2.0)
    assert len(loads) == 2 and len(nwb_stream._TYPE_MAPS) == 2
