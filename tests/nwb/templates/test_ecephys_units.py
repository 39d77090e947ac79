"""The `ecephys-units` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back

METRICS = ("snr", "isi_violations", "firing_rate", "amplitude", "presence_ratio")


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_ecephys_units_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "ecephys-units")
    assert_publishable(cli, workspace)
    for row in _csv(workspace / "sessions.csv"):
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        probes = _csv(workspace / row["probes_file"])
        channels = _csv(workspace / row["electrodes_file"])
        units = _csv(workspace / row["units_file"])
        with (
            np.load(workspace / row["spike_times_file"]) as spikes,
            read_back(output) as nwbfile,
        ):
            assert nwbfile.session_id == row["session_id"]
            assert nwbfile.subject.genotype == row["genotype"]
            assert "ecephys-units 1.0.0" in nwbfile.source_script

            assert sorted(nwbfile.devices) == sorted(p["name"] for p in probes)
            for probe in probes:
                device = nwbfile.devices[probe["name"]]
                assert device.serial_number == probe["serial_number"]
                assert device.model.name == probe["model"]
                assert device.model.manufacturer == probe["manufacturer"]
                assert f"{float(probe['sampling_rate'])!r} Hz" in device.description
                group = nwbfile.electrode_groups[probe["name"]]
                assert group.device is device
                assert group.location == probe["location"]

            electrodes = nwbfile.electrodes
            np.testing.assert_array_equal(electrodes.id[:], [int(c["id"]) for c in channels])
            assert list(electrodes["location"][:]) == [c["location"] for c in channels]
            assert list(electrodes["group_name"][:]) == [c["group_name"] for c in channels]
            for source, stored in [
                *[(axis, axis) for axis in ("x", "y", "z", "imp")],
                ("probe_horizontal_position", "rel_x"),
                ("probe_vertical_position", "rel_y"),
                ("local_index", "local_index"),
            ]:
                np.testing.assert_array_equal(
                    electrodes[stored][:], [float(c[source]) for c in channels]
                )
            assert electrodes["valid_data"][:].tolist() == [
                c["valid_data"] == "true" for c in channels
            ]

            table = nwbfile.units
            rates = [float(p["sampling_rate"]) for p in probes]
            assert table.resolution == 1 / min(rates)
            np.testing.assert_array_equal(table.id[:], [int(u["unit_id"]) for u in units])
            assert list(table["quality"][:]) == [u["quality"] for u in units]
            for metric in METRICS:
                np.testing.assert_array_equal(table[metric][:], [float(u[metric]) for u in units])
            by_id = {int(e): i for i, e in enumerate(electrodes.id[:])}
            peaks = [by_id[int(u["peak_channel_id"])] for u in units]
            np.testing.assert_array_equal(table["electrodes"].data[:], range(1, len(units) + 1))
            np.testing.assert_array_equal(table["electrodes"].target.data[:], peaks)
            for index, unit in enumerate(units):
                np.testing.assert_array_equal(table["spike_times"][index], spikes[unit["unit_id"]])
                group = table["electrode_group"][index]
                assert group.name == channels[peaks[index]]["group_name"]


def test_ecephys_units_bad_row_fails_alone(cli, tmp_path) -> None:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "ecephys-units").exit_code == 0
    first = _csv(workspace / "sessions.csv")[0]
    units_path = workspace / first["units_file"]
    rows = _csv(units_path)
    with open(units_path, "w", newline="") as handle:  # drop the snr column
        writer = csv.DictWriter(handle, [k for k in rows[0] if k != "snr"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    result = cli("convert", "--format", "json", "-w", str(workspace))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["counts"] == {"converted": 1, "unchanged": 0, "failed": 1}
    failed, converted = report["rows"]
    assert failed["row"] == 1 and failed["status"] == "failed"
    assert failed["column"] == "snr"
    assert Path(units_path).name in failed["reason"] and "'snr'" in failed["reason"]
    assert converted["status"] == "converted"
    assert (workspace / converted["output"]).is_file()
