"""Cost follows the change: the second release after one file of N changed, against the first.

    python benchmarks/incremental.py [--files 300] [--jobs 2]

Builds a workspace of N generated NWB files (tests/nwbfactory.py) listed in a sessions table,
with inspection enabled and a versioned bucket on a local S3 (moto, loopback), and times as
subprocesses: the first `publishkit release` (hash, inspect, upload N files, manifest, notes),
then, after rewriting one file, the next release. Prints both times, the ratio (target <= 0.15)
and the S3 versions written by the second release.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from publishkit.sandbox.s3 import S3Sandbox  # noqa: E402
from tests.nwbfactory import write_nwb  # noqa: E402

TARGET = 0.15


def release(workspace: Path, env: dict[str, str], *args: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "publishkit", "release", "--quiet", *args],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"release {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, S3Sandbox() as s3:
        info = s3.create_bucket("incremental", "us-west-2")
        workspace = Path(tmp) / "release"
        lines = ["file_id,file_path,subject_id,session_id"]
        for n in range(args.files):
            write_nwb(
                workspace / "nwb" / f"s{n:04d}.nwb",
                session_id=f"ses-{n}",
                subject_id=f"mouse-{n}",
                samples=200,
            )
            lines.append(f"{n},nwb/s{n:04d}.nwb,mouse-{n},ses-{n}")
        (workspace / "sessions.csv").write_text("\n".join(lines) + "\n")
        (workspace / "publishkit.yaml").write_text(
            "project: incremental\n"
            "s3:\n  bucket: incremental\n  region: us-west-2\n"
            "metadata_files:\n  sessions: sessions.csv\n"
            "inspection:\n  config: dandi\n"
        )
        env = {**os.environ, **info.environment(), "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        first = release(workspace, env, "--version", "1.0.0", "--jobs", str(args.jobs))
        write_nwb(
            workspace / "nwb" / "s0007.nwb", session_id="ses-7", subject_id="mouse-7", samples=300
        )  # one session re-exported with more samples
        second = release(workspace, env, "--bump", "minor", "--jobs", str(args.jobs))
        floor = release(workspace, env, "--bump", "minor", "--jobs", str(args.jobs))
        client = s3.client("us-west-2")
        versions = client.list_object_versions(Bucket="incremental").get("Versions", [])
        changed = sorted({v["Key"] for v in versions if not v["IsLatest"]})
    ratio = second / first
    print(f"{args.files} NWB files, inspection (dandi config), --jobs {args.jobs}, local S3")
    print(f"first release   {first:7.2f} s")
    print(f"after 1 change  {second:7.2f} s")
    print(f"nothing changed {floor:7.2f} s  (the fixed cost: start-up, S3 listing, stat checks)")
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"ratio           {ratio:7.3f} (target <= {TARGET}: {verdict})")
    print(f"keys with a second version: {', '.join(changed) or 'none'}")


if __name__ == "__main__":
    main()
