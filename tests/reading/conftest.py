"""Releases of real NWB files in the local S3 (over HTTP), for the reading API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from pynwb import NWBHDF5IO, NWBFile, TimeSeries

from publishkit.s3.pinned import ReadSettings
from publishkit.sandbox.s3 import S3Sandbox
from tests.conftest import REGION, Workspace


def write_session(path: Path, signal: np.ndarray, units: int = 0) -> Path:
    """An NWB file with `signal` (samples x channels) as acquisition/signal and `units` units."""
    nwbfile = NWBFile(
        session_description="A session for the reading tests.",
        identifier=path.stem,
        session_start_time=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        session_id=path.stem,
    )
    nwbfile.add_acquisition(TimeSeries(name="signal", data=signal, unit="V", rate=1000.0))
    for n in range(units):
        nwbfile.add_unit(spike_times=[0.1 * n, 0.2 * n + 0.05])
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def signal(seed: int, samples: int = 2000, channels: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((samples, channels))


@dataclass
class NwbReleases:
    """Two releases: v0.1.0 (s101, s102) and v0.2.0, where s101 changed (s102 did not)."""

    workspace: Workspace
    read: ReadSettings
    signals: dict[tuple[str, str], np.ndarray]  # (version, file id) -> acquisition/signal


def set_files(ws: Workspace, rows: dict[str, tuple[np.ndarray, int]]) -> None:
    lines = ["file_id,file_path,subject_id"]
    for file_id, (values, units) in rows.items():
        write_session(ws.root / "data" / f"s{file_id}.nwb", values, units)
        lines.append(f"{file_id},data/s{file_id}.nwb,mouse-{file_id}")
    (ws.root / "metadata").mkdir(exist_ok=True)
    (ws.root / "metadata" / "sessions.csv").write_text("\n".join(lines) + "\n")


@pytest.fixture
def nwb_releases(cli, workspace: Workspace, aws_env, s3_server: S3Sandbox) -> NwbReleases:
    first = {"101": (signal(1), 3), "102": (signal(2), 400)}
    for path in (workspace.root / "data").glob("*.nwb"):
        path.unlink()
    set_files(workspace, first)
    config = workspace.root / "publishkit.yaml"  # these small files indexed all the same
    config.write_text(config.read_text() + "lindi_index_min_mb: 0\n")
    done = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert done.exit_code == 0, done.stderr
    second = {"101": (signal(3), 5), "102": first["102"]}
    write = dict(second)
    del write["102"]  # s102 is left as it is: the same content, pinned at the same version
    lines = (workspace.root / "metadata" / "sessions.csv").read_text()
    set_files(workspace, write)
    (workspace.root / "metadata" / "sessions.csv").write_text(lines)
    done = cli("release", "--version", "0.2.0", cwd=workspace.root)
    assert done.exit_code == 0, done.stderr
    signals = {("0.1.0", k): v[0] for k, v in first.items()}
    signals |= {("0.2.0", k): v[0] for k, v in second.items()}
    read = ReadSettings(region=REGION, endpoint_url=s3_server.endpoint_url)
    return NwbReleases(workspace, read, signals)
