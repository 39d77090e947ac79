"""The `suite2p` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv

import numpy as np
import tifffile

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back


def test_suite2p_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "suite2p")
    assert_publishable(cli, workspace)
    with open(workspace / "sessions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        movie = tifffile.imread(workspace / row["tiff_file"])
        plane = workspace / row["suite2p_dir"] / "plane0"
        ops = np.load(plane / "ops.npy", allow_pickle=True).item()  # the example's own pickle
        stat = np.load(plane / "stat.npy", allow_pickle=True)
        iscell = np.load(plane / "iscell.npy")
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        with read_back(output) as nwbfile:
            assert "template suite2p 1.0.0" in nwbfile.source_script
            series = nwbfile.acquisition["TwoPhotonSeries"]
            # TIFF pages are (row, column); NWB's imaging data is (frame, x, y)
            np.testing.assert_array_equal(series.data[:], movie.transpose(0, 2, 1))
            assert series.rate == float(row["frame_rate"])
            plane_ = series.imaging_plane
            assert (plane_.location, plane_.indicator) == ("VISp", "GCaMP6s")
            assert plane_.device.name == "Microscope"

            ophys = nwbfile.processing["ophys"]
            rois = ophys["ImageSegmentation"]["PlaneSegmentation"]
            assert rois.imaging_plane is plane_  # one plane for the movie and the segmentation
            assert len(rois) == len(stat)
            for index, roi in enumerate(stat):
                mask = rois["pixel_mask"][index]
                found = {(int(a), int(b)): w for a, b, w in mask}
                expected = dict(
                    zip(zip(roi["ypix"], roi["xpix"], strict=True), roi["lam"], strict=True)
                )
                assert found.keys() == {(int(y), int(x)) for y, x in expected}
                np.testing.assert_allclose(
                    [found[(int(y), int(x))] for y, x in expected], list(expected.values())
                )
            np.testing.assert_array_equal(rois["iscell"][:], iscell[:, 0])
            traces = ophys["Fluorescence"]
            for name, source in (
                ("RoiResponseSeries", "F"),
                ("Neuropil", "Fneu"),
                ("Deconvolved", "spks"),
            ):
                np.testing.assert_allclose(
                    traces[name].data[:], np.load(plane / f"{source}.npy").T, rtol=1e-6
                )
            mean = ophys["SegmentationImages"]["MeanImage"].data[:]
            np.testing.assert_allclose(mean, ops["meanImg"].T, rtol=1e-6)  # (x, y) too
