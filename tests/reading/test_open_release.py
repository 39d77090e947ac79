"""`publishkit.open_release`: a release read where it lies, each file at its pinned version."""

from __future__ import annotations

import json

import numpy as np
import pytest

import publishkit
from publishkit.errors import CheckFailed
from tests.reading.conftest import NwbReleases

pytestmark = pytest.mark.slow  # each test cuts two releases of real NWB files (~5 s)


@pytest.mark.parametrize("index", [True, False], ids=["lindi", "remfile"])
def test_each_version_reads_its_own_bytes(nwb_releases: NwbReleases, index: bool) -> None:
    ws = nwb_releases.workspace
    for version in ("0.1.0", "0.2.0"):
        release = publishkit.open_release(ws.manifest_path(version), read=nwb_releases.read)
        assert release.version == version
        with release.open_nwb("101", index=index) as nwbfile:
            data = nwbfile.acquisition["signal"].data[:1000, :5]
        assert np.array_equal(data, nwb_releases.signals[(version, "101")][:1000, :5])


def test_files_tables_and_summaries(nwb_releases: NwbReleases) -> None:
    release = publishkit.open_release(
        nwb_releases.workspace.manifest_path("0.2.0"), read=nwb_releases.read
    )
    entries = json.loads(nwb_releases.workspace.manifest_path("0.2.0").read_text())
    by_id = {f.id: f for f in release.files}
    assert set(by_id) == {"sessions", "101", "102"}
    s101 = by_id["101"]
    entry = entries["data_files"]["101"]
    assert (s101.path, s101.size, s101.hashes["blake2b"]) == (
        "data/s101.nwb",
        entry["size"],
        entry["file_hash"],
    )
    assert s101.url == f"{entry['url']}?versionId={entry['version_id']}"
    assert s101.index is not None and s101.index["path"] == "lindi/data/s101.nwb.lindi.json"
    table = release.table("sessions")
    assert list(table["file_id"]) == ["101", "102"]
    units = {file_id: s["objects"]["units"]["rows"] for file_id, s in release.summaries().items()}
    assert units == {"101": 5, "102": 400}


def test_an_index_whose_hash_differs_from_the_manifest_is_refused(
    nwb_releases: NwbReleases, tmp_path
) -> None:
    document = json.loads(nwb_releases.workspace.manifest_path("0.1.0").read_text())
    document["data_files"]["101"]["lindi_index"]["file_hash"] = "0" * 128
    edited = tmp_path / "demo-project_project_manifest_v0.1.0.json"
    edited.write_text(json.dumps(document))
    release = publishkit.open_release(edited, read=nwb_releases.read)

    with pytest.raises(CheckFailed) as refused:
        release.open_nwb("101")

    message = str(refused.value)
    assert "\n" not in message and "LINDI index" in message and "manifest says 0000" in message
