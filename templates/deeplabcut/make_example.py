"""Synthesize the deeplabcut example: DeepLabCut pose estimates and a trials CSV per session.

Written from the formats' documentation (DeepLabCut's user guide on its output files), not from
any reader's code. Every byte depends only on the session's name, so running it again rewrites
the same files:

    python templates/deeplabcut/make_example.py          # rewrites example/

DeepLabCut (https://deeplabcut.github.io/DeepLabCut/docs/standardDeepLabCut_UserGuide.html):
analyzing `<video>.mp4` writes `<video><scorer>.csv` (and .h5) with three header rows, `scorer`
(the network's name), `bodyparts` and `coords` (x, y, likelihood per body part), then one row
per video frame, indexed by the frame number; x and y in pixels, likelihood in [0, 1].

The trials table is the lab's own, made from the behavior rig's TTL pulses: one row per trial
with start_time and stop_time (seconds on the video's clock) and what happened in it.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from pathlib import Path

import numpy as np

FPS = 30.0
FRAMES = 60  # 2 s of video
SCORER = "DLC_resnet50_openfieldOct30shuffle1_50000"
BODYPARTS = ("snout", "leftear", "rightear", "tailbase")
TRIALS = ((0.1, 0.6, "left", 1), (0.8, 1.3, "right", 0), (1.4, 1.9, "left", 1))
SESSIONS = (  # session id, subject, sex, age, start time
    ("dlc01", "M-501", "F", "P84D", "2022-03-08T15:00:00+00:00"),
    ("dlc02", "M-502", "M", "P86D", "2022-03-10T15:30:00+00:00"),
)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))


def poses(session: str) -> dict[str, np.ndarray]:
    """Body part -> frames x (x, y, likelihood): the animal walks a circle in a 640 x 480 arena."""
    rng = _rng(session)
    angle = np.linspace(0, np.pi, FRAMES)
    centre = np.column_stack([320 + 150 * np.cos(angle), 240 + 100 * np.sin(angle)])
    heading = np.column_stack([-np.sin(angle), np.cos(angle)])
    offsets = {"snout": (25, 0), "leftear": (12, 8), "rightear": (12, -8), "tailbase": (-30, 0)}
    found = {}
    for part in BODYPARTS:
        ahead, side = offsets[part]
        normal = np.column_stack([-heading[:, 1], heading[:, 0]])
        xy = centre + ahead * heading + side * normal + rng.normal(0, 0.5, (FRAMES, 2))
        likelihood = np.clip(rng.normal(0.97, 0.02, FRAMES), 0, 1)
        found[part] = np.column_stack([xy.round(2), likelihood.round(4)])
    return found


def make_session(root: Path, session: str) -> dict[str, str]:
    """Write the session's DeepLabCut CSV and trials CSV under root/data/<session>."""
    folder = root / "data" / session
    folder.mkdir(parents=True, exist_ok=True)
    pose = poses(session)
    path = folder / f"{session}_top{SCORER}.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["scorer"] + [SCORER] * (3 * len(BODYPARTS)))
        writer.writerow(["bodyparts"] + [p for p in BODYPARTS for _ in range(3)])
        writer.writerow(["coords"] + ["x", "y", "likelihood"] * len(BODYPARTS))
        for frame in range(FRAMES):
            values = [f"{v:g}" for part in BODYPARTS for v in pose[part][frame]]
            writer.writerow([frame, *values])
    trials = folder / f"{session}_trials.csv"
    with open(trials, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["start_time", "stop_time", "cue_side", "rewarded"])
        writer.writerows(TRIALS)
    return {
        "dlc_file": path.relative_to(root).as_posix(),
        "trials_file": trials.relative_to(root).as_posix(),
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
                "video_fps": f"{FPS:g}",
                "session_description": "Mouse in an open-field arena with two cue ports, filmed "
                "from above at 30 fps; body parts tracked with DeepLabCut.",
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
