"""Memory stays flat in file size and in file count: peak RSS of `publishkit release` < 200 MB.

    python benchmarks/memory.py [--size-gb 5] [--files 2000] [--file-kb 4] [--dir /tmp]

Starts a local S3 (moto, loopback, in this process) and releases three workspaces into fresh
versioned buckets, each with `python -m publishkit release --version 1.0.0 --quiet` as a
subprocess: one small file (the baseline), --files small files, and one file of --size-gb
random bytes (hashed, then uploaded in multipart). For each it prints the peak resident memory
of the publishkit process itself (its VmHWM, the kernel's high-water mark, polled every 20 ms
until it exits) with wall time, CPU time and throughput, and the peak of any processes it
started. Verdicts: every peak under 200 MB; the many-file and the big-file peaks within 32 MB of
the one-small-file peak (flat in count and in size). Linux only (/proc).

The local S3 is not what is measured, but it has to cope. moto spools what it is sent to files
under the temp directory: the disk needs room for the file plus twice its size again (the parts,
then the completed object), and the benchmark refuses to start without it. The sandbox completes
a multipart upload on disk, a chunk at a time (publishkit/sandbox/s3_multipart.py; stock moto
joined the parts in memory, 3x the file), so its memory does not grow with the file.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from publishkit.sandbox.s3 import S3Sandbox  # noqa: E402

LIMIT_MB = 200
FLAT_MB = 32  # how far above the one-small-file baseline a peak may go and still be "flat"
MIB = 1024 * 1024
WRITE_CHUNK = 8 * MIB
POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Run:
    label: str
    files: int
    size: int  # bytes released
    seconds: float
    cpu_seconds: float
    peak_mb: float  # VmHWM of the publishkit process: the kernel's high-water mark of its RSS
    children_mb: float  # the largest sum of its child processes' VmHWM (0: it started none)

    @property
    def throughput(self) -> float:
        return self.size / MIB / self.seconds


def high_water_kib(pid: int) -> int | None:
    """VmHWM of a live process (the peak of its resident set since exec), in KiB."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None  # ended, or a zombie whose memory is already released


def descendants(pid: int) -> list[int]:
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                kids = [int(kid) for kid in handle.read().split()]
        except OSError:
            continue
        for kid in kids:
            found += [kid, *descendants(kid)]
    return found


class HighWater(threading.Thread):
    """Polls a process's VmHWM until it ends. The high-water mark only grows, so the last read
    misses at most what the process allocated in its final POLL_SECONDS (exit handlers only).

    Not ru_maxrss from wait4: Linux folds into it the high-water mark of the memory the child
    had *before* exec, i.e. this process's (vfork) or its size at fork, and this process holds
    moto's copy of every upload.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.own_kib = 0
        self.children_kib = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            own = high_water_kib(self.pid)
            if own is None:
                return
            self.own_kib = max(self.own_kib, own)
            kids = sum(high_water_kib(kid) or 0 for kid in descendants(self.pid))
            self.children_kib = max(self.children_kib, kids)
            self.stopped.wait(POLL_SECONDS)


def release(workspace: Path, env: dict[str, str], label: str, files: int, size: int) -> Run:
    """Run one release in a subprocess, watching its memory's high-water mark."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "--version", "1.0.0", "--quiet"],
        cwd=workspace,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    watcher = HighWater(child.pid)
    watcher.start()
    _, stderr = child.communicate()
    seconds = time.perf_counter() - start
    watcher.stopped.set()
    watcher.join()
    if child.returncode != 0:
        raise SystemExit(f"{label}: release failed ({child.returncode}):\n{stderr.decode()}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return Run(
        label=label,
        files=files,
        size=size,
        seconds=seconds,
        cpu_seconds=after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
        peak_mb=watcher.own_kib / 1024,
        children_mb=watcher.children_kib / 1024,
    )


def make_workspace(root: Path, bucket: str, sizes: list[int]) -> int:
    """publishkit.yaml, a sessions table and one data file of random bytes per size."""
    data = root / "data"
    data.mkdir(parents=True)
    lines = ["file_id,file_path,subject_id"]
    for n, size in enumerate(sizes):
        with open(data / f"f{n:05d}.bin", "wb") as handle:
            left = size
            while left > 0:  # real random blocks: no sparse file, nothing compressible
                left -= handle.write(os.urandom(min(WRITE_CHUNK, left)))
        lines.append(f"{n},data/f{n:05d}.bin,mouse-{n}")
    (root / "metadata").mkdir()
    (root / "metadata" / "sessions.csv").write_text("\n".join(lines) + "\n")
    (root / "publishkit.yaml").write_text(
        "project: memory\n"
        f"s3:\n  bucket: {bucket}\n  region: us-west-2\n"
        "metadata_files:\n  sessions: metadata/sessions.csv\n"
    )
    return sum(sizes)


def check_room(work: Path, spool: Path, big: int, small: int) -> None:
    """Refuse, with the figures, when the disk cannot hold what moto will keep."""
    need = {work: big + small}  # our files
    spool_dev = os.stat(spool).st_dev
    moto = 2 * (big + small)  # moto's spooled parts, then the completed object
    if os.stat(work).st_dev == spool_dev:
        need[work] += moto
    else:
        need[spool] = moto
    margin = 1024 * MIB
    for folder, needed in need.items():
        free = shutil.disk_usage(folder).free
        if free < needed + margin:
            raise SystemExit(
                f"not enough disk under {folder}: {free / 2**30:.1f} GiB free, "
                f"{(needed + margin) / 2**30:.1f} GiB needed (the file, plus moto's copy of "
                "its parts and of the completed object, plus 1 GiB); use --dir, a smaller "
                "--size-gb, or TMPDIR for moto's copies"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=5.0, help="the big file, in GiB")
    parser.add_argument("--files", type=int, default=2000, help="how many small files")
    parser.add_argument("--file-kb", type=int, default=4, help="size of each small file")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the workspaces")
    args = parser.parse_args()
    big = int(args.size_gb * 2**30)
    small = args.files * args.file_kb * 1024
    work = args.dir or Path(tempfile.gettempdir())
    check_room(work, Path(tempfile.gettempdir()), big, small)

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(dir=work) as tmp, S3Sandbox() as s3:
        cases = [
            ("one small file", [args.file_kb * 1024]),
            (f"{args.files} small files", [args.file_kb * 1024] * args.files),
            (f"one {args.size_gb:g} GiB file", [big]),
        ]
        for n, (label, sizes) in enumerate(cases):
            bucket = f"memory-{n}"
            info = s3.create_bucket(bucket, "us-west-2")
            workspace = Path(tmp) / f"release-{n}"
            started = time.perf_counter()
            total = make_workspace(workspace, bucket, sizes)
            if len(sizes) == 1 and sizes[0] == big:
                print(f"wrote {total / 2**30:.2f} GiB in {time.perf_counter() - started:.1f} s")
            env = {**os.environ, **info.environment(), "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
            runs.append(release(workspace, env, label, len(sizes), total))
            shutil.rmtree(workspace / "data")  # moto holds its own copy; free the disk early
        head = s3.client().head_object(Bucket=bucket, Key="memory/data/f00000.bin", PartNumber=1)
        parts = head.get("PartsCount", 1)

    server_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"publishkit release --quiet, local S3 (moto, loopback), {os.cpu_count()} cores")
    print(
        f"{'':<22} {'files':>6} {'size':>11} {'wall':>8} {'cpu':>8} {'MB/s':>7} "
        f"{'peak RSS':>9} {'children':>9}"
    )
    for run in runs:
        print(
            f"{run.label:<22} {run.files:>6} {run.size / MIB:>8.1f} MB {run.seconds:>6.1f} s "
            f"{run.cpu_seconds:>6.1f} s {run.throughput:>7.1f} {run.peak_mb:>6.1f} MB "
            f"{run.children_mb:>6.1f} MB"
        )
    print(
        "peak RSS: VmHWM of the publishkit process; children: of the processes it started; "
        "MB/s: size / wall time"
    )
    print(f"the big file went up in {parts} part(s) (multipart above 64 MiB, the default)")
    print(f"local S3 server (this process, not counted): peak RSS {server_mb:.0f} MB")
    baseline = runs[0].peak_mb
    worst = max(runs, key=lambda r: r.peak_mb + r.children_mb)
    verdict = "met" if worst.peak_mb + worst.children_mb < LIMIT_MB else "MISSED"
    print(
        f"largest peak {worst.peak_mb + worst.children_mb:.1f} MB ({worst.label}) "
        f"(target < {LIMIT_MB} MB: {verdict})"
    )
    for run in runs[1:]:
        growth = run.peak_mb - baseline
        verdict = "met" if growth <= FLAT_MB else "MISSED"
        per_file = growth * 1024 / max(run.files - 1, 1)
        slope = f", {per_file:.1f} KB per extra file" if run.files > 1 else ""
        print(
            f"{run.label}: {growth:+.1f} MB over one small file{slope} "
            f"(flat: within {FLAT_MB} MB: {verdict})"
        )


if __name__ == "__main__":
    main()
