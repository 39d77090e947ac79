"""A release builds each new NWB file's LINDI index in the read that summarizes it (one open of
the file for both), the index the same as one built on its own; /specifications' refs, the same
in each file pynwb wrote, built once and reused only for the same specifications."""

from __future__ import annotations

import base64
import json
import shutil
import zlib
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from msgspec.structs import replace

from publishkit.release import lindi_build
from publishkit.release.lindi_build import BUILD, CONTIGUOUS_CHUNK, PLACEHOLDER, build_template
from publishkit.release.lindi_h5py_index import h5py_index
from publishkit.release.lindi_indexes import built_while_summarizing
from publishkit.workspace.config import load_settings
from publishkit.workspace.digests import digest_file
from publishkit.workspace.inventory import ReleaseFile
from publishkit.workspace.nwb_summaries import SummaryCache
from publishkit.workspace.state import StateStore
from tests.reading.conftest import write_session


def _own_index(path: Path) -> dict[str, Any]:
    """The file's index built alone, all of it (no shared specifications)."""
    from lindi.LindiH5pyFile.LindiReferenceFileSystemStore import (
        LindiReferenceFileSystemStore,
    )

    with h5py.File(path, "r") as h5:
        document = h5py_index(h5, PLACEHOLDER, CONTIGUOUS_CHUNK)
    document["refs"] = lindi_build.compressed(document["refs"])
    LindiReferenceFileSystemStore.use_templates_in_rfs(document)
    return document


def test_each_new_file_is_summarized_and_indexed_in_one_open(
    workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = workspace.root / "data"
    paths = [
        write_session(data / "a.nwb", np.ones((100, 3)), units=2),
        write_session(data / "b.nwb", np.zeros((50, 4)), units=7),
    ]
    settings = replace(load_settings(workspace.root), lindi_index_min_mb=0)
    files = [ReleaseFile("data", p.stem, f"data/{p.name}", p) for p in paths]
    hashes = {item.relpath: digest_file(item.path).blake2b for item in files}
    opened: list[str] = []
    real = h5py.File

    class Counted(real):  # type: ignore[misc, valid-type]  # a spy: h5py's own File
        def __init__(self, name: Any, *args: Any, **kwargs: Any) -> None:
            opened.append(Path(name).name)
            super().__init__(name, *args, **kwargs)

    monkeypatch.setattr(h5py, "File", Counted)
    also = built_while_summarizing(settings, files, hashes)
    with StateStore.in_dir(settings.state_dir) as store:
        found = SummaryCache(store).get_all(
            {item.path: hashes[item.relpath] for item in files}, also=also
        )
    monkeypatch.setattr(h5py, "File", real)

    assert sorted(opened) == ["a.nwb", "b.nwb"]  # once each, for the summary and the index
    assert all(found.values())
    for item in files:
        cached = settings.state_dir / "lindi" / f"{hashes[item.relpath][:32]}.b{BUILD}.lindi.json"
        alone = tmp_path / f"{item.path.name}.alone.json"
        assert build_template((alone, item.path)) is None
        assert cached.read_bytes() == alone.read_bytes()  # the index it would build alone
    # built already: nothing more to build in that read
    assert built_while_summarizing(settings, files, hashes) == {}


def test_shared_specifications_make_the_index_the_file_has_alone(tmp_path: Path) -> None:
    first = write_session(tmp_path / "a.nwb", np.ones((100, 3)), units=2)
    second = write_session(tmp_path / "b.nwb", np.zeros((50, 4)), units=7)
    other = tmp_path / "other.nwb"  # the same specifications but for one character
    shutil.copy(second, other)
    with h5py.File(other, "r+") as h5:
        name = "specifications/core"
        version = next(iter(h5[name]))
        namespace = h5[f"{name}/{version}/namespace"]
        text = namespace[()].decode()
        del h5[f"{name}/{version}/namespace"]
        h5[f"{name}/{version}"].create_dataset(
            "namespace", data=text.replace("NWB", "NwB", 1), dtype=h5py.string_dtype()
        )
    lindi_build._SHARED.clear()
    with h5py.File(first, "r") as h5:
        lindi_build._from_open(h5, PLACEHOLDER)  # keeps the specifications' refs
    assert len(lindi_build._SHARED) == 1

    for path in (second, other):
        with h5py.File(path, "r") as h5:
            built = lindi_build._from_open(h5, PLACEHOLDER)
        assert json.dumps(built, sort_keys=True) == json.dumps(_own_index(path), sort_keys=True)
    assert len(lindi_build._SHARED) == 2  # the changed specifications: their own refs
    with h5py.File(other, "r") as h5:
        changed = lindi_build._from_open(h5, PLACEHOLDER)["refs"]
    namespace = changed[f"specifications/core/{version}/namespace/0"]
    if namespace.startswith("base64:"):  # compressed when over lindi_build.COMPRESS_FROM
        namespace = zlib.decompress(base64.b64decode(namespace[7:])).decode()
    assert "NwB" in namespace
