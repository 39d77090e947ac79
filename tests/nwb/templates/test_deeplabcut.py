"""The `deeplabcut` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv

import numpy as np

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back


def test_deeplabcut_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "deeplabcut")
    assert_publishable(cli, workspace)
    with open(workspace / "sessions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        with open(workspace / row["dlc_file"], newline="") as handle:
            scorer, parts, coords, *frames = list(csv.reader(handle))
        values = np.array([[float(v) for v in frame[1:]] for frame in frames])
        with open(workspace / row["trials_file"], newline="") as handle:
            trials = list(csv.DictReader(handle))
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        with read_back(output) as nwbfile:
            assert "template deeplabcut 1.0.0" in nwbfile.source_script
            pose = nwbfile.processing["behavior"]["PoseEstimationDeepLabCut"]
            assert pose.scorer == scorer[1] and pose.source_software == "DeepLabCut"
            names = list(dict.fromkeys(parts[1:]))
            assert list(pose.skeleton.nodes[:]) == names
            for index, part in enumerate(names):
                series = pose.pose_estimation_series[f"PoseEstimationSeries{part.capitalize()}"]
                assert coords[1 + 3 * index : 4 + 3 * index] == ["x", "y", "likelihood"]
                np.testing.assert_allclose(series.data[:], values[:, 3 * index : 3 * index + 2])
                np.testing.assert_allclose(series.confidence[:], values[:, 3 * index + 2])
                assert series.rate == float(row["video_fps"])

            table = nwbfile.trials
            assert len(table) == len(trials)
            for name in ("start_time", "stop_time"):
                np.testing.assert_allclose(table[name][:], [float(t[name]) for t in trials])
            assert list(table["cue_side"][:]) == [t["cue_side"] for t in trials]
            assert [int(v) for v in table["rewarded"][:]] == [int(t["rewarded"]) for t in trials]
            assert table["cue_side"].description.startswith("Port whose light cued")
