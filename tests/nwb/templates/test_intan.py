"""The `intan` template: its example converts, inspects clean and reads back the same."""

from __future__ import annotations

import csv
from datetime import datetime

import numpy as np
import pytest

from tests.nwb.templates.roundtrip import assert_publishable, make_and_convert, read_back

BLOCK, CHANNELS = 128, 4  # samples per data block, amplifier channels (the example's header)


def test_intan_round_trip(cli, tmp_path) -> None:
    workspace = make_and_convert(cli, tmp_path, "intan")
    assert_publishable(cli, workspace)
    with open(workspace / "sessions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        data = (workspace / row["rhd_file"]).read_bytes()
        block_bytes = BLOCK * 4 + BLOCK * 2 * CHANNELS
        blocks = len(data) // block_bytes  # the header is shorter than one block
        body = np.frombuffer(data[len(data) - blocks * block_bytes :], dtype=np.uint8)
        body = body.reshape(blocks, block_bytes)
        stamps = body[:, : BLOCK * 4].copy().view("<i4").reshape(-1)
        samples = body[:, BLOCK * 4 :].copy().view("<u2").reshape(blocks, CHANNELS, BLOCK)
        samples = samples.transpose(0, 2, 1).reshape(-1, CHANNELS)
        np.testing.assert_array_equal(stamps, np.arange(blocks * BLOCK))
        output = workspace / "nwb" / f"sub-{row['subject_id']}_ses-{row['session_id']}.nwb"
        with read_back(output) as nwbfile:
            assert nwbfile.session_start_time == datetime.fromisoformat(row["session_start_time"])
            assert nwbfile.subject.species == "Rattus norvegicus"
            assert "template intan 1.0.0" in nwbfile.source_script

            series = nwbfile.acquisition["ElectricalSeries"]
            assert series.rate == 20_000.0
            volts = series.data[:] * series.conversion + series.offset
            np.testing.assert_allclose(
                volts, (samples.astype(float) - 32768) * 0.195e-6, atol=1e-12
            )
            assert series.conversion == pytest.approx(0.195e-6)
            assert len(nwbfile.electrodes) == CHANNELS
            group = nwbfile.electrode_groups["A"]
            assert group.location == "CA1" and group.device.name == "Intan"
