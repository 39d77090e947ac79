"""The `spikeglx-phy` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back


def _rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def _meta(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_spikeglx_phy_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "spikeglx-phy")
    assert_publishable(cli, workspace)
    for row in _rows(workspace / "sessions.csv"):
        folder = workspace / row["spikeglx_dir"]
        meta = _meta(next(folder.glob("*.ap.meta")))
        saved = int(meta["snsApLfSy"].split(",")[0])
        raw = np.fromfile(next(folder.glob("*.ap.bin")), dtype="<i2")
        raw = raw.reshape(-1, int(meta["nSavedChans"]))[:, :saved]
        gain = float(meta["~imroTbl"].split(")(")[1].split()[3])  # the first channel's AP gain
        rate = float(meta["imSampRate"])
        phy = workspace / row["phy_dir"]
        times = np.load(phy / "spike_times.npy")
        clusters = np.load(phy / "spike_clusters.npy")
        labels = {int(r["cluster_id"]): r["group"] for r in _rows(phy / "cluster_group.tsv", "\t")}
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        with read_back(output) as nwbfile:
            assert nwbfile.session_id == row["session_id"]
            assert nwbfile.subject.sex == row["sex"] and nwbfile.subject.age == row["age"]
            if row["session_start_time"]:
                start = datetime.fromisoformat(row["session_start_time"])
            else:  # the recording's fileCreateTime, in UTC
                start = datetime.fromisoformat(meta["fileCreateTime"]).replace(tzinfo=UTC)
            assert nwbfile.session_start_time == start
            assert "template spikeglx-phy 1.0.0" in nwbfile.source_script
            assert "neuroconv " in nwbfile.source_script

            series = nwbfile.acquisition["ElectricalSeriesAP"]
            np.testing.assert_array_equal(series.data[:], raw)
            assert series.rate == rate
            volts_per_step = float(meta["imAiRangeMax"]) / int(meta["imMaxInt"]) / gain
            assert series.conversion == pytest.approx(volts_per_step)
            assert len(series.electrodes) == saved == len(nwbfile.electrodes)
            group = nwbfile.electrode_groups["NeuropixelsImec0"]
            assert group.location == "VISp"  # the template's metadata, over NeuroConv's
            assert meta["imDatPrb_sn"] in {d.serial_number for d in nwbfile.devices.values()}

            units = nwbfile.units
            assert sorted(units.id[:]) == sorted(labels)
            for index, unit in enumerate(units.id[:]):
                expected = times[clusters == unit] / rate
                np.testing.assert_allclose(units["spike_times"][index], expected)
                assert units["quality"][index] == labels[unit]
