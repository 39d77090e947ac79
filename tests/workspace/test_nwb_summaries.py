"""Each NWB file's summary: read with h5py (no data), the same as inspection's read gives,
cached by content."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from pynwb import NWBHDF5IO, TimeSeries

from publishkit.formats.summaries import SUBJECT_FIELDS, decode
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


def read_with_h5py(path: Path) -> dict[str, Any]:
    """What a summary must say of the file at `path`, read here with h5py alone: the session
    fields, the subject's scalar fields, each neurodata object's type, data shape and rows."""

    def value(node: h5py.Dataset) -> Any:
        found = node[()]
        found = found.item() if isinstance(found, np.generic) else found
        return found.decode() if isinstance(found, bytes) else found

    with h5py.File(path, "r") as h5:
        session = {n: value(h5[n]) for n in ("identifier", "session_description") if n in h5}
        session["session_start_time"] = value(h5["session_start_time"])
        if "general/session_id" in h5:
            session["session_id"] = value(h5["general/session_id"])
        subject = {
            name: value(node)
            for name, node in h5.get("general/subject", {}).items()
            if isinstance(node, h5py.Dataset) and node.shape == () and name in SUBJECT_FIELDS
        }
        objects: dict[str, dict[str, Any]] = {}

        def visit(name: str, node: Any) -> None:
            inside_general = name.startswith(("general/", "specifications"))
            if inside_general and not name.startswith(
                ("general/extracellular_ephys/electrodes", "general/intracellular_ephys")
            ):
                return
            if not isinstance(node, h5py.Group) or "neurodata_type" not in node.attrs:
                return
            kind = node.attrs["neurodata_type"]
            found: dict[str, Any] = {"type": kind.decode() if isinstance(kind, bytes) else kind}
            if isinstance(node.get("data"), h5py.Dataset):
                found["shape"] = list(node["data"].shape or ())
            if "colnames" in node.attrs and isinstance(node.get("id"), h5py.Dataset):
                found["rows"] = len(node["id"])
            objects[name] = found

        h5.visititems(visit)
    return {"session": session, "subject": subject, "objects": objects}


def said(summary: dict[str, Any]) -> dict[str, Any]:
    """The parts of a summary `read_with_h5py` reads."""
    return {
        "session": summary.get("session", {}),
        "subject": summary.get("subject", {}),
        "objects": {
            path: {k: v for k, v in obj.items() if k in ("type", "shape", "rows")}
            for path, obj in summary.get("objects", {}).items()
        },
    }


@pytest.mark.slow
def test_summaries_say_what_h5py_reads_in_the_file(tmp_path: Path) -> None:
    """Inspection's summary (from its open file) and h5py's alone, each against the file's
    fields, subject and objects read here independently."""
    from publishkit.inspection.worker import inspect_path

    made = write_nwb(tmp_path / "made.nwb", age="P91D", sex="M", trials=5, samples=37)
    with NWBHDF5IO(str(made), "a") as io:  # and a 2-D object: its shape's order shows
        nwbfile = io.read()
        nwbfile.add_acquisition(
            TimeSeries(name="lfp", data=np.zeros((20, 3)), unit="V", rate=100.0)
        )
        io.write(nwbfile)
    files = sorted(real_nwb_corpus().rglob("*.nwb"))
    objects = subjects = 0
    for path in [made, *files[1:2], *files[-6:]]:  # a dandiset's file, pynwb's back-compat files
        expected = read_with_h5py(path)
        objects, subjects = objects + len(expected["objects"]), subjects + len(expected["subject"])
        result = inspect_path(str(path), None, False, None)
        assert result["summary"] is not None, path
        assert said(decode(result["summary"], str(path))) == expected, path
        by_h5py = summarize_path(path)
        assert by_h5py is not None
        assert said(decode(by_h5py, str(path))) == expected, path
    assert objects > 10 and subjects > 10  # the comparison is not of empty summaries
    made_objects = read_with_h5py(made)["objects"]
    assert made_objects["acquisition/running_speed"]["shape"] == [37]
    assert made_objects["intervals/trials"]["rows"] == 5
    assert made_objects["acquisition/lfp"]["shape"] == [20, 3]
    assert read_with_h5py(made)["subject"]["age"] == "P91D"


def test_summaries_are_read_once_per_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = write_nwb(tmp_path / "a.nwb", identifier="same")
    (tmp_path / "b.nwb").write_bytes(one.read_bytes())  # the same content
    (tmp_path / "c.nwb").write_bytes(b"not NWB")
    files = {p: digest_file(p).blake2b for p in sorted(tmp_path.glob("*.nwb"))}
    read: list[Path] = []
    real = nwb_summaries.summarize_path
    monkeypatch.setattr(
        nwb_summaries, "summarize_path", lambda p, also=None: read.append(p) or real(p, also)
    )
    with StateStore.in_dir(tmp_path / "state") as store:
        first = SummaryCache(store).get_all(files)
        again = SummaryCache(store).get_all(files)
    assert read == [tmp_path / "a.nwb", tmp_path / "c.nwb"]  # once per content, then recorded
    assert first == again
    assert first[files[tmp_path / "c.nwb"]] is None


def test_why_a_file_is_not_nwb_is_judged_once_per_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reason a file cannot be read as NWB is recorded by content: asked again, it is not
    judged again; new content is; a file that cannot be read at all is not recorded."""
    plain, empty = tmp_path / "plain.nwb", tmp_path / "empty.nwb"
    plain.write_bytes(b"not NWB")
    empty.write_bytes(b"")
    files = {p: digest_file(p).blake2b for p in (plain, empty)}
    files[tmp_path / "gone.nwb"] = "0" * 128
    judged: list[Path] = []
    real = nwb_summaries.why_unreadable
    monkeypatch.setattr(nwb_summaries, "why_unreadable", lambda p: judged.append(p) or real(p))
    with StateStore.in_dir(tmp_path / "state") as store:
        first = SummaryCache(store).why_unreadable(files)
        assert sorted(judged) == sorted(files)
        judged.clear()
        assert SummaryCache(store).why_unreadable(files) == first
        assert judged == [tmp_path / "gone.nwb"]  # not on record: not its content's doing
        with h5py.File(plain, "w") as h5:  # new content, judged again: HDF5, not NWB
            h5["x"] = [1]
        judged.clear()
        again = SummaryCache(store).why_unreadable({plain: digest_file(plain).blake2b})
        assert again == {plain: "an HDF5 file but not NWB (no neurodata_type)"}
        assert judged == [plain]
    assert first[plain] == "not an HDF5 file" and first[empty] == "an empty file"
    assert first[tmp_path / "gone.nwb"].startswith("cannot be read (")


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


def _bytes_read() -> int:
    """What this process has read by read(2) and pread(2) so far (Linux's rchar)."""
    text = Path("/proc/self/io").read_text()
    return int(next(line for line in text.splitlines() if line.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="counts reads by /proc (Linux)")
def test_the_hdf5_signature_is_looked_for_in_8_bytes_at_each_place(tmp_path: Path) -> None:
    """A release warns of every listed .nwb that is not HDF5, looking for the signature at 0,
    512, 1024, ... (a user block): 8 bytes each, not a buffer of 8 kB each (~30 MB read for 300
    files of 2 MB); found at each place it may be, and nowhere else."""
    from publishkit.workspace.nwb_summaries import HDF5_SIGNATURE, is_hdf5

    size = 2 * 1024 * 1024
    for at in (0, 512, 4096, size // 2):
        path = tmp_path / f"at-{at}.nwb"
        path.write_bytes(bytes(at) + HDF5_SIGNATURE + bytes(size - at - 8))
        assert is_hdf5(path), at
    for at in (1, 600, size - 4):
        path = tmp_path / f"not-at-{at}.nwb"
        path.write_bytes((bytes(at) + HDF5_SIGNATURE + bytes(size))[:size])
        assert not is_hdf5(path), at
    (tmp_path / "short.nwb").write_bytes(HDF5_SIGNATURE[:7])
    assert not is_hdf5(tmp_path / "short.nwb")
    assert not is_hdf5(tmp_path / "absent.nwb")
    plain = []
    for n in range(20):
        plain.append(tmp_path / f"plain-{n}.nwb")
        plain[-1].write_bytes(os.urandom(size))
    before = _bytes_read()
    assert not any(is_hdf5(path) for path in plain)
    assert _bytes_read() - before < 20 * 13 * 8 * 4  # 13 places a file, 8 bytes each
