"""Synthesize the intan example: one Intan RHD file ("traditional" format) per session.

Written from Intan's "RHD2000 data file formats" application note, not from any reader's code.
Every byte depends only on the session's name, so running it again rewrites the same files:

    python templates/intan/make_example.py          # rewrites example/

An .rhd file is a header, then data blocks. Numbers are little-endian; a QString is a uint32
byte count (0xFFFFFFFF for a null string) and UTF-16LE text. The header (version 3.0): magic
number 0xC6912702, version (int16 major, minor), sample rate (float32), DSP enabled (int16),
actual DSP cutoff, lower and upper bandwidth, the desired three (float32), notch filter mode
(int16), desired and actual impedance test frequency (float32), three notes (QString), the
number of temperature sensors (int16), the board mode (int16), the reference channel (QString),
then the signal groups (int16 count): name, prefix (QString), enabled, channel count, amplifier
channel count (int16), and per channel: native and custom name (QString), native and custom
order, signal type (0 = amplifier), enabled, chip channel, board stream, four spike-scope
settings (int16), impedance magnitude and phase (float32).

A data block holds 128 samples (version 2.0 on): 128 timestamps (int32, consecutive sample
numbers), then per enabled amplifier channel 128 samples (uint16; 0.195 uV per step, 32768 =
0 V). With no auxiliary, supply, ADC or digital channels enabled, nothing else follows.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import struct
from pathlib import Path

import numpy as np

RATE = 20_000.0
BLOCK = 128
BLOCKS = 16  # 2048 samples, 0.1 s
CHANNELS = 4
STEP_UV = 0.195
SESSIONS = (  # session id, subject, sex, age, start time
    ("rhd01", "R-11", "M", "P60D", "2022-11-03T13:20:00-05:00"),
    ("rhd02", "R-12", "F", "P62D", "2022-11-05T13:45:00-05:00"),
)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))


def _qstring(text: str) -> bytes:
    data = text.encode("utf-16-le")
    return struct.pack("<I", len(data)) + data


def _header() -> bytes:
    parts = [
        struct.pack("<Ihh", 0xC6912702, 3, 0),
        struct.pack("<fh", RATE, 1),
        struct.pack("<fff", 1.0, 1.0, 7500.0),  # actual DSP cutoff, lower, upper bandwidth (Hz)
        struct.pack("<fff", 1.0, 1.0, 7500.0),  # desired
        struct.pack("<h", 0),  # notch filter off
        struct.pack("<ff", 1000.0, 1000.0),  # impedance test frequencies
        _qstring("example session"),
        _qstring(""),
        _qstring(""),
        struct.pack("<hh", 0, 0),  # temperature sensors, board mode
        _qstring("Hardware"),
        struct.pack("<h", 1),  # one signal group
        _qstring("Port A"),
        _qstring("A"),
        struct.pack("<hhh", 1, CHANNELS, CHANNELS),
    ]
    for channel in range(CHANNELS):
        name = f"A-{channel:03d}"
        parts += [
            _qstring(name),
            _qstring(name),
            struct.pack("<hhhhhh", channel, channel, 0, 1, channel, 0),
            struct.pack("<hhhh", 0, 0, 0, 0),
            struct.pack("<ff", 1.2e6, -45.0),
        ]
    return b"".join(parts)


def traces(session: str) -> np.ndarray:
    """The session's samples x channels, in steps of 0.195 uV (0 = 0 V): noise and a 6 Hz
    theta rhythm of a different phase on each channel."""
    rng = _rng(session)
    time = np.arange(BLOCK * BLOCKS) / RATE
    phases = np.arange(CHANNELS)[None, :] * 0.4
    rhythm = 400 * np.sin(2 * np.pi * 6 * time[:, None] + phases)
    return (rhythm + rng.normal(0, 30, rhythm.shape)).round().astype(np.int16)


def make_session(root: Path, session: str, start: str) -> dict[str, str]:
    """Write the session's .rhd file under root/data/<session>, named as Intan's software names
    it: <prefix>_<yymmdd>_<hhmmss>.rhd."""
    samples = traces(session).astype(np.int32) + 32768
    blocks = []
    for block in range(BLOCKS):
        rows = slice(block * BLOCK, (block + 1) * BLOCK)
        stamps = np.arange(block * BLOCK, (block + 1) * BLOCK, dtype="<i4")
        blocks.append(stamps.tobytes() + samples[rows].T.astype("<u2").tobytes())
    folder = root / "data" / session
    folder.mkdir(parents=True, exist_ok=True)
    stamp = f"{start[2:4]}{start[5:7]}{start[8:10]}_{start[11:13]}{start[14:16]}{start[17:19]}"
    path = folder / f"{session}_{stamp}.rhd"
    path.write_bytes(_header() + b"".join(blocks))
    return {"rhd_file": path.relative_to(root).as_posix()}


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
                "session_description": "Anesthetized rat; local field potentials recorded "
                "from hippocampus with a 4-channel silicon probe and an Intan RHD2132 headstage.",
                **make_session(root, session, start),
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
