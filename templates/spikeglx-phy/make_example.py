"""Synthesize the spikeglx-phy example: a SpikeGLX AP stream and a Phy folder per session.

Written from the formats' documentation (SpikeGLX's metadata guide, Phy's data-file
description), not from any reader's code. Every byte depends only on the session's name, so
running it again rewrites the same files:

    python templates/spikeglx-phy/make_example.py            # rewrites example/
    python templates/spikeglx-phy/make_example.py OUT -n 20 --seconds 2 --channels 64

SpikeGLX (https://billkarsh.github.io/SpikeGLX/help/metadata_30/): `<run>_g0_t0.imec0.ap.bin` is
int16, sample-major, channels interleaved; `.ap.meta` holds key=value lines, `~` keys carry
tables of `(...)` entries. A Neuropixels 1.0 probe reads out 384 channels; `snsSaveChanSubset`
saves only some of them (here 4 AP channels and the sync channel, 768).

Phy (https://phy.readthedocs.io/en/latest/sorting_user_guide/): `params.py` names the raw file
and its layout; `spike_times.npy` (sample indices, uint64), `spike_clusters.npy` (int32) and
`cluster_group.tsv` (the curation label of each cluster).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

import numpy as np

RATE = 30_000.0  # Hz, the AP band of a Neuropixels 1.0 probe
SAMPLES = 3_000  # 0.1 s
CHANNELS = 4  # saved AP channels (plus the sync channel)
GAIN = 500  # AP gain in the IMRO table
RANGE_MAX = 0.6  # V, imAiRangeMax; int range +-512: 0.6 / 512 / 500 V = 2.34 uV per bit
UNITS = (("good", 0), ("good", 2), ("mua", 3))  # (curation label, peak channel) per cluster
SESSIONS = (  # session id, subject, sex, age, start time ("" = read from the .meta file)
    ("sglx01", "M-701", "M", "P90D", "2023-05-02T14:03:00-07:00"),
    ("sglx02", "M-702", "F", "P95D", ""),
)
CREATED = "2023-05-09T10:21:44"  # fileCreateTime of the second session's recording


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))


def _spikes(rng: np.random.Generator, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike sample indices (ascending) and their clusters: 4 to 8 spikes per unit per 0.1 s."""
    times, clusters = [], []
    for cluster in range(len(UNITS)):
        count = int(rng.integers(4, 9)) * max(1, samples // SAMPLES)
        times.append(np.sort(rng.choice(np.arange(60, samples - 60), count, replace=False)))
        clusters.append(np.full(count, cluster))
    order = np.argsort(np.concatenate(times), kind="stable")
    return np.concatenate(times)[order].astype(np.uint64), np.concatenate(clusters)[order]


def _traces(
    rng: np.random.Generator, times: np.ndarray, clusters: np.ndarray, samples: int, channels: int
) -> np.ndarray:
    """int16 samples x (AP channels + sync): noise, a spike waveform on each peak channel, and
    a 50 Hz square wave on bit 6 of the sync word (SpikeGLX's imec sync bit)."""
    traces = rng.normal(0, 4, (samples, channels + 1)).round()
    shape = -np.exp(-(((np.arange(-15, 30) - 0) / 6.0) ** 2)) * 40
    for time, cluster in zip(times.astype(int), clusters, strict=True):
        peak = UNITS[cluster][1]
        traces[time - 15 : time + 30, peak] += shape
    traces[:, channels] = np.where(np.arange(samples) % 600 < 300, 64, 0)
    return traces.astype(np.int16)


def _meta(run: str, size: int, created: str, samples: int, channels: int) -> str:
    """The `.ap.meta` text: keys sorted as SpikeGLX writes them."""
    imro = "(0,384)" + "".join(f"({c} 0 0 {GAIN} 250 1)" for c in range(384))
    chan_map = "(384,384,1)" + "".join(f"(AP{c};{c}:{c})" for c in range(channels))
    chan_map += "(SY0;768:768)"
    shank_map = "(1,2,480)" + "".join(f"(0:{c % 2}:{c // 2}:1)" for c in range(channels))
    keys = {
        "acqApLfSy": "384,384,1",
        "appVersion": "20230425",
        "fileCreateTime": created,
        "fileName": f"D:/data/{run}_g0/{run}_g0_imec0/{run}_g0_t0.imec0.ap.bin",
        "fileSizeBytes": str(size),
        "fileTimeSecs": f"{samples / RATE:g}",
        "firstSample": "0",
        "gateMode": "Immediate",
        "imAiRangeMax": f"{RANGE_MAX:g}",
        "imAiRangeMin": f"{-RANGE_MAX:g}",
        "imDatPrb_dock": "1",
        "imDatPrb_pn": "NP1000",
        "imDatPrb_port": "1",
        "imDatPrb_slot": "2",
        "imDatPrb_sn": "18194814141",
        "imDatPrb_type": "0",
        "imMaxInt": "512",
        "imSampRate": f"{RATE:g}",
        "nSavedChans": str(channels + 1),
        "snsApLfSy": f"{channels},0,1",
        "snsSaveChanSubset": f"0:{channels - 1},768",
        "typeImEnabled": "1",
        "typeThis": "imec",
        "~imroTbl": imro,
        "~snsChanMap": chan_map,
        "~snsShankMap": shank_map,
    }
    return "".join(f"{key}={value}\n" for key, value in keys.items())


def make_session(
    root: Path, session: str, samples: int = SAMPLES, channels: int = CHANNELS
) -> dict[str, str]:
    """Write one session's SpikeGLX and Phy folders under root/data/<session>; returns the
    sessions-table paths (relative to root)."""
    rng = _rng(session)
    times, clusters = _spikes(rng, samples)
    traces = _traces(rng, times, clusters, samples, channels)
    run = f"{session}_run"
    sglx = root / "data" / session / f"{run}_g0" / f"{run}_g0_imec0"
    sglx.mkdir(parents=True, exist_ok=True)
    binary = sglx / f"{run}_g0_t0.imec0.ap.bin"
    binary.write_bytes(traces.tobytes())
    size = binary.stat().st_size
    binary.with_suffix(".meta").write_text(_meta(run, size, CREATED, samples, channels))

    phy = root / "data" / session / "phy"
    phy.mkdir(parents=True, exist_ok=True)
    (phy / "params.py").write_text(
        f"dat_path = r'../{run}_g0/{run}_g0_imec0/{binary.name}'\n"
        f"n_channels_dat = {channels + 1}\n"
        "dtype = 'int16'\n"
        "offset = 0\n"
        f"sample_rate = {RATE:.1f}\n"
        "hp_filtered = False\n"
    )
    np.save(phy / "spike_times.npy", times)
    np.save(phy / "spike_clusters.npy", clusters.astype(np.int32))
    with open(phy / "cluster_group.tsv", "w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["cluster_id", "group"])
        writer.writerows((cluster, label) for cluster, (label, _) in enumerate(UNITS))
    return {
        "spikeglx_dir": sglx.relative_to(root).as_posix(),
        "phy_dir": phy.relative_to(root).as_posix(),
    }


def make_example(
    root: Path, sessions: int | None = None, seconds: float | None = None, channels: int = CHANNELS
) -> None:
    """The sessions table and every session's files under `root` (the example's two sessions,
    or `sessions` of `seconds` each, for benchmarks)."""
    rows = list(SESSIONS)
    if sessions is not None:
        day = "2023-05-{:02d}T14:03:00Z"
        rows = [
            (f"sglx{n:03d}", f"M-{700 + n}", "MF"[n % 2], "P90D", day.format(1 + n % 28))
            for n in range(1, sessions + 1)
        ]
    samples = round(seconds * RATE) if seconds else SAMPLES
    table = []
    for session, subject, sex, age, start in rows:
        paths = make_session(root, session, samples, channels)
        table.append(
            {
                "session_id": session,
                "subject_id": subject,
                "sex": sex,
                "age": age,
                "session_start_time": start,
                "session_description": "Head-fixed mouse on a wheel, recorded with one "
                "Neuropixels 1.0 probe; spikes sorted with Kilosort and curated in Phy.",
                **paths,
            }
        )
    with open(root / "sessions.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, list(table[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path(__file__).parent / "example")
    parser.add_argument("-n", "--sessions", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--channels", type=int, default=CHANNELS)
    args = parser.parse_args()
    make_example(args.out, args.sessions, args.seconds, args.channels)


if __name__ == "__main__":
    main()
