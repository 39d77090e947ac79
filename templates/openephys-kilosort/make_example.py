"""Synthesize the openephys-kilosort example: an Open Ephys binary recording and a Kilosort
output folder per session.

Written from the formats' documentation (the Open Ephys GUI's "Binary format" page, Kilosort's
output files as Phy reads them), not from any reader's code. Every byte depends only on the
session's name, so running it again rewrites the same files:

    python templates/openephys-kilosort/make_example.py          # rewrites example/

Open Ephys (https://open-ephys.github.io/gui-docs/User-Manual/Recording-data/Binary-format.html):
`Record Node <id>/settings.xml` (the signal chain; <INFO><DATE> is the start), and per recording
`experiment1/recording1/structure.oebin` (JSON: each continuous stream's folder, sample rate and
channels with their bit_volts) and `continuous/<stream>/continuous.dat` (int16, sample-major,
channels interleaved) with `sample_numbers.npy` (int64) and `timestamps.npy` (float64 seconds).

Kilosort (https://phy.readthedocs.io/en/latest/sorting_user_guide/): `params.py`, per spike
`spike_times.npy` (samples), `spike_templates.npy`, `spike_clusters.npy`, `amplitudes.npy`, per
cluster `cluster_KSLabel.tsv` and `cluster_ContamPct.tsv`, per channel `channel_map.npy` and
`channel_positions.npy` (um).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
from pathlib import Path

import numpy as np

RATE = 30_000.0
SAMPLES = 1_500  # 0.05 s
CHANNELS = 4
BIT_VOLTS = 0.195  # uV per bit of the Intan headstage
STREAM = "Acquisition_Board-100.Rhythm Data"
UNITS = (("good", 1, 4.2), ("mua", 2, 31.0), ("good", 3, 0.0))  # KSLabel, peak channel, ContamPct
SESSIONS = (  # session id, subject, sex, age, start time ("" = read from settings.xml)
    ("oe01", "M-801", "M", "P70D", "2023-06-12T09:41:07+02:00"),
    ("oe02", "M-802", "F", "P72D", ""),
)
DATE = "14 Jun 2023 10:05:31"  # settings.xml's <DATE> of the second session


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))


def _spikes(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    times, clusters = [], []
    for cluster in range(len(UNITS)):
        count = int(rng.integers(4, 9))
        times.append(np.sort(rng.choice(np.arange(60, SAMPLES - 60), count, replace=False)))
        clusters.append(np.full(count, cluster))
    order = np.argsort(np.concatenate(times), kind="stable")
    return np.concatenate(times)[order].astype(np.uint64), np.concatenate(clusters)[order]


def _settings(date: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<SETTINGS>\n"
        "  <INFO>\n"
        "    <VERSION>0.6.4</VERSION>\n"
        f"    <DATE>{date}</DATE>\n"
        "    <OS>Linux</OS>\n"
        "    <MACHINE>rig-1</MACHINE>\n"
        "  </INFO>\n"
        "  <SIGNALCHAIN>\n"
        '    <PROCESSOR name="Acquisition Board" nodeId="100" pluginName="Acquisition Board"/>\n'
        '    <PROCESSOR name="Record Node" nodeId="101" pluginName="Record Node"/>\n'
        "  </SIGNALCHAIN>\n"
        "</SETTINGS>\n"
    )


def _structure() -> str:
    channels = [
        {
            "channel_name": f"CH{c + 1}",
            "description": "Headstage data channel",
            "identifier": "genericdata.continuous",
            "history": "Acquisition Board -> Record Node",
            "bit_volts": BIT_VOLTS,
            "units": "uV",
            "source_processor_index": c,
            "recorded_processor_index": c,
        }
        for c in range(CHANNELS)
    ]
    stream = {
        "folder_name": f"{STREAM}/",
        "sample_rate": RATE,
        "source_processor_name": "Acquisition Board",
        "source_processor_id": 100,
        "stream_name": "Rhythm Data",
        "recorded_processor": "Record Node",
        "recorded_processor_id": 101,
        "num_channels": CHANNELS,
        "channels": channels,
    }
    return (
        json.dumps(
            {"GUI version": "0.6.4", "continuous": [stream], "events": [], "spikes": []}, indent=2
        )
        + "\n"
    )


def make_session(root: Path, session: str, date: str = DATE) -> dict[str, str]:
    """Write one session's Open Ephys and Kilosort folders under root/data/<session>."""
    rng = _rng(session)
    times, clusters = _spikes(rng)
    traces = rng.normal(0, 12, (SAMPLES, CHANNELS))
    shape = -np.exp(-((np.arange(-15, 30) / 6.0) ** 2)) * 150
    for time, cluster in zip(times.astype(int), clusters, strict=True):
        traces[time - 15 : time + 30, UNITS[cluster][1]] += shape
    node = root / "data" / session / "openephys" / "Record Node 101"
    recording = node / "experiment1" / "recording1"
    stream = recording / "continuous" / STREAM
    stream.mkdir(parents=True, exist_ok=True)
    (node / "settings.xml").write_text(_settings(date))
    (recording / "structure.oebin").write_text(_structure())
    (recording / "sync_messages.txt").write_text(
        "Software Time (milliseconds since midnight Jan 1st 1970 UTC): 1686729931000\n"
        f"Start Time for Acquisition Board (100) - Rhythm Data @ {RATE:.0f} Hz: 0\n"
    )
    (stream / "continuous.dat").write_bytes(traces.round().astype(np.int16).tobytes())
    np.save(stream / "sample_numbers.npy", np.arange(SAMPLES, dtype=np.int64))
    np.save(stream / "timestamps.npy", np.arange(SAMPLES) / RATE)

    sorted_ = root / "data" / session / "kilosort"
    sorted_.mkdir(parents=True, exist_ok=True)
    (sorted_ / "params.py").write_text(
        f"dat_path = r'../openephys/Record Node 101/experiment1/recording1/continuous/{STREAM}/"
        "continuous.dat'\n"
        f"n_channels_dat = {CHANNELS}\n"
        "dtype = 'int16'\n"
        "offset = 0\n"
        f"sample_rate = {RATE:.1f}\n"
        "hp_filtered = False\n"
    )
    np.save(sorted_ / "spike_times.npy", times)
    np.save(sorted_ / "spike_templates.npy", clusters.astype(np.uint32))
    np.save(sorted_ / "spike_clusters.npy", clusters.astype(np.int32))
    np.save(sorted_ / "amplitudes.npy", rng.uniform(8, 20, times.size).astype(np.float32))
    np.save(sorted_ / "channel_map.npy", np.arange(CHANNELS, dtype=np.int32))
    positions = np.column_stack([np.zeros(CHANNELS), 20.0 * np.arange(CHANNELS)])
    np.save(sorted_ / "channel_positions.npy", positions)
    for name, column, values in (
        ("cluster_KSLabel.tsv", "KSLabel", [label for label, _, _ in UNITS]),
        ("cluster_ContamPct.tsv", "ContamPct", [f"{contam:.1f}" for _, _, contam in UNITS]),
    ):
        with open(sorted_ / name, "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
            writer.writerow(["cluster_id", column])
            writer.writerows(enumerate(values))
    return {
        "openephys_dir": (root / "data" / session / "openephys").relative_to(root).as_posix(),
        "kilosort_dir": sorted_.relative_to(root).as_posix(),
    }


def make_example(root: Path) -> None:
    """The sessions table and every session's files under `root`."""
    table = []
    for session, subject, sex, age, start in SESSIONS:
        table.append(
            {
                "session_id": session,
                "subject_id": subject,
                "sex": sex,
                "age": age,
                "session_start_time": start,
                "session_description": "Freely moving mouse in an open field, recorded with a "
                "tetrode drive through an Open Ephys acquisition board; sorted with Kilosort.",
                **make_session(root, session),
            }
        )
    with open(root / "sessions.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path(__file__).parent / "example")
    make_example(parser.parse_args().out)


if __name__ == "__main__":
    main()
