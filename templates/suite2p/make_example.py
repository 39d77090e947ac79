"""Synthesize the suite2p example: a two-photon TIFF stack and its Suite2p output per session.

Written from the formats' documentation (Adobe's TIFF 6.0 specification; Suite2p's "Outputs"
page), not from any reader's code. Every byte depends only on the session's name, so running it
again rewrites the same files:

    python templates/suite2p/make_example.py          # rewrites example/

TIFF: "II", 42, the offset of the first image file directory (IFD); per frame the pixels
(uint16, one strip) and an IFD of 12-byte entries sorted by tag (width, height, bits per sample,
no compression, min-is-black, strip offset, samples per pixel, rows per strip, strip byte
count, unsigned samples), the last IFD pointing to 0.

Suite2p (https://suite2p.readthedocs.io/en/latest/outputs.html), in `suite2p/plane0/`: `ops.npy`
(a pickled dict: fs, nframes, Ly, Lx, meanImg, ...), `stat.npy` (a pickled array of one dict per
ROI: ypix, xpix, lam, med, npix), `F.npy` and `Fneu.npy` (ROIs x frames, float32), `spks.npy`
(deconvolved), `iscell.npy` (ROIs x 2: is a cell, probability).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import struct
from pathlib import Path

import numpy as np

RATE = 30.0  # frames per second
FRAMES = 32  # about 1 s
SIZE = 16  # pixels per side
CELLS = ((4, 5, True), (10, 11, True), (12, 3, False))  # (row, column, is a cell) per ROI
SESSIONS = (  # session id, subject, sex, age, start time
    ("s2p01", "M-901", "F", "P110D", "2021-02-15T10:12:00-08:00"),
    ("s2p02", "M-902", "M", "P112D", "2021-02-17T11:30:00-08:00"),
)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))


def write_tiff(path: Path, frames: np.ndarray) -> None:
    """A multi-page baseline TIFF of uint16 frames (frames x rows x columns)."""
    count, rows, columns = frames.shape
    out = bytearray(b"II" + struct.pack("<HI", 42, 0))
    previous_link = 4  # where the offset of the next IFD goes
    for frame in frames.astype("<u2"):
        data_offset = len(out)
        out += frame.tobytes()
        if len(out) % 2:
            out += b"\0"
        entries = [
            (256, 3, 1, columns),
            (257, 3, 1, rows),
            (258, 3, 1, 16),
            (259, 3, 1, 1),
            (262, 3, 1, 1),
            (273, 4, 1, data_offset),
            (277, 3, 1, 1),
            (278, 3, 1, rows),
            (279, 4, 1, rows * columns * 2),
            (339, 3, 1, 1),
        ]
        ifd = len(out)
        struct.pack_into("<I", out, previous_link, ifd)
        out += struct.pack("<H", len(entries))
        for tag, kind, number, value in entries:
            packed = struct.pack("<H", value) + b"\0\0" if kind == 3 else struct.pack("<I", value)
            out += struct.pack("<HHI", tag, kind, number) + packed
        previous_link = len(out)
        out += struct.pack("<I", 0)
    assert count == len(frames)
    path.write_bytes(bytes(out))


def _masks() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(ypix, xpix, lam) of each ROI: a disk of radius 2 around its centre."""
    masks = []
    for row, column, _ in CELLS:
        ys, xs = np.mgrid[-2:3, -2:3]
        inside = ys**2 + xs**2 <= 4
        ypix, xpix = (ys[inside] + row).astype(np.int32), (xs[inside] + column).astype(np.int32)
        lam = np.exp(-(ys[inside] ** 2 + xs[inside] ** 2) / 4.0).astype(np.float32)
        masks.append((ypix, xpix, lam / lam.sum()))
    return masks


def make_session(root: Path, session: str) -> dict[str, str]:
    """Write the session's TIFF stack and Suite2p folder under root/data/<session>."""
    rng = _rng(session)
    activity = rng.gamma(1.0, 1.0, (len(CELLS), FRAMES)).astype(np.float32)
    movie = rng.normal(200, 5, (FRAMES, SIZE, SIZE))
    masks = _masks()
    for (ypix, xpix, lam), trace in zip(masks, activity, strict=True):
        movie[:, ypix, xpix] += 300 * trace[:, None] * lam[None, :] * len(lam)
    folder = root / "data" / session
    folder.mkdir(parents=True, exist_ok=True)
    write_tiff(folder / f"{session}_00001.tif", movie.round())

    plane = folder / "suite2p" / "plane0"
    plane.mkdir(parents=True, exist_ok=True)
    fluorescence = np.array([movie[:, y, x].mean(axis=1) for y, x, _ in masks], dtype=np.float32)
    neuropil = np.full_like(fluorescence, 200.0) + rng.normal(0, 1, fluorescence.shape)
    ops = {
        "fs": RATE,
        "nframes": FRAMES,
        "Ly": SIZE,
        "Lx": SIZE,
        "nplanes": 1,
        "nchannels": 1,
        "tau": 0.7,
        "meanImg": movie.mean(axis=0).astype(np.float32),
    }
    np.save(plane / "ops.npy", np.array(ops, dtype=object), allow_pickle=True)
    stat = np.array(
        [
            {"ypix": y, "xpix": x, "lam": lam, "med": [row, column], "npix": y.size}
            for (y, x, lam), (row, column, _) in zip(masks, CELLS, strict=True)
        ],
        dtype=object,
    )
    np.save(plane / "stat.npy", stat, allow_pickle=True)
    np.save(plane / "F.npy", fluorescence)
    np.save(plane / "Fneu.npy", neuropil.astype(np.float32))
    np.save(plane / "spks.npy", np.maximum(activity - 1.0, 0).astype(np.float32))
    iscell = np.array([[float(cell), 0.9 if cell else 0.2] for _, _, cell in CELLS])
    np.save(plane / "iscell.npy", iscell)
    return {
        "tiff_file": (folder / f"{session}_00001.tif").relative_to(root).as_posix(),
        "suite2p_dir": (folder / "suite2p").relative_to(root).as_posix(),
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
                "frame_rate": f"{RATE:g}",
                "session_description": "Head-fixed mouse viewing drifting gratings; layer 2/3 "
                "of V1 imaged at 30 Hz through a cranial window, segmented with Suite2p.",
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
