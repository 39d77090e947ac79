"""publishkit inspect vs the nwbinspector CLI: wall time cold and warm, and the same findings.

    python benchmarks/inspect_speed.py [--generated 60] [--jobs 2] [--repeat 1]

Copies the real corpus (../shared/corpus/real-nwb, or --corpus) into a temporary folder with
--generated small NWB files from tests/nwbfactory.py (distinct session and subject ids), then
times as subprocesses, with config dandi and the same number of jobs (best of --repeat):
`nwbinspector FOLDER --config dandi --n-jobs N`; `publishkit inspect FOLDER --config dandi
--jobs N` cold (a fresh, empty XDG_CACHE_HOME for every repeat, run outside any workspace); and
the same warm (the cache of the last cold run, nothing changed). Targets: cold <= 0.40 and
warm <= 0.05 of nwbinspector's time. The nwbinspector findings must be the same: the multisets
of (file name, importance, check, location, message) over publishkit's messages from source
nwbinspector and all of nwbinspector's messages (ERROR messages compared without their text,
a traceback). nwbinspector 0.7.2 cannot run `--config` with `--n-jobs` > 1 (its configured
checks do not pickle: nwbinspector#436); then the baseline is N concurrent `--n-jobs 1` runs
over N shards of the files (hard links), and check_unique_identifiers, which needs every file
in one run, is left out of the comparison. --publishkit CMD times another command in
publishkit's place (e.g. a patched prototype). Exits 1 when a tool fails or findings differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus" / "real-nwb"
CONFIG = "dandi"
COLD_TARGET = 0.40
WARM_TARGET = 0.05
UNIQUE_IDENTIFIERS = "check_unique_identifiers"
PICKLE_BUG = ("Can't pickle local object", "Can't get local object")

Key = tuple[str, str, str, str | None, str | None]


class ToolFailed(Exception):
    pass


def executable(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name}: not found beside {sys.executable} or on PATH")
    return found


def build_folder(root: Path, corpus: Path, generated: int) -> tuple[Path, int]:
    """root/nwb: a writable copy of the corpus plus `generated` files; (folder, file count)."""
    sys.path.insert(0, str(REPO))
    from tests.nwbfactory import write_nwb

    folder = root / "nwb"
    shutil.copytree(corpus, folder / "corpus")
    for path in folder.rglob("*"):
        path.chmod(path.stat().st_mode | 0o200)
    for index in range(generated):
        write_nwb(
            folder / "generated" / f"gen-{index:03d}.nwb",
            session_id=f"ses-{index:03d}",
            subject_id=f"mouse-{index:03d}",
        )
    names = [p.name for p in folder.rglob("*.nwb")]
    if len(names) != len(set(names)):
        raise SystemExit("file names must be unique: findings are compared by file name")
    return folder, len(names)


def run(cmd: list[str], *, cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode not in ok:
        raise ToolFailed(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return seconds


def nwbinspector_cli(
    folder: Path, work: Path, jobs: int, repeat: int, env: dict[str, str]
) -> tuple[float, list[dict[str, Any]], str]:
    """(best seconds, messages, how it ran): one run with --n-jobs, or shards if that crashes."""
    report = work / "nwbinspector.json"
    cmd = [executable("nwbinspector"), str(folder), "--config", CONFIG, "--n-jobs", str(jobs)]
    cmd += ["--json-file-path", str(report), "--overwrite", "--progress-bar", "False"]
    try:
        best = min(run(cmd, cwd=work, env=env) for _ in range(repeat))
        return best, json.loads(report.read_text())["messages"], f"--n-jobs {jobs}"
    except ToolFailed as exc:
        if jobs == 1 or not any(bug in str(exc) for bug in PICKLE_BUG):
            raise
    best, messages = sharded(folder, work, jobs, repeat, env)
    how = f"{jobs} shards x --n-jobs 1 (--n-jobs {jobs} crashes: nwbinspector#436)"
    return best, messages, how


def sharded(
    folder: Path, work: Path, jobs: int, repeat: int, env: dict[str, str]
) -> tuple[float, list[dict[str, Any]]]:
    """`jobs` concurrent nwbinspector runs, each on every jobs-th file (hard links)."""
    files = sorted(folder.rglob("*.nwb"))
    shards = [work / "shards" / f"shard-{i}" for i in range(jobs)]
    for index, path in enumerate(files):
        target = shards[index % jobs] / path.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, target)
    reports = [work / f"nwbinspector-shard-{i}.json" for i in range(jobs)]
    base = [executable("nwbinspector"), "--config", CONFIG, "--n-jobs", "1", "--overwrite"]
    base += ["--progress-bar", "False"]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [*base, str(shard), "--json-file-path", str(out)],
                cwd=work,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for shard, out in zip(shards, reports, strict=True)
        ]
        errors = [(p.args, p.communicate()[1], p.returncode) for p in procs]
        times.append(time.perf_counter() - start)
        for args, stderr, code in errors:
            if code != 0:
                raise ToolFailed(f"{' '.join(args)}: exit {code}\n{stderr[-3000:]}")
    messages = [m for out in reports for m in json.loads(out.read_text())["messages"]]
    return min(times), messages


def publishkit_inspect(
    command: list[str],
    folder: Path,
    work: Path,
    jobs: int,
    cache: Path,
    env: dict[str, str],
    report: Path,
) -> float:
    """One run outside any workspace, its cache in `cache`; exit 1 only means findings failed."""
    cmd = [*command, "inspect", str(folder), "--config", CONFIG]
    cmd += ["--jobs", str(jobs), "--format", "json", "--output", str(report)]
    seconds = run(cmd, cwd=work, env={**env, "XDG_CACHE_HOME": str(cache)}, ok=(0, 1))
    if not report.is_file():
        raise ToolFailed(f"{' '.join(cmd)}: wrote no report")
    return seconds


def findings(messages: list[dict[str, Any]], *, skip_unique: bool) -> Counter[Key]:
    return Counter(
        (
            Path(m["file_path"]).name,
            m["importance"],
            m["check_function_name"],
            m["location"],
            None if m["importance"] == "ERROR" else m["message"],
        )
        for m in messages
        if not (skip_unique and m["check_function_name"] == UNIQUE_IDENTIFIERS)
    )


def from_nwbinspector(report: Path) -> list[dict[str, Any]]:
    return [m for m in json.loads(report.read_text())["messages"] if m["source"] == "nwbinspector"]


def differences(want: Counter[Key], got: Counter[Key], limit: int = 10) -> list[str]:
    lines = [f"  only nwbinspector: {k}" for k in (want - got)]
    lines += [f"  only publishkit:   {k}" for k in (got - want)]
    return lines[:limit] + ([f"  ... {len(lines) - limit} more"] if len(lines) > limit else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--publishkit",
        type=shlex.split,
        default=None,
        help="the command to time instead of the installed publishkit, e.g. 'python -m mod'",
    )
    args = parser.parse_args()
    publishkit = args.publishkit or [executable("publishkit")]
    if args.repeat < 1 or args.jobs < 1:
        parser.error("--repeat and --jobs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="inspect-speed-") as tmp:
        root = Path(tmp)
        folder, n_files = build_folder(root, args.corpus, args.generated)
        work = root / "work"  # the subprocesses' cwd: no publishkit.yaml, so no workspace
        work.mkdir()
        env = {**os.environ, "XDG_CACHE_HOME": str(root / "xdg-nwbinspector")}
        load_before = os.getloadavg()[0]
        try:
            for command in ([executable("nwbinspector")], publishkit):  # warm the file cache
                run([*command, "--help"], cwd=work, env=env)
            base, messages, how = nwbinspector_cli(folder, work, args.jobs, args.repeat, env)
            cold_times = []
            for index in range(args.repeat):
                cache = root / f"cache-cold-{index}"
                cold_report = work / "publishkit-cold.json"
                cold_times.append(
                    publishkit_inspect(publishkit, folder, work, args.jobs, cache, env, cold_report)
                )
            warm_report = work / "publishkit-warm.json"
            warm = min(
                publishkit_inspect(publishkit, folder, work, args.jobs, cache, env, warm_report)
                for _ in range(args.repeat)
            )
        except ToolFailed as exc:
            print(f"tool failed: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        cold = min(cold_times)
        skip = "shards" in how
        want = findings(messages, skip_unique=skip)
        got_cold = findings(from_nwbinspector(cold_report), skip_unique=skip)
        got_warm = findings(from_nwbinspector(warm_report), skip_unique=skip)
        from_cache = json.loads(warm_report.read_text())["header"]["files_from_cache"]
    load = (
        f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after (other work skews"
    )
    width = 28
    print(
        f"{n_files} files ({args.generated} generated), config {CONFIG}, --jobs {args.jobs}, "
        f"best of {args.repeat}, {os.cpu_count()} cores"
    )
    print(f"{'':<{width}} {'wall s':>8} {'ratio':>6}  target")
    print(f"{'nwbinspector CLI':<{width}} {base:8.2f}")
    for name, seconds, target in (("cold", cold, COLD_TARGET), ("warm", warm, WARM_TARGET)):
        ratio = seconds / base
        verdict = "met" if ratio <= target else "MISSED"
        label = f"publishkit inspect, {name}"
        print(f"{label:<{width}} {seconds:8.2f} {ratio:6.3f}  <= {target:.2f} {verdict}")
    print(f"nwbinspector ran as {how}; publishkit as {shlex.join(publishkit)}")
    print(f"warm run: {from_cache}/{n_files} files from cache; {load} the times)")
    matched = want == got_cold and want == got_warm
    scope = f"{sum(want.values())} messages" + (f", {UNIQUE_IDENTIFIERS} left out" if skip else "")
    print(f"nwbinspector findings: {'match' if matched else 'DIFFER'} ({scope})")
    for label, got in (("cold", got_cold), ("warm", got_warm)):
        if got != want:
            print(f"publishkit {label} vs nwbinspector:", *differences(want, got), sep="\n")
    if not matched:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
