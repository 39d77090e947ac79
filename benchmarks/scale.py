"""A release at scale: N small NWB files converted, inspected and released, then one changed.

    python benchmarks/scale.py [--files 2000] [--jobs 2] [--scheduler tcp://HOST:PORT]

Makes a workspace from the built-in `timeseries` template whose sessions table has N rows, and
releases it to a versioned bucket on a local S3 (moto on loopback, behind a counting proxy) as
`publishkit release --format json` subprocesses: first release 1.0.0 (convert, inspect, upload,
manifest, notes), then, after one row's description changed, the next release. For each it
prints the wall time, the seconds and files per second of each stage (from the release's own
JSON summary), the peak resident memory of the publishkit process and of it with its worker
processes, and the S3 requests it made, by kind. With --scheduler, conversion, inspection and
digests run on that Dask cluster (whose workers must see this machine's temporary folder).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from publishkit.sandbox.s3 import S3Sandbox  # noqa: E402
from tests.faultproxy import FaultProxy, Record  # noqa: E402
from tests.studies import release_to_s3, repeat_first_session  # noqa: E402

MB = 1024 * 1024


class PeakMemory:
    """Polls a process and its descendants every 20 ms; keeps the peaks."""

    def __init__(self, pid: int) -> None:
        self.main = 0
        self.tree = 0
        self._process = psutil.Process(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            try:
                main = self._process.memory_info().rss
                tree = main + sum(_rss(child) for child in self._process.children(recursive=True))
            except psutil.NoSuchProcess:
                return
            self.main, self.tree = max(self.main, main), max(self.tree, tree)
            time.sleep(0.02)

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def kind(record: Record) -> str:
    """The S3 operation a proxied request was."""
    query = record.query
    if record.method == "PUT":
        return "UploadPart" if "partNumber=" in query else "PutObject"
    if record.method == "HEAD":
        return "HeadObject" if record.path.count("/") > 1 else "HeadBucket"
    if record.method == "POST":
        return "CompleteMultipartUpload" if "uploadId=" in query else "CreateMultipartUpload"
    if record.method == "DELETE":
        return "AbortMultipartUpload" if "uploadId=" in query else "DeleteObject"
    if "versioning" in query:
        return "GetBucketVersioning"
    if "uploads" in query:
        return "ListMultipartUploads"
    if "versions" in query or "list-type" in query or record.path.rstrip("/").count("/") < 2:
        return "List"
    return "GetObject"


def release(workspace: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "--format", "json", *args],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    memory = PeakMemory(process.pid)
    stdout, stderr = process.communicate()
    memory.stop()
    if process.returncode != 0:
        raise SystemExit(f"release {' '.join(args)} failed:\n{stdout[-3000:]}\n{stderr}")
    return {
        "wall": time.perf_counter() - start,
        "summary": json.loads(stdout),
        "rss_main": memory.main,
        "rss_tree": memory.tree,
    }


def make_workspace(root: Path, files: int, bucket: str) -> Path:
    workspace = root / "scale"
    subprocess.run(
        [sys.executable, "-m", "publishkit", "init", str(workspace), "--template", "timeseries"],
        check=True,
        capture_output=True,
    )
    repeat_first_session(workspace, files)
    release_to_s3(workspace, bucket)
    return workspace


def change_one_row(workspace: Path) -> None:
    sessions = workspace / "sessions.csv"
    with sessions.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[7]["session_description"] += " Re-annotated."
    with sessions.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def report(title: str, run: dict[str, Any], requests: Counter[str]) -> None:
    summary = run["summary"]
    seconds = summary["seconds"]
    done = {
        "convert": summary["convert"]["counts"]["converted"],
        "inspect": summary["inspect"]["files"] - summary["inspect"]["files_from_cache"],
        "s3": len(summary["release"]["uploaded"]),
    }
    print(f"\n{title}: {run['wall']:.1f} s wall")
    for stage, spent in seconds.items():
        count = done.get(stage, 0)
        rate = f"{count / spent:8.1f} files/s" if spent > 0 and count else " " * 16
        print(f"  {stage:<8} {spent:8.2f} s  {count:6d} files {rate}")
    print(
        f"  peak RSS: publishkit {run['rss_main'] / MB:.0f} MB; "
        f"with its workers {run['rss_tree'] / MB:.0f} MB"
    )
    total = sum(requests.values())
    listed = ", ".join(f"{name} {n}" for name, n in requests.most_common())
    print(f"  S3 requests: {total} ({listed})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--scheduler", help="a Dask scheduler's address (default: local)")
    args = parser.parse_args()
    where = ["--scheduler", args.scheduler] if args.scheduler else ["--jobs", str(args.jobs)]
    with tempfile.TemporaryDirectory() as tmp, S3Sandbox() as s3:
        info = s3.create_bucket("scale", "us-west-2")
        with FaultProxy(s3.endpoint_url, max_requests=1_000_000, idle_timeout=120) as proxy:
            env = {**os.environ, **info.environment(), "AWS_ENDPOINT_URL": proxy.url}
            env["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")
            workspace = make_workspace(Path(tmp), args.files, "scale")
            first = release(workspace, env, "--version", "1.0.0", *where)
            first_requests = Counter(kind(r) for r in proxy.records)
            seen = len(proxy.records)
            change_one_row(workspace)
            second = release(workspace, env, "--bump", "minor", *where)
            second_requests = Counter(kind(r) for r in proxy.records[seen:])
    executor = f"Dask at {args.scheduler}" if args.scheduler else f"--jobs {args.jobs}"
    print(f"{args.files} NWB files from the timeseries template, {executor}, local S3")
    report("First release (1.0.0)", first, first_requests)
    report("After one row changed (1.1.0)", second, second_requests)
    print(f"\nincremental / first: {second['wall'] / first['wall']:.3f}")


if __name__ == "__main__":
    main()
