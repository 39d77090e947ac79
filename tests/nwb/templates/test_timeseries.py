"""The `timeseries` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv

import numpy as np

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back


def test_timeseries_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "timeseries")
    assert_publishable(cli, workspace)
    with open(workspace / "sessions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        with open(workspace / row["signals_file"], newline="") as handle:
            signals = list(csv.DictReader(handle))
        accelerometer = np.load(workspace / row["accelerometer_file"])
        with read_back(output) as nwbfile:
            assert nwbfile.session_id == row["session_id"]
            assert nwbfile.subject.age == row["age"]
            assert "timeseries 1.0.0" in nwbfile.source_script
            temperature = nwbfile.acquisition["temperature"]
            np.testing.assert_allclose(
                temperature.data[:], [float(s["temperature"]) for s in signals]
            )
            np.testing.assert_allclose(
                temperature.timestamps[:], [float(s["time"]) for s in signals]
            )
            assert temperature.unit == "degrees Celsius"
            series = nwbfile.processing["behavior"]["accelerometer"]
            np.testing.assert_array_equal(series.data[:], accelerometer)
            assert series.rate == 100.0
