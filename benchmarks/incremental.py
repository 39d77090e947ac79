"""Cost follows the change: a release after one file of N changed, against the first release
and against the floor of any tool that releases to S3 (python + boto3 + one request).

    python benchmarks/incremental.py [--part nwb|s3|both] [--files 300] [--jobs 2] [--rounds 3]

nwb: a workspace of N generated NWB files (tests/nwbfactory.py) listed in a sessions table,
with inspection enabled; times the first `publishkit release` (hash, inspect, upload N files,
manifest, notes), then, after rewriting one file, the next release, then one with nothing
changed. Prints the times and the ratio of the second to the first (target <= 0.15); the first
release's target is <= 20 s.

s3: an S3-only workspace of N files of 2 MB (random bytes, no inspection); after the first
release, --rounds rounds of: one file rewritten, the floor (`python -c` importing boto3 and
making one request to the same bucket), the release, then the release again with nothing
changed (after one untimed release after a change, so that every module's bytecode is cached,
as an installed publishkit's is). Prints each round, the ratios to the floor (targets: <= 1.5
for the incremental release and for the nothing-changed one; in wall time, and in CPU time:
user+sys of the command and of every process under it), the stages' seconds (`release
--format json`), the top of a cProfile of one more incremental release and of
`python -X importtime` of another.

Every command runs as a subprocess against a versioned bucket on a local S3 (moto, loopback),
from bytecode cached in a temporary folder (PYTHONPYCACHEPREFIX; PYTHONDONTWRITEBYTECODE is
dropped), as an installed publishkit runs.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from publishkit.sandbox.s3 import S3Sandbox  # noqa: E402
from tests.nwbfactory import write_nwb  # noqa: E402

TARGET = 0.15  # the release after one change, over the first (nwb)
FIRST_TARGET = 20.0  # seconds, the first release of the nwb part
FLOOR_TARGET = 1.5  # the S3-only releases over the floor
SIZE = 2 * 1024 * 1024
FLOOR = (
    "import os, boto3\n"
    "boto3.client('s3', region_name='us-west-2', endpoint_url=os.environ['AWS_ENDPOINT_URL'])"
    ".list_objects_v2(Bucket='incremental', MaxKeys=1)\n"
)
CONFIG = "project: incremental\ns3:\n  bucket: incremental\n  region: us-west-2\n"


CPU: list[float] = []  # the CPU seconds of the last command timed (it and its processes)


class TreeCpu:
    """The CPU seconds of a process and every process under it (forkserver workers are not
    the command's children, so rusage misses them): each one's last reading, every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.seen: dict[int, float] = {}
        self._process = psutil.Process(pid)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._done.is_set():
            try:
                tree = [self._process, *self._process.children(recursive=True)]
            except psutil.Error:
                tree = []
            for each in tree:
                try:
                    times = each.cpu_times()
                    self.seen[each.pid] = times.user + times.system
                except psutil.Error:
                    pass
            time.sleep(0.05)

    def stop(self) -> float:
        self._done.set()
        self._thread.join()
        return sum(self.seen.values())


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    tree = TreeCpu(process.pid)
    out, err = process.communicate()
    elapsed = time.perf_counter() - start
    polled = tree.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    waited = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    CPU[:] = [max(waited, polled)]  # the command's own (waited for), or its whole tree
    done = subprocess.CompletedProcess(command, process.returncode, out, err)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, done.stdout


def release(workspace: Path, env: dict[str, str], *args: str) -> float:
    command = [sys.executable, "-m", "publishkit", "release", "--quiet", *args]
    return timed(command, workspace, env)[0]


def release_json(
    workspace: Path, env: dict[str, str], *args: str
) -> tuple[float, dict[str, float]]:
    """The release's wall time and its stages' seconds."""
    command = [sys.executable, "-m", "publishkit", "release", "--format", "json", *args]
    elapsed, out = timed(command, workspace, env)
    return elapsed, json.loads(out).get("seconds", {})


def environment(tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra, "XDG_CACHE_HOME": str(tmp / "cache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def sessions(workspace: Path, paths: list[str]) -> None:
    lines = ["file_id,file_path,subject_id,session_id"]
    lines += [f"{n},{path},mouse-{n},ses-{n}" for n, path in enumerate(paths)]
    (workspace / "sessions.csv").write_text("\n".join(lines) + "\n")


def nwb_part(files: int, jobs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, S3Sandbox() as s3:
        info = s3.create_bucket("incremental", "us-west-2")
        workspace = Path(tmp) / "release"
        for n in range(files):
            write_nwb(
                workspace / "nwb" / f"s{n:04d}.nwb",
                session_id=f"ses-{n}",
                subject_id=f"mouse-{n}",
                samples=200,
            )
        sessions(workspace, [f"nwb/s{n:04d}.nwb" for n in range(files)])
        (workspace / "publishkit.yaml").write_text(
            CONFIG + "metadata_files:\n  sessions: sessions.csv\ninspection:\n  config: dandi\n"
        )
        env = environment(Path(tmp), info.environment())
        timed([sys.executable, "-m", "publishkit", "--version"], workspace, env)  # bytecode
        first = release(workspace, env, "--version", "1.0.0", "--jobs", str(jobs))
        first_cpu = CPU[0]
        write_nwb(
            workspace / "nwb" / "s0007.nwb", session_id="ses-7", subject_id="mouse-7", samples=300
        )  # one session re-exported with more samples
        second = release(workspace, env, "--bump", "minor", "--jobs", str(jobs))
        floor = release(workspace, env, "--bump", "minor", "--jobs", str(jobs))
        client = s3.client("us-west-2")
        versions = client.list_object_versions(Bucket="incremental").get("Versions", [])
        changed = sorted({v["Key"] for v in versions if not v["IsLatest"]})
    ratio = second / first
    print(f"nwb: {files} NWB files, inspection (dandi config), --jobs {jobs}, local S3")
    verdict = "met" if first <= FIRST_TARGET else "MISSED"
    print(
        f"  first release   {first:7.2f} s (target <= {FIRST_TARGET:.0f} s: {verdict}); "
        f"CPU {first_cpu:.1f} s (publishkit and its workers; load "
        f"{os.getloadavg()[0]:.1f})"
    )
    print(f"  after 1 change  {second:7.2f} s")
    print(f"  nothing changed {floor:7.2f} s")
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"  ratio           {ratio:7.3f} (target <= {TARGET}: {verdict})")
    print(f"  keys with a second version: {', '.join(changed) or 'none'}")


def s3_part(files: int, jobs: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, S3Sandbox() as s3:
        info = s3.create_bucket("incremental", "us-west-2")
        workspace = Path(tmp) / "release"
        (workspace / "data").mkdir(parents=True)
        paths = [f"data/s{n:04d}.nwb" for n in range(files)]  # not HDF5: bytes named .nwb
        for path in paths:
            (workspace / path).write_bytes(os.urandom(SIZE))
        sessions(workspace, paths)
        (workspace / "publishkit.yaml").write_text(
            CONFIG + "metadata_files:\n  sessions: sessions.csv\n"
        )
        env = environment(Path(tmp), info.environment())
        jobs_args = ("--jobs", str(jobs))
        first = release(workspace, env, "--version", "1.0.0", *jobs_args)
        floor_command = [sys.executable, "-c", FLOOR]
        timed(floor_command, workspace, env)  # boto3's bytecode cached, as for publishkit
        (workspace / paths[3]).write_bytes(os.urandom(SIZE))  # and the modules only a release
        release(workspace, env, "--bump", "minor", *jobs_args)  # after a change runs (untimed)
        rows = []
        cpus: list[list[float]] = []
        for n in range(rounds):
            (workspace / paths[(7 + 13 * n) % files]).write_bytes(os.urandom(SIZE))
            floor = timed(floor_command, workspace, env)[0]
            cpu = [CPU[0]]
            changed, stages = release_json(workspace, env, "--bump", "minor", *jobs_args)
            cpu.append(CPU[0])
            nothing, still = release_json(workspace, env, "--bump", "minor", *jobs_args)
            cpu.append(CPU[0])
            rows.append((floor, changed, nothing, stages, still))
            cpus.append(cpu)
        (workspace / paths[1]).write_bytes(os.urandom(SIZE))
        profile = Path(tmp) / "incremental.prof"
        command = ["-m", "cProfile", "-o", str(profile), "-m", "publishkit", "release"]
        timed([sys.executable, *command, "--quiet", "--bump", "minor", *jobs_args], workspace, env)
        top = top_of_profile(profile)
        (workspace / paths[2]).write_bytes(os.urandom(SIZE))
        command = ["-X", "importtime", "-m", "publishkit", "release", "--quiet", "--bump", "minor"]
        imports = top_imports(
            subprocess.run(
                [sys.executable, *command, *jobs_args],
                cwd=workspace,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stderr
        )
    print(f"s3: {files} files of {SIZE // 2**20} MB, S3 only, --jobs {jobs}, local S3")
    print(f"  first release {first:.2f} s")
    print("  round  floor   1 changed  nothing changed  (ratios to the floor; CPU seconds)")
    for n, ((floor, changed, nothing, _, _), cpu) in enumerate(zip(rows, cpus, strict=True), 1):
        print(
            f"  {n:5d}  {floor:5.2f} s  {changed:5.2f} s {changed / floor:4.2f}x"
            f"  {nothing:5.2f} s {nothing / floor:4.2f}x   CPU {cpu[0]:.2f} / {cpu[1]:.2f} "
            f"({cpu[1] / cpu[0]:.2f}x) / {cpu[2]:.2f} ({cpu[2] / cpu[0]:.2f}x)"
        )
    for label, column in (("1 changed", 1), ("nothing changed", 2)):
        ratios = [float(row[column]) / float(row[0]) for row in rows]  # type: ignore[arg-type]
        in_cpu = [cpu[column] / cpu[0] for cpu in cpus]
        verdict = "met" if statistics.median(ratios) <= FLOOR_TARGET else "MISSED"
        print(
            f"  {label}: median {statistics.median(ratios):.2f}x the floor, "
            f"{min(ratios):.2f}-{max(ratios):.2f}x (target <= {FLOOR_TARGET}: {verdict}); "
            f"in CPU time median {statistics.median(in_cpu):.2f}x, "
            f"{min(in_cpu):.2f}-{max(in_cpu):.2f}x"
        )
    print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  stages, 1 changed (last round): {rows[-1][3]}")
    print(f"  stages, nothing changed (last round): {rows[-1][4]}")
    print("  cProfile of one more incremental release (cumulative s, publishkit's calls):")
    for line in top:
        print(f"    {line}")
    print("  python -X importtime of one more (s, by package, each module's own time):")
    for line in imports:
        print(f"    {line}")
    print(
        "  (every command runs from bytecode cached by the runs before it: PYTHONDONTWRITEBYTECODE"
        " unset, PYTHONPYCACHEPREFIX in the temporary folder, for the floor as for publishkit)"
    )


def top_of_profile(path: Path, count: int = 12) -> list[str]:
    """The publishkit functions that took the most time (with what they called), and the total."""
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]
    total = max(cumulative for _, _, _, cumulative, _ in entries.values())
    found = []
    for (file, _, name), (_, _, _, cumulative, _) in entries.items():
        if "/publishkit/" in file and "/cli/" not in file and name != "<module>":
            found.append((cumulative, f"{Path(file).parent.name}/{Path(file).name}:{name}"))
    found.sort(reverse=True)
    lines = [f"{total:6.2f} s  the whole run, under the profiler"]
    lines += [f"{seconds:6.2f} s  {where}" for seconds, where in found[:count]]
    return lines


def top_imports(report: str, count: int = 10) -> list[str]:
    """What the imports cost, by package (each module's own time, summed by its top-level
    package: boto3 and botocore apart), from `python -X importtime`'s report; and in all."""
    by_package: dict[str, int] = {}
    for found in re.finditer(r"^import time:\s+(\d+) \|\s+\d+ \| +(\S+)$", report, re.M):
        package = found.group(2).split(".")[0]
        by_package[package] = by_package.get(package, 0) + int(found.group(1))
    ranked = sorted(by_package.items(), key=lambda item: -item[1])
    lines = [f"{sum(by_package.values()) / 1e6:6.2f} s  every import"]
    lines += [f"{us / 1e6:6.2f} s  {package}" for package, us in ranked[:count]]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("nwb", "s3", "both"), default="both")
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.part in ("s3", "both"):
        s3_part(args.files, args.jobs, args.rounds)
    if args.part in ("nwb", "both"):
        nwb_part(args.files, args.jobs)


if __name__ == "__main__":
    main()
