"""Each NWB file's summary: read with h5py (no data), the same as inspection's read gives,
cached by content."""

from __future__ import annotations

from pathlib import Path

import pytest

from publishkit.formats.summaries import decode
from publishkit.workspace import nwb_summaries
from publishkit.workspace.digests import digest_file
from publishkit.workspace.nwb_summaries import SummaryCache, summarize_path
from publishkit.workspace.state import NwbSummaries, StateStore
from tests.corpus import real_nwb_corpus
from tests.nwbfactory import write_nwb


def test_a_summary_holds_fields_and_objects(tmp_path: Path) -> None:
    path = write_nwb(tmp_path / "s.nwb", age="P91D", trials=8, identifier="id-1")
    encoded = summarize_path(path)
    assert encoded is not None
    summary = decode(encoded, str(path))
    assert summary["session"] == {
        "identifier": "id-1",
        "session_description": "A session recorded for publishkit's tests.",
        "session_id": "ses-1",
        "session_start_time": "2024-01-02T03:04:05+00:00",
    }
    assert summary["subject"]["age"] == "P91D" and summary["subject"]["sex"] == "F"
    assert summary["objects"]["acquisition/running_speed"] == {
        "type": "TimeSeries",
        "shape": [100],
        "dtype": "float64",
        "unit": "cm/s",
        "rate": 60.0,
    }
    trials = summary["objects"]["intervals/trials"]
    assert trials["rows"] == 8 and trials["columns"] == ["start_time", "stop_time"]
    (tmp_path / "fake.nwb").write_bytes(b"session 101 " * 10)
    assert summarize_path(tmp_path / "fake.nwb") is None  # not HDF5: no summary, no error


def test_inspection_reads_the_same_summary_as_h5py_alone() -> None:
    from publishkit.inspection.worker import inspect_path

    files = sorted(real_nwb_corpus().rglob("*.nwb"))
    for path in files[1:2] + files[-6:]:  # a dandiset's file, and pynwb's back-compat files
        result = inspect_path(str(path), None, False, None)
        assert result["summary"] is not None
        assert result["summary"] == summarize_path(path), path


def test_summaries_are_read_once_per_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = write_nwb(tmp_path / "a.nwb", identifier="same")
    (tmp_path / "b.nwb").write_bytes(one.read_bytes())  # the same content
    (tmp_path / "c.nwb").write_bytes(b"not NWB")
    files = {p: digest_file(p).blake2b for p in sorted(tmp_path.glob("*.nwb"))}
    read: list[Path] = []
    real = nwb_summaries.summarize_path
    monkeypatch.setattr(nwb_summaries, "summarize_path", lambda p: read.append(p) or real(p))
    with StateStore.in_dir(tmp_path / "state") as store:
        first = SummaryCache(store).get_all(files)
        again = SummaryCache(store).get_all(files)
    assert read == [tmp_path / "a.nwb", tmp_path / "c.nwb"]  # once per content, then recorded
    assert first == again
    assert first[files[tmp_path / "c.nwb"]] is None


def test_publishkit_inspect_records_the_summary_of_its_read(cli, tmp_path: Path) -> None:
    path = write_nwb(tmp_path / "files" / "s.nwb")
    assert cli("inspect", str(path)).exit_code == 0
    cache = tmp_path / "xdg-cache" / "publishkit"
    with StateStore.in_dir(cache) as store:
        recorded = NwbSummaries(store, 1).of([digest_file(path).blake2b])
    assert list(recorded.values()) == [summarize_path(path)]


@pytest.fixture(autouse=True)
def _user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
