"""Manifests and release notes at scale: build, validate and diff N entries, against AllenSDK.

    python benchmarks/notes_scale.py [--files 300000] [--repeat 2] [--allensdk-python PATH]

Generates the manifests of two releases of a workspace of N data files (plus a few metadata
tables) through publishkit's own release code (`draft_manifest`, as `publishkit release`
drafts one), the second one realistically different from the first: 1% of the files created,
0.5% deleted, 1% re-exported (new hash), 0.5% renamed, two tables edited and one added. Both
are written to a temporary folder, then it times (best of --repeat, in this process, each run
after a garbage collection):

  build     drafting the second manifest as a release does (`draft_manifest` against the
            first: URLs, carried-over versions), filling in the version ids S3 would return
            for what it uploads, and `manifest.write_local` (validate, serialize, fsync)
  validate  `manifest.load` of the second file: read, parse, validate (`publishkit manifest
            validate`)
  diff      `publishkit notes OLD NEW`'s work: `manifest_pair.read_pair` of both files (OLD read
            in a forked child process while this one reads NEW, as the command does),
            the comparison of the entries that differ and `render_markdown`; wall time, and
            CPU time of this process and the child together
  AllenSDK  `compare_manifests(OLD, NEW)` of AllenSDK's own cache class for a local folder
            (`LocalCache`, whose `compare_manifests`, `_load_manifest` and `_detect_changes`
            are those `S3CloudCache` inherits: it loads both JSON files into `Manifest`s,
            detects the changes and builds the message), run with AllenSDK's venv; the time
            (best of --repeat too) is taken inside that subprocess, without interpreter
            start-up and imports (its wall time with them, and all runs, is shown too)

Also shown: json.loads and orjson.loads of both files alone (the floor of either side's diff),
the diff's stages one by one, in one process (read; msgspec's typed decode alone; that decode
with the schema's patterns, the rest of the schema and the URLs' shapes; the paths' clashes; the
entries' fingerprints and the comparison of those that differ; the Markdown) and `publishkit
notes --format allensdk`'s work (both files read in this process). Targets: each
publishkit step under 5 s, the diff under 2 s and diff / AllenSDK <= 0.2 (issue 23). It fails
loudly unless publishkit's `allensdk_text` is AllenSDK's message, character for character, and
`compare` finds exactly the changes made.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import json
import os
import random
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from publishkit.formats import manifest, manifest_decoder
from publishkit.formats.changes import allensdk_text
from publishkit.formats.comparison import compare_manifests
from publishkit.formats.notes import render_markdown
from publishkit.release import manifest_pair
from publishkit.release.draft import draft_manifest
from publishkit.workspace.config import S3Settings, Settings
from publishkit.workspace.digests import FileDigests
from publishkit.workspace.inventory import ReleaseFile

STEP_TARGET = 5.0
DIFF_TARGET = 2.0
RATIO_TARGET = 0.2
PROJECT = "scale-demo"
# AllenSDK's Python, in a venv of its own (`bash .ci/allensdk-venv.sh DIR`), as .ci/run sets it
ALLENSDK_PYTHON = os.environ.get("PUBLISHKIT_ALLENSDK_PYTHON")
SHARE = {"deleted": 0.005, "changed": 0.01, "renamed": 0.005, "created": 0.01}

# Runs in AllenSDK's venv (`python -I`: publishkit is not importable there). Prints one JSON
# object: the shortest time `compare_manifests` took in `repeat` runs (each after a garbage
# collection), its text and AllenSDK's version.
ALLENSDK_SIDE = """
import gc, importlib.util, json, sys, time, warnings
assert importlib.util.find_spec("publishkit") is None, "publishkit is importable here"
import allensdk
from allensdk.api.cloud_cache.cloud_cache import LocalCache
cache_dir, project, old, new, repeat = sys.argv[1:6]
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    cache = LocalCache(cache_dir, project)
assert {old, new} <= set(cache.manifest_file_names), cache.manifest_file_names
times, cpu = [], []
for _ in range(int(repeat)):
    text = None
    gc.collect()
    start, start_cpu = time.perf_counter(), time.process_time()
    text = cache.compare_manifests(old, new)
    times.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
json.dump(
    {"seconds": min(times), "cpu": min(cpu), "text": text, "allensdk": allensdk.__version__},
    sys.stdout,
)
"""


@dataclass
class Workspace:
    """What a release of the workspace sees: its files and their digests."""

    files: list[ReleaseFile]
    digests: dict[str, FileDigests]


def digests_of(relpath: str, revision: int) -> FileDigests:
    content = f"{relpath} r{revision}".encode()
    size = 50_000_000 + int.from_bytes(hashlib.md5(content).digest()[:3], "big")
    return FileDigests(
        size, hashlib.blake2b(content).hexdigest(), hashlib.sha256(content).hexdigest()
    )


def data_file(n: int, root: Path, suffix: str = "") -> ReleaseFile:
    relpath = f"nwb/sub-{n // 4:06d}/sub-{n // 4:06d}_ses-{n:07d}{suffix}.nwb"
    return ReleaseFile("data", str(n), relpath, root / relpath)


def table(name: str, root: Path) -> ReleaseFile:
    return ReleaseFile("metadata", name, f"project_metadata/{name}.csv", root / f"{name}.csv")


def first_workspace(count: int, root: Path) -> Workspace:
    files = [table(name, root) for name in ("sessions", "subjects", "units")]
    files += sorted((data_file(n, root) for n in range(count)), key=lambda f: f.relpath)
    return Workspace(files, {f.relpath: digests_of(f.relpath, 0) for f in files})


def next_workspace(before: Workspace, count: int, seed: int) -> tuple[Workspace, Counter[str]]:
    """`before` one release later, and how many changes of each "group kind" were made."""
    sizes = {kind: round(count * share) for kind, share in SHARE.items()}
    data = [f.relpath for f in before.files if f.group == "data"]
    picked = iter(
        random.Random(seed).sample(data, sizes["deleted"] + sizes["changed"] + sizes["renamed"])
    )
    chosen = {
        kind: {next(picked) for _ in range(sizes[kind])}
        for kind in ("deleted", "changed", "renamed")
    }
    root = before.files[0].path.parent
    files = [table("probes", root)]  # a new table
    revision = {}
    for item in before.files:
        if item.relpath in chosen["deleted"]:
            continue
        if item.relpath in chosen["renamed"]:  # same content, new name
            moved = data_file(int(item.name), root, "_ecephys")
            revision[moved.relpath] = before.digests[item.relpath]
            files.append(moved)
            continue
        edited = item.group == "metadata" and item.name in ("sessions", "units")
        if item.relpath in chosen["changed"] or edited:
            revision[item.relpath] = digests_of(item.relpath, 1)  # re-exported / rows edited
        files.append(item)
    files += [data_file(n, root) for n in range(count, count + sizes["created"])]
    files.sort(key=lambda f: (f.group != "metadata", f.relpath))
    digests = {
        f.relpath: revision.get(f.relpath)
        or before.digests.get(f.relpath)
        or digests_of(f.relpath, 0)
        for f in files
    }
    made = Counter({"metadata changed": 2, "metadata created": 1})
    made.update({f"data {kind}": n for kind, n in sizes.items()})
    return Workspace(files, digests), made


def fake_version_id(relpath: str, digest: str) -> str:
    """An S3-like version id (32 URL-safe characters)."""
    raw = hashlib.blake2b(f"{relpath}:{digest}".encode(), digest_size=24).digest()
    return base64.urlsafe_b64encode(raw).decode()


def settings_for(root: Path) -> Settings:
    return Settings(
        workspace=root,
        project=PROJECT,
        s3_settings=S3Settings(bucket="scale-demo-data", prefix=PROJECT, region="us-west-2"),
        metadata_files=(),
    )


def build(
    settings: Settings, after: Workspace, previous: dict[str, Any] | None, version: str, path: Path
) -> None:
    """A release's manifest: drafted against the previous one, the version ids of the files it
    uploads pinned as the upload step does, then written by `manifest.write_local`."""
    draft = draft_manifest(settings, after.files, after.digests, previous, {})
    for item in draft.pending():
        entry = draft.entry(item)
        draft.pin(item, fake_version_id(entry["path"], entry["file_hash"]))
    manifest.write_local(path, dict(draft.versioned(version)))


def cpu_best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """The least CPU time of `repeat` runs (steadier than the wall clock on a loaded machine),
    and what the function returned."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        result = func()
        times.append(time.process_time() - start)
    return min(times), result


def _cpu_with_children() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def wall_and_cpu_best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, float, Any]:
    """The shortest wall time and the least CPU time (this process and the child processes it
    waited for) of `repeat` runs, and what the function returned."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        gc.collect()
        start, start_cpu = time.perf_counter(), _cpu_with_children()
        result = func()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu_with_children() - start_cpu)
    return min(walls), min(cpus), result


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of `repeat` runs (each after a garbage collection), and what it returned."""
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def publishkit_notes(old: Path, new: Path) -> str:
    """What `publishkit notes OLD NEW` computes before printing it."""
    pair = manifest_pair.read_pair(old, new)
    return render_markdown(pair.compared(old.name, new.name))


def diff_stages(old: Path, new: Path, repeat: int) -> dict[str, float]:
    """publishkit_notes's work stage by stage, both manifests each: least CPU time of `repeat`."""
    paths = (old, new)
    found: dict[str, float] = {}
    found["read"], data = cpu_best_of(repeat, lambda: [p.read_bytes() for p in paths])
    found["msgspec decode alone"], _ = cpu_best_of(
        repeat, lambda: [manifest_decoder._DECODER.decode(d) for d in data]
    )
    found["decode + all checks"], decoded = cpu_best_of(
        repeat, lambda: [manifest_decoder.decode(d) for d in data]
    )
    if None in decoded:
        raise SystemExit("the typed decoder did not vouch for a manifest the release wrote")
    documents = [d.document for d in decoded if d is not None]
    places = [d.clean_paths for d in decoded if d is not None]
    found["paths' clashes"], _ = cpu_best_of(
        repeat,
        lambda: [
            manifest._check_places(
                d, "x", [*d["metadata_files"].values(), *d["data_files"].values()], p
            )
            for d, p in zip(documents, places, strict=True)
        ],
    )
    found["fingerprint, compare"], comparison = cpu_best_of(
        repeat, lambda: manifest_pair.paired(*documents).compared(old.name, new.name)
    )
    found["render markdown"], _ = cpu_best_of(repeat, lambda: render_markdown(comparison))
    return found


def publishkit_allensdk(old: Path, new: Path) -> str:
    """What `publishkit notes OLD NEW --format allensdk` computes before printing it."""
    return allensdk_text(manifest.load(old), manifest.load(new), old.name, new.name)


def allensdk_compare(
    python: Path, folder: Path, old: Path, new: Path, repeat: int
) -> dict[str, Any]:
    """AllenSDK's result, plus `wall`: the subprocess's time with start-up and imports."""
    start = time.perf_counter()
    names = [old.name, new.name, str(repeat)]
    done = subprocess.run(
        [str(python), "-I", "-c", ALLENSDK_SIDE, str(folder), PROJECT, *names],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"AllenSDK's compare_manifests failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return {**result, "wall": time.perf_counter() - start}


def check_same_changes(old: Path, new: Path, ours: str, theirs: str, made: Counter[str]) -> int:
    """Fail loudly unless publishkit's AllenSDK text is AllenSDK's, and both `compare` of the
    whole manifests and the notes' comparison (OLD read in a child) find the changes the
    benchmark made; the number of changes."""
    if ours != theirs:
        diff = set(ours.splitlines()) ^ set(theirs.splitlines())
        raise SystemExit(f"publishkit's allensdk_text differs from AllenSDK's: {sorted(diff)[:10]}")
    before, after = manifest.load(old), manifest.load(new)
    whole = compare_manifests(before, after, None, "").changes
    found = Counter(f"{c.group} {c.kind}" for c in whole)
    if found != made:
        raise SystemExit(f"publishkit found {dict(found)}, the benchmark made {dict(made)}")
    if manifest_pair.read_pair(old, new).compared("", "").changes != whole:
        raise SystemExit("the notes' comparison differs from compare of the whole manifests")
    return sum(found.values())


def verdict(seconds: float, target: float, strict: bool = True) -> str:
    ok = seconds < target if strict else seconds <= target
    return "met" if ok else "MISSED"


def time_build(args: argparse.Namespace, old: Path, new: Path) -> tuple[float, Counter[str]]:
    """Writes the first release's manifest (untimed), then times the second one's build."""
    root = old.parent.parent / "workspace"
    settings = settings_for(root)
    first = first_workspace(args.files, root)
    build(settings, first, None, "1.0.0", old)
    second, made = next_workspace(first, args.files, args.seed)
    del first
    previous = manifest.load(old)  # a release reads it from the bucket
    seconds, _ = best_of(args.repeat, lambda: build(settings, second, previous, "2.0.0", new))
    return seconds, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--allensdk-python",
        type=Path,
        default=Path(ALLENSDK_PYTHON) if ALLENSDK_PYTHON else None,
        help="AllenSDK's python (default: $PUBLISHKIT_ALLENSDK_PYTHON)",
    )
    args = parser.parse_args()
    if args.allensdk_python is None or not args.allensdk_python.is_file():
        parser.error(
            "no AllenSDK python to compare with: set PUBLISHKIT_ALLENSDK_PYTHON or pass "
            "--allensdk-python (make one with `bash .ci/allensdk-venv.sh DIR`)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "manifests"
        old = folder / manifest.manifest_name(PROJECT, "1.0.0")
        new = folder / manifest.manifest_name(PROJECT, "2.0.0")
        build_s, made = time_build(args, old, new)
        validate_s, _ = best_of(args.repeat, lambda: manifest.load(new))
        diff_s, diff_cpu, _ = wall_and_cpu_best_of(args.repeat, lambda: publishkit_notes(old, new))
        parse_s, _ = best_of(args.repeat, lambda: [json.loads(p.read_bytes()) for p in (old, new)])
        orjson_s, _ = best_of(
            args.repeat, lambda: [orjson.loads(p.read_bytes()) for p in (old, new)]
        )
        stages = diff_stages(old, new, args.repeat)
        text_s, ours = best_of(args.repeat, lambda: publishkit_allensdk(old, new))
        allensdk = allensdk_compare(args.allensdk_python, folder, old, new, args.repeat)
        changes = check_same_changes(old, new, ours, allensdk["text"], made)
        sizes = [path.stat().st_size / 1e6 for path in (old, new)]
    ratio = diff_s / allensdk["seconds"]
    print(
        f"{args.files} data files (+3/4 tables); manifests of {sizes[0]:.0f} and {sizes[1]:.0f} MB"
        f" with {changes} changes between them; {os.cpu_count()} cores, best of {args.repeat};"
        f" load average {' '.join(f'{n:.1f}' for n in os.getloadavg())} at the end"
    )
    for label, seconds, goal in (
        ("build + write", build_s, STEP_TARGET),
        ("load + validate", validate_s, STEP_TARGET),
        ("diff (notes), wall", diff_s, DIFF_TARGET),
    ):
        report(
            f"publishkit {label}",
            seconds,
            f"target < {goal:.0f} s: {verdict(seconds, goal)}",
        )
    report("  the same in CPU time", diff_cpu, "this process and the child reading OLD")
    for stage, seconds in stages.items():
        report(f"  diff stage: {stage}", seconds, "both manifests, CPU time")
    report("  json.loads of both files alone", parse_s, "part of either side's diff")
    report("  orjson.loads of both files alone", orjson_s, "the floor of publishkit's diff")
    report("  notes --format allensdk", text_s, "load both + allensdk_text")
    report(
        f"AllenSDK {allensdk['allensdk']} compare_manifests",
        allensdk["seconds"],
        f"subprocess: {allensdk['wall']:.2f} s with start-up, imports, {args.repeat} runs",
    )
    target = f"target <= {RATIO_TARGET}: {verdict(ratio, RATIO_TARGET, strict=False)}"
    print(f"{'diff ratio publishkit / AllenSDK':<34} {ratio:6.3f}    ({target})")
    cpu_ratio = diff_cpu / allensdk["cpu"]
    print(
        f"{'  the same in CPU time':<34} {cpu_ratio:6.3f}    ({diff_cpu:.2f} s / "
        f"{allensdk['cpu']:.2f} s, both processes: steadier when other work shares the cores)"
    )
    print("same changes as AllenSDK: yes (allensdk_text == compare_manifests's text)")


def report(label: str, seconds: float, note: str) -> None:
    print(f"{label:<34} {seconds:6.2f} s  ({note})")


if __name__ == "__main__":
    main()
