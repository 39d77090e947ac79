"""The `openephys-kilosort` template: its example converts, inspects clean and reads back the
same."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def test_openephys_kilosort_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "openephys-kilosort")
    assert_publishable(cli, workspace)
    for row in _rows(workspace / "sessions.csv"):
        node = next((workspace / row["openephys_dir"]).glob("Record Node *"))
        recording = node / "experiment1" / "recording1"
        stream = json.loads((recording / "structure.oebin").read_text())["continuous"][0]
        folder = recording / "continuous" / stream["folder_name"]
        raw = np.fromfile(folder / "continuous.dat", dtype="<i2").reshape(
            -1, stream["num_channels"]
        )
        date = ElementTree.parse(node / "settings.xml").findtext("INFO/DATE")
        sorting = workspace / row["kilosort_dir"]
        times = np.load(sorting / "spike_times.npy")
        clusters = np.load(sorting / "spike_clusters.npy")
        labels = {
            int(r["cluster_id"]): r["KSLabel"] for r in _rows(sorting / "cluster_KSLabel.tsv", "\t")
        }
        contamination = {
            int(r["cluster_id"]): float(r["ContamPct"])
            for r in _rows(sorting / "cluster_ContamPct.tsv", "\t")
        }
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        with read_back(output) as nwbfile:
            if row["session_start_time"]:
                start = datetime.fromisoformat(row["session_start_time"])
            else:  # settings.xml's <DATE>, in UTC
                start = datetime.strptime(date, "%d %b %Y %H:%M:%S").replace(tzinfo=UTC)
            assert nwbfile.session_start_time == start
            assert "template openephys-kilosort 1.0.0" in nwbfile.source_script

            series = nwbfile.acquisition["ElectricalSeries"]
            np.testing.assert_array_equal(series.data[:], raw)
            assert series.rate == stream["sample_rate"]
            bit_volts = stream["channels"][0]["bit_volts"]
            assert series.conversion == pytest.approx(bit_volts * 1e-6)
            assert list(nwbfile.electrodes["channel_name"][:]) == [
                c["channel_name"] for c in stream["channels"]
            ]
            assert {g.location for g in nwbfile.electrode_groups.values()} == {"CA1"}

            units = nwbfile.units
            assert sorted(units.id[:]) == sorted(labels)
            for index, unit in enumerate(units.id[:]):
                np.testing.assert_allclose(
                    units["spike_times"][index], times[clusters == unit] / stream["sample_rate"]
                )
                assert units["KSLabel"][index] == labels[unit]
                assert units["ContamPct"][index] == contamination[unit]
