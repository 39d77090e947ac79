"""The `icephys-sweeps` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back

STIMULUS_TYPES = {
    "current_clamp": ("CurrentClampStimulusSeries", "CurrentClampSeries", 1e-12, 1e-3),
    "voltage_clamp": ("VoltageClampStimulusSeries", "VoltageClampSeries", 1e-3, 1e-12),
}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_icephys_sweeps_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "icephys-sweeps")
    assert_publishable(cli, workspace)
    for row in _rows(workspace / "sessions.csv"):
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        sweeps = _rows(workspace / row["sweep_table"])
        modes = {s["clamp_mode"] for s in sweeps}
        assert modes == {"current_clamp", "voltage_clamp"}
        with np.load(workspace / row["sweep_arrays"]) as archive:
            arrays = {key: archive[key] for key in archive.files}
        with read_back(output) as nwbfile:
            assert nwbfile.session_id == row["session_id"]
            assert nwbfile.subject.species == "Mus musculus"
            assert "icephys-sweeps 1.0.0" in nwbfile.source_script
            electrode = nwbfile.icephys_electrodes["electrode_0"]
            assert electrode.cell_id == row["cell_id"]
            assert electrode.location == row["location"]
            assert electrode.seal == row["seal"]
            assert electrode.device.model.manufacturer == "Molecular Devices"

            for sweep in sweeps:
                number = int(sweep["sweep_number"])
                classes = STIMULUS_TYPES[sweep["clamp_mode"]]
                stimulus = nwbfile.stimulus[f"sweep_{number:03d}_stimulus"]
                response = nwbfile.acquisition[f"sweep_{number:03d}_response"]
                for series, kind, source, conversion in (
                    (stimulus, classes[0], sweep["stimulus"], classes[2]),
                    (response, classes[1], sweep["response"], classes[3]),
                ):
                    assert type(series).__name__ == kind
                    assert series.data.dtype == np.float32
                    np.testing.assert_array_equal(series.data[:], arrays[source])
                    assert series.conversion == conversion
                    assert series.sweep_number == number
                    assert series.rate == float(sweep["rate"])
                    assert series.starting_time == float(sweep["starting_time"])
                    assert series.stimulus_description == sweep["stimulus_description"]
                    assert series.electrode is electrode
                assert response.gain == float(sweep["gain"])
                if sweep["clamp_mode"] == "current_clamp":
                    assert response.bridge_balance == float(sweep["bridge_balance"])
                    assert response.bias_current == float(sweep["bias_current"])

            recordings = nwbfile.intracellular_recordings
            assert len(recordings) == len(sweeps)
            responses = recordings.category_tables["responses"]["response"]
            stimuli = recordings.category_tables["stimuli"]["stimulus"]
            for index, sweep in enumerate(sweeps):
                assert responses.get(index).timeseries.sweep_number == int(sweep["sweep_number"])
                assert stimuli.get(index).timeseries.sweep_number == int(sweep["sweep_number"])
            assert list(recordings["stimulus_name"].data[:]) == [s["stimulus_name"] for s in sweeps]
            np.testing.assert_array_equal(
                recordings["stimulus_scale_factor"].data[:],
                [int(s["stimulus_scale_factor"]) for s in sweeps],
            )
            np.testing.assert_array_equal(
                recordings["leak_pa"].data[:],
                [float(s["leak_pa"]) if s["leak_pa"] else np.nan for s in sweeps],
            )

            sequential = nwbfile.icephys_sequential_recordings
            names = list(dict.fromkeys(s["stimulus_name"] for s in sweeps))
            assert list(sequential["stimulus_type"].data[:]) == names
            assert len(nwbfile.icephys_simultaneous_recordings) == len(sweeps)


def test_icephys_sweeps_missing_column_fails_only_that_row(cli, tmp_path) -> None:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "icephys-sweeps").exit_code == 0
    rows = _rows(workspace / "sessions.csv")
    broken = workspace / rows[1]["sweep_table"]
    sweeps = _rows(broken)
    with open(broken, "w", newline="") as handle:
        writer = csv.DictWriter(handle, [k for k in sweeps[0] if k != "clamp_mode"])
        writer.writeheader()
        writer.writerows({k: v for k, v in s.items() if k != "clamp_mode"} for s in sweeps)

    result = cli("convert", "--format", "json", "-w", str(workspace))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["counts"] == {"converted": 1, "unchanged": 0, "failed": 1}
    failed = [r for r in report["rows"] if r["status"] == "failed"]
    assert [r["row"] for r in failed] == [2]
    assert failed[0]["column"] == "clamp_mode"
    assert broken.name in failed[0]["reason"] and "clamp_mode" in failed[0]["reason"]
    assert (
        workspace / "nwb" / f"sub-{rows[0]['subject_id']}_ses-{rows[0]['session_id']}.nwb"
    ).is_file()
