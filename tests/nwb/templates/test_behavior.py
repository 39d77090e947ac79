"""The `behavior` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from publishkit.nwb.build import ConversionError
from publishkit.nwb.kinds.behavior import parse_values
from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back


def read_csv(path: Path) -> dict[str, list[str]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {name: [row[name] for row in rows] for name in rows[0]}


def number(cell: str) -> float:
    return float(cell) if cell else np.nan


def assert_same_table(table: Any, source: dict[str, list[str]]) -> None:
    """Every column of the CSV is in the NWB table with the same values, typed."""
    assert list(table.colnames) == list(source)
    assert len(table) == len(source["start_time"])
    for name, cells in source.items():
        column = table[name]
        if name == "lick_times":  # a list per trial, e.g. "[1.7333, 1.8833]"
            assert len(column) == len(cells)
            for i, cell in enumerate(cells):
                expected = [float(x) for x in cell.strip("[]").split(",") if x.strip()]
                np.testing.assert_array_equal(column[i], expected)
            continue
        values = column.data[:]
        if values.dtype == bool:
            assert set(cells) <= {"True", "False"}, name
            np.testing.assert_array_equal(values, [c == "True" for c in cells])
        elif values.dtype.kind in "iu":
            np.testing.assert_array_equal(values, [int(c) for c in cells])
        elif values.dtype.kind == "f":
            np.testing.assert_array_equal(values, [number(c) for c in cells])
        else:
            assert list(values) == cells, name


def test_behavior_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "behavior")
    assert_publishable(cli, workspace)
    with open(workspace / "sessions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    for row in rows:
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        running = np.load(workspace / row["running_file"])
        licks = np.load(workspace / row["licks_file"])
        rewards = read_csv(workspace / row["rewards_file"])
        trials = read_csv(workspace / row["trials_file"])
        flashes = read_csv(workspace / row["stimulus_file"])
        with read_back(output) as nwbfile:
            assert nwbfile.session_id == row["session_id"]
            assert nwbfile.subject.genotype == row["genotype"]
            assert "behavior 1.0.0" in nwbfile.source_script
            assert row["session_type"] in nwbfile.session_description

            speed = nwbfile.processing["running"]["running_speed"]
            np.testing.assert_array_equal(speed.data[:], running)
            assert (speed.rate, speed.unit, len(running)) == (60.0, "cm/s", 3600)

            behavior = nwbfile.processing["behavior"]
            lick_series = behavior["licks"]
            np.testing.assert_array_equal(lick_series.timestamps[:], licks)
            np.testing.assert_array_equal(lick_series.data[:], np.ones(len(licks)))
            assert lick_series.unit == "n.a."
            reward_series = behavior["rewards"]
            np.testing.assert_array_equal(
                reward_series.timestamps[:], [float(t) for t in rewards["timestamps"]]
            )
            np.testing.assert_array_equal(
                reward_series.data[:], [float(v) for v in rewards["volume"]]
            )
            assert reward_series.unit == "mL"

            assert 15 <= len(nwbfile.trials) <= 25
            assert_same_table(nwbfile.trials, trials)
            assert nwbfile.trials["hit"].data.dtype == bool
            assert nwbfile.trials["initial_image_name"].description.startswith("Image flashed")
            presentations = nwbfile.intervals["stimulus_presentations"]
            assert_same_table(presentations, flashes)
            assert presentations["image_index"].data.dtype.kind == "i"


def test_trials_missing_a_column_fail_only_that_row(cli, tmp_path) -> None:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "behavior").exit_code == 0
    trials = workspace / "data" / "vb02_trials.csv"
    trials.write_text(trials.read_text().replace("stop_time", "end_time", 1))
    result = cli("convert", "-w", str(workspace), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["counts"] == {"converted": 1, "unchanged": 0, "failed": 1}
    (failed,) = [r for r in report["rows"] if r["status"] == "failed"]
    assert (failed["row"], failed["column"]) == (2, "stop_time")
    assert "objects.3 (trials): vb02_trials.csv: no column 'stop_time'" in failed["reason"]
    assert (workspace / "nwb" / "sub-M-301_ses-vb01.nwb").is_file()
    assert not (workspace / "nwb" / "sub-M-301_ses-vb02.nwb").exists()


@pytest.mark.parametrize(
    ("cells", "kind", "expected"),
    [
        (["True", "false", "TRUE"], "auto", [True, False, True]),
        (["3", "-1", "0"], "auto", [3, -1, 0]),
        (["0.5", "", "nan"], "auto", [0.5, np.nan, np.nan]),
        (["im065", "1.5", ""], "auto", ["im065", "1.5", ""]),
        (["1", "0", "yes"], "boolean", [True, False, True]),
        (["3.0", "4"], "integer", [3, 4]),
        (["3", "4"], "number", [3.0, 4.0]),
    ],
)
def test_column_types(cells: list[str], kind: str, expected: list[Any]) -> None:
    data, index = parse_values(cells, kind, "t.csv column 'c'", "c")
    assert index is None
    if isinstance(expected[0], str):
        assert data == expected
    else:
        assert np.asarray(data).dtype == np.asarray(expected).dtype
        np.testing.assert_array_equal(data, expected)


def test_number_lists_and_bad_cells() -> None:
    flat, index = parse_values(["[0.5, 0.75]", "[]", "1.25 1.5;2"], "number_list", "t.csv", "c")
    np.testing.assert_array_equal(flat, [0.5, 0.75, 1.25, 1.5, 2.0])
    np.testing.assert_array_equal(index, [2, 2, 5])
    flat, index = parse_values(["1|2", ""], "number_list", "t.csv", "c", separator="|")
    np.testing.assert_array_equal(flat, [1.0, 2.0])
    np.testing.assert_array_equal(index, [2, 2])
    for cells, kind, message in [
        (["1", ""], "integer", "row 2: an empty cell is not an integer"),
        (["true", "maybe"], "boolean", "row 2: 'maybe' is not true or false"),
        (["x"], "number", "row 1: 'x' is not a number"),
        (["[1, a]"], "number_list", "row 1: '[1, a]' is not a list of numbers"),
    ]:
        with pytest.raises(ConversionError, match=re.escape(message)) as caught:
            parse_values(cells, kind, "t.csv column 'c'", "c")
        assert caught.value.column == "c"
