"""Workspaces made from the built-in `timeseries` template, grown and pointed at a bucket, for the
tests and benchmarks that need more sessions than its example has, or an S3 release."""

from __future__ import annotations

import csv
from pathlib import Path


def repeat_first_session(workspace: Path, count: int) -> None:
    """Rewrite the sessions table with `count` sessions (ts0001, subject M-0001, ...) that all
    read the first session's (small) data files."""
    sessions = workspace / "sessions.csv"
    with sessions.open(newline="") as handle:
        first = next(csv.DictReader(handle))
    with sessions.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(first))
        writer.writeheader()
        for n in range(1, count + 1):
            writer.writerow({**first, "session_id": f"ts{n:04d}", "subject_id": f"M-{n:04d}"})


def release_to_s3(workspace: Path, bucket: str, region: str = "us-west-2") -> None:
    """Add the s3: section, publishing the NWB files table that convert writes."""
    config = workspace / "publishkit.yaml"
    config.write_text(
        config.read_text()
        + f"s3:\n  bucket: {bucket}\n  region: {region}\n"
        + "metadata_files:\n  sessions: nwb_files.csv\n"
    )
