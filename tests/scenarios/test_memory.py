"""A release's memory stays flat in the size of the files it hashes and uploads.

benchmarks/memory.py measures it at 5 GiB and with 2000 files; this is the size CI can afford:
400 MiB, which goes up in 7 parts of 64 MiB (the default threshold and part size).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import Workspace

LIMIT_MB = 200
FLAT_MB = 40  # what the big release may take above the small one (hashing buffers: 24 MiB)
BIG_MIB = 400
POLL_SECONDS = 0.01

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc"
)


def high_water_mb(pid: int) -> float | None:
    """VmHWM of a live process: the kernel's high-water mark of its resident set since exec."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None  # ended


def release_peak_mb(workspace: Workspace, version: str) -> float:
    """Peak RSS of `publishkit release` in a subprocess: its VmHWM, polled until it exits (it
    only grows, so polling misses at most the last POLL_SECONDS: the exit handlers).

    Not ru_maxrss from wait4: Linux counts in it the memory the child had before exec, that is
    this process's (vfork), and this process runs the moto server holding every upload.
    """
    child = subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "--version", version, "--quiet"],
        cwd=workspace.root,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0.0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak
        while not done.is_set() and (mb := high_water_mb(child.pid)) is not None:
            peak = max(peak, mb)
            done.wait(POLL_SECONDS)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, stderr = child.communicate(timeout=120)
    done.set()
    poller.join()
    assert child.returncode == 0, stderr
    assert peak > 20, "VmHWM was never read: the measurement is broken, not the release"
    return peak


def write_random(path: Path, mib: int) -> None:
    """Incompressible, not sparse: every byte written."""
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as handle:
        for n in range(mib):
            handle.write(block[n:] + block[:n])  # no two MiB alike


@pytest.mark.slow
def test_peak_memory_is_flat_in_file_size(workspace: Workspace, aws_env, s3_client) -> None:
    small = release_peak_mb(workspace, "0.1.0")  # the fixture's two small files

    write_random(workspace.root / "data" / "big.bin", BIG_MIB)
    sessions = workspace.root / "metadata" / "sessions.csv"
    sessions.write_text(sessions.read_text() + "103,data/big.bin,mouse-103\n")
    big = release_peak_mb(workspace, "0.2.0")

    key = "demo-project/data/big.bin"
    head = s3_client.head_object(Bucket=workspace.bucket, Key=key, PartNumber=1)
    assert head["PartsCount"] == -(-BIG_MIB // 8)  # multipart, in parts of the default 8 MiB
    whole = s3_client.head_object(Bucket=workspace.bucket, Key=key)
    assert whole["ContentLength"] == BIG_MIB * 1024 * 1024
    assert big - small < FLAT_MB, (
        f"peak RSS {big:.0f} MB releasing {BIG_MIB} MiB against {small:.0f} MB for a few KB: "
        "memory grows with the file (or its parts)"
    )
    assert big < LIMIT_MB, f"peak RSS {big:.0f} MB releasing {BIG_MIB} MiB"
