"""The LINDI index built straight from h5py reads, through lindi, what lindi's own index reads:
every group's and dataset's attributes and every dataset's values, for the real NWB corpus and
the templates' files (a differential test: lindi's builder is the reference)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from publishkit.release.lindi_build import CONTIGUOUS_CHUNK, _lindi
from publishkit.release.lindi_h5py_index import Unsupported, h5py_index
from tests.corpus import CORPUS, real_nwb_corpus
from tests.reading.conftest import write_session


def _value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "O":
            return ("objects", value.shape, [str(v) for v in value.ravel()])
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, float) and value != value:
        return "nan"
    return value if isinstance(value, (int, float, str, bool)) else repr(value)


def _read(dataset: Any) -> Any:
    if dataset.dtype.names:  # compound: read by field (lindi's way)
        return {field: _value(np.asarray(dataset[field][:])) for field in dataset.dtype.names}
    return _value(dataset[()] if dataset.shape == () else dataset[:])


def read_through_lindi(document: dict[str, Any]) -> dict[str, Any]:
    """Every object's attributes and every dataset's values, as lindi reads them from the
    index (its chunk references read from the local file)."""
    import lindi

    found: dict[str, Any] = {}
    h5 = lindi.LindiH5pyFile.from_reference_file_system(json.loads(json.dumps(document)))

    def walk(group: Any, prefix: str) -> None:
        found[prefix + "@"] = {k: _value(group.attrs[k]) for k in group.attrs}
        for name in group.keys():  # noqa: SIM118 (lindi's groups)
            item = group[name]
            if isinstance(item, lindi.LindiH5pyGroup):
                walk(item, f"{prefix}{name}/")
            else:
                found[f"{prefix}{name}@"] = {k: _value(item.attrs[k]) for k in item.attrs}
                found[prefix + name] = _read(item)

    walk(h5, "")
    return found


def assert_reads_as_lindis(path: Path) -> None:
    with h5py.File(path, "r") as h5:
        ours = h5py_index(h5, str(path), CONTIGUOUS_CHUNK)
    theirs = _lindi(path, str(path), skip_specifications=False)
    assert sorted(ours["refs"]) == sorted(theirs["refs"])
    assert read_through_lindi(ours) == read_through_lindi(theirs)


FAST = (
    "pynwb-back-compat/2.2.0_subject_no_age__reference.nwb",  # object references
    "pynwb-back-compat/2.1.0_imageseries_no_data.nwb",  # an empty 3-d dataset
    "pynwb-back-compat/1.1.2_str_experimenter.nwb",  # string arrays
)


@pytest.mark.parametrize("name", FAST)
def test_corpus_files_read_the_same(name: str) -> None:
    assert_reads_as_lindis(real_nwb_corpus() / name)


def test_a_session_reads_the_same(tmp_path: Path) -> None:
    """Units (ragged spike times, an index), a signal over INLINE_BELOW elements (by reference),
    a chunked compressed dataset with a chunk never written (its fill value, NaN)."""
    path = write_session(tmp_path / "s.nwb", np.arange(3000.0).reshape(1000, 3), units=5)
    with h5py.File(path, "a") as h5:
        values = np.arange(5000, dtype="<i4").reshape(1000, 5)
        h5.create_dataset("acquisition/packed", data=values, chunks=(64, 5), compression="gzip")
        gaps = h5.create_dataset(
            "acquisition/gaps", shape=(3000,), chunks=(1000,), dtype="<f4", fillvalue=np.nan
        )
        gaps[:1000] = 1.5
    assert_reads_as_lindis(path)


@pytest.mark.slow
def test_every_corpus_file_reads_the_same() -> None:
    for path in sorted(real_nwb_corpus().rglob("*.nwb")):
        assert_reads_as_lindis(path)


@pytest.mark.slow
@pytest.mark.parametrize("template", ["ecephys-units", "ophys-dff", "icephys-sweeps"])
def test_template_files_read_the_same(cli, tmp_path: Path, template: str) -> None:
    from tests.nwb.templates.roundtrip import make_and_convert

    workspace = make_and_convert(cli, tmp_path, template)
    for path in sorted((workspace / "nwb").glob("*.nwb")):
        assert_reads_as_lindis(path)


def test_compound_datasets_read_the_same(tmp_path: Path) -> None:
    """Compound rows (suite2p's pixel masks; icephys tables, with a reference field)."""
    path = write_session(tmp_path / "s.nwb", np.ones((10, 2)))
    with h5py.File(path, "a") as h5:
        h5["acquisition/mask"] = np.array(
            [(1, 2, 0.5), (3, 4, 0.25)], dtype=[("x", "<u4"), ("y", "<u4"), ("weight", "<f4")]
        )
        kind = np.dtype([("start", "<i4"), ("series", h5py.special_dtype(ref=h5py.Reference))])
        h5.create_dataset(
            "acquisition/rows", data=np.array([(5, h5["acquisition/signal"].ref)], dtype=kind)
        )
    with h5py.File(path, "r") as h5:
        ours = h5py_index(h5, str(path), CONTIGUOUS_CHUNK)
    theirs = _lindi(path, str(path), skip_specifications=False)

    assert ours["refs"]["acquisition/rows/.zattrs"] == theirs["refs"]["acquisition/rows/.zattrs"]
    read = read_through_lindi(ours)
    assert read == read_through_lindi(theirs)
    assert read["acquisition/mask"]["weight"][2] == np.array([0.5, 0.25], "<f4").tobytes()


def test_large_contiguous_datasets_are_split_as_lindi_splits_them(tmp_path: Path) -> None:
    """A contiguous numeric dataset over the piece size (pynwb's default layout), or one chunk
    without filters: in pieces along its first axis, the last one short, as lindi's builder
    writes them (~5x faster than lindi's builder, which indexed such a file before)."""
    path = write_session(tmp_path / "s.nwb", np.ones((10, 2)))
    with h5py.File(path, "a") as h5:
        h5["acquisition/long"] = np.arange(4099, dtype="<f8")
        h5["acquisition/wide"] = np.arange(3000 * 7, dtype="<i2").reshape(3000, 7)
        h5.create_dataset("acquisition/one", data=np.arange(999.0), chunks=(999,))
    with h5py.File(path, "r") as h5:
        ours = h5py_index(h5, str(path), 1024)
    theirs = _lindi_split(path, 1024)

    assert ours["refs"]["acquisition/long/.zarray"]["chunks"] == [128]
    assert ours["refs"]["acquisition/long/32"][2] == 3 * 8  # the last piece: 3 values
    assert sorted(ours["refs"]) == sorted(theirs["refs"])
    assert read_through_lindi(ours) == read_through_lindi(theirs)


def _lindi_split(path: Path, piece: int) -> dict[str, Any]:
    import lindi

    opts = lindi.LindiH5ZarrStoreOpts(
        num_dataset_chunks_threshold=None, contiguous_dataset_max_chunk_size=piece
    )
    store = lindi.LindiH5ZarrStore.from_file(str(path), url=str(path), opts=opts)
    try:
        return dict(store.to_reference_file_system())
    finally:
        store.close()


def test_what_it_does_not_write_is_indexed_by_lindi(tmp_path: Path) -> None:
    """An external link: lindi's own index."""
    target = write_session(tmp_path / "t.nwb", np.ones((10, 2)))
    path = write_session(tmp_path / "s.nwb", np.ones((10, 2)))
    with h5py.File(path, "a") as h5:
        h5["acquisition/elsewhere"] = h5py.ExternalLink(str(target), "/acquisition/signal")
    with h5py.File(path, "r") as h5, pytest.raises(Unsupported, match="acquisition/elsewhere"):
        h5py_index(h5, str(path), CONTIGUOUS_CHUNK)


def test_the_corpus_is_where_the_tests_look() -> None:
    assert CORPUS.name == "real-nwb"


def test_references_in_attributes_name_what_lindi_names(tmp_path: Path) -> None:
    """An attribute's reference names its target's path as lindi's builder does (found among
    the file's links instead of HDF5's search): a target visited later, one with two hard
    links (HDF5's own choice of name), the root."""
    path = write_session(tmp_path / "s.nwb", np.ones((10, 2)), units=3)
    with h5py.File(path, "a") as h5:
        h5["processing/alias"] = h5["acquisition/signal"]  # a second hard link
        h5["acquisition"].attrs["later"] = h5["units/spike_times"].ref
        h5["acquisition"].attrs["linked"] = h5["acquisition/signal"].ref
        h5["units"].attrs["root"] = h5.ref
    with h5py.File(path, "r") as h5:
        ours = h5py_index(h5, str(path), CONTIGUOUS_CHUNK)["refs"]
    own = _lindi(path, str(path), skip_specifications=False)["refs"]

    def references(refs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in refs.items() if k.endswith(".zattrs") and "_REFERENCE" in str(v)}

    found = references(ours)
    theirs = {k: json.loads(v) if isinstance(v, str) else v for k, v in references(own).items()}
    assert found == theirs
    assert found["acquisition/.zattrs"]["later"]["_REFERENCE"]["path"] == "/units/spike_times"
    assert found["units/.zattrs"]["root"]["_REFERENCE"]["path"] == "/"
