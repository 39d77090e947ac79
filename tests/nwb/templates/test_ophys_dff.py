"""The `ophys-dff` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back

ROI_COLUMNS = ("cell_specimen_id", "x", "y", "width", "height")


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_ophys_dff_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "ophys-dff")
    assert_publishable(cli, workspace)
    for row in _rows(workspace / "sessions.csv"):
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        masks = np.load(workspace / row["masks_file"])
        dff = np.load(workspace / row["dff_file"])
        rois = _rows(workspace / row["rois_file"])
        with np.load(workspace / row["images_file"]) as images:
            summary = {name: images[name] for name in images.files}
        with read_back(output) as nwbfile:
            assert nwbfile.session_id == row["session_id"]
            assert nwbfile.subject.genotype == row["genotype"]
            assert "ophys-dff 1.0.0" in nwbfile.source_script

            plane = nwbfile.imaging_planes["imaging_plane"]
            assert plane.indicator == "GCaMP6f"
            assert plane.excitation_lambda == 910.0
            assert plane.imaging_rate == float(row["imaging_rate"])
            assert plane.location == row["targeted_structure"]
            assert plane.device.name == "MESO.1"
            assert plane.device.model.manufacturer == "Thorlabs"
            assert plane.optical_channel[0].emission_lambda == 520.0
            np.testing.assert_array_equal(plane.grid_spacing[:], [12.5, 12.5])
            assert plane.grid_spacing_unit == "micrometers"

            ophys = nwbfile.processing["ophys"]
            table = ophys["image_segmentation"]["cell_specimen_table"]
            assert table.imaging_plane is plane
            assert table["image_mask"].data.dtype == np.float32
            np.testing.assert_array_equal(table["image_mask"].data[:], masks)
            np.testing.assert_array_equal(table.id.data[:], [int(r["cell_roi_id"]) for r in rois])
            for name in ROI_COLUMNS:
                np.testing.assert_array_equal(table[name].data[:], [int(r[name]) for r in rois])
            np.testing.assert_array_equal(
                table["valid_roi"].data[:], [r["valid_roi"] == "True" for r in rois]
            )

            traces = ophys["dff"]["traces"]
            assert traces.data.dtype == np.float32
            np.testing.assert_array_equal(traces.data[:], dff)
            assert traces.rate == float(row["imaging_rate"])
            assert traces.rois.table is table
            np.testing.assert_array_equal(traces.rois.data[:], np.arange(len(rois)))

            for name, image in summary.items():
                stored = ophys["images"][name]
                assert stored.data.dtype == np.float32
                np.testing.assert_array_equal(stored.data[:], image)


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        ("rois_file", "vbo02_rois.csv: no column 'valid_roi'"),
        ("dff_file", "vbo02_dff.npy: 320 traces for 7 ROIs"),
    ],
)
def test_ophys_dff_bad_row_fails_alone(cli, tmp_path, broken, expected) -> None:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "ophys-dff").exit_code == 0
    row = _rows(workspace / "sessions.csv")[1]
    source = workspace / row[broken]
    if broken == "rois_file":  # the ROI table lacks a column the template adds
        rois = _rows(source)
        with open(source, "w", newline="") as handle:
            writer = csv.DictWriter(handle, [n for n in rois[0] if n != "valid_roi"])
            writer.writeheader()
            writer.writerows({k: v for k, v in r.items() if k != "valid_roi"} for r in rois)
    else:  # the traces are stored [n_rois, time]
        np.save(source, np.load(source).T)

    result = cli("convert", "--format", "json", "-w", str(workspace))

    assert result.exit_code == 1
    report = json.loads(result.stdout)
    first, second = report["rows"]
    assert first["status"] == "converted"
    assert (workspace / first["output"]).is_file()
    assert second["row"] == 2 and second["status"] == "failed"
    assert expected in second["reason"]
    assert not (workspace / second["output"]).exists()
