"""Release notes that say what changed inside, at scale, against today's file-by-file notes.

    python benchmarks/notes_contents_scale.py [--files 300000] [--repeat 2] [--summary ecephys]

Two releases of a workspace of N NWB data files, made as `notes_scale.py` makes them (1% of the
files created, 0.5% deleted, 1% re-exported, 0.5% renamed), whose sessions table has one row per
file (N rows, ten columns): in the second release the deleted files' rows are gone, the created
files' rows added, the renamed files' paths changed and 1% of the sessions' `session_type`
corrected. Each release publishes the summaries of its N NWB files (`--summary`: a realistic
summary of a file of the `ecephys-units` template, about 1.6 kB, or of `timeseries`, about
0.6 kB), the re-exported files' summaries changed (the subject's age, the units' row count).
Everything is written to a temporary folder as a release writes it (manifests, tables,
summaries), then it times, best of --repeat, each run after a garbage collection:

  files     today's `publishkit notes OLD NEW`: both manifests loaded and validated,
            `compare_manifests`, `render_markdown`
  contents  the same notes with what changed inside: both manifests loaded and validated,
            `compare_manifests`, both versions of the sessions table read and diffed by key,
            both releases' summaries documents read and validated, the changed files'
            summaries decoded, checked and diffed (`with_contents`, as `publishkit notes` does
            with the bytes the bucket returns), `render_markdown`

Target: contents / files <= 2. It fails loudly unless the notes find exactly the row, cell and
NWB changes it made.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from notes_scale import (
    PROJECT,
    Workspace,
    build,
    data_file,
    first_workspace,
    next_workspace,
    settings_for,
)

from publishkit.formats import manifest
from publishkit.formats.comparison import Comparison, compare_manifests
from publishkit.formats.content_changes import with_contents
from publishkit.formats.jsonio import dumps
from publishkit.formats.notes import render_markdown
from publishkit.formats.summaries import (
    content_key,
    encode,
    parse_summaries,
    summaries_document,
)
from publishkit.formats.table_diff import TableDiff
from publishkit.local_files import write_atomic
from publishkit.workspace.digests import FileDigests

RATIO_TARGET = 2.0
HEADER = "file_id,file_path,session_id,subject_id,session_type,age_in_days,sex,genotype,date,rig"
TYPES = [f"OPHYS_{n}" for n in range(1, 7)]


def ecephys_summary(n: int, age: str, units: int) -> dict[str, Any]:
    """What publishkit summarizes of a file made by the ecephys-units template (two probes)."""
    probes = ("probeA", "probeB")
    return {
        "session": {
            "identifier": hashlib.md5(str(n).encode()).hexdigest(),
            "session_description": "Change detection task with natural images while recording "
            "with two Neuropixels probes.",
            "session_id": str(n),
            "session_start_time": "2020-08-19T15:37:05-07:00",
        },
        "subject": {
            "age": age,
            "description": f"Mouse {n // 4}",
            "genotype": "wt/wt",
            "sex": "M",
            "species": "Mus musculus",
            "strain": "C57BL/6J",
            "subject_id": str(n // 4),
        },
        "devices": {p: {"description": f"Neuropixels 1.0 probe {p}."} for p in probes},
        "electrode_groups": {
            p: {"description": f"Recording channels of {p}.", "device": p, "location": "VISp"}
            for p in probes
        },
        "objects": {
            "general/extracellular_ephys/electrodes": {
                "columns": ["location", "group", "group_name", "x", "y", "z", "imp", "filtering"],
                "rows": 768,
                "type": "ElectrodesTable",
            },
            "units": {
                "columns": ["quality", "snr", "firing_rate", "amplitude", "spike_times"],
                "rows": units,
                "type": "Units",
            },
        },
    }


def timeseries_summary(n: int, age: str, units: int) -> dict[str, Any]:
    """What publishkit summarizes of a file made by the timeseries template."""
    return {
        "session": {
            "identifier": hashlib.md5(str(n).encode()).hexdigest(),
            "session_description": "Free exploration in the home cage.",
            "session_id": str(n),
            "session_start_time": "2023-04-03T10:15:00-07:00",
        },
        "subject": {"age": age, "sex": "F", "species": "Mus musculus", "subject_id": str(n // 4)},
        "objects": {
            "acquisition/temperature": {"type": "TimeSeries", "shape": [3600], "dtype": "float64"},
            "processing/behavior/accelerometer": {
                "type": "TimeSeries",
                "shape": [units, 3],
                "dtype": "float64",
                "unit": "g",
                "rate": 100.0,
            },
        },
    }


SUMMARIES: dict[str, Callable[[int, str, int], dict[str, Any]]] = {
    "ecephys": ecephys_summary,
    "timeseries": timeseries_summary,
}


def table_rows(ws: Workspace, types: Mapping[str, str]) -> bytes:
    """The sessions table of a release: one row per data file, by its id."""
    lines = [HEADER]
    for item in ws.files:
        if item.group != "data":
            continue
        n = int(item.name)
        lines.append(
            f"{n},{item.relpath},{n},{n // 4},{types[item.name]},{90 + n % 50},M,wt/wt,"
            f"2020-08-{1 + n % 28:02d},NP.{n % 7}"
        )
    return ("\n".join(lines) + "\n").encode()


def with_table(ws: Workspace, data: bytes, folder: Path, version: str) -> Workspace:
    """`ws` whose sessions table holds `data` (written to `folder`), digests and all."""
    path = folder / f"sessions_v{version}.csv"
    write_atomic(path, data)
    digest = FileDigests(
        len(data), hashlib.blake2b(data).hexdigest(), hashlib.sha256(data).hexdigest()
    )
    relpath = "project_metadata/sessions.csv"
    return Workspace(ws.files, {**ws.digests, relpath: digest})


def summaries_file(
    ws: Workspace, make: Callable[[int, str, int], dict[str, Any]], edited: set[str], path: Path
) -> None:
    """The summaries document of a release: each NWB file's summary by content (the edited
    ones' subject a day older, with fewer units)."""
    files = {}
    for item in ws.files:
        if item.group == "data":
            n = int(item.name)
            summary = make(n, "P91D", 298) if item.relpath in edited else make(n, "P90D", 312)
            files[content_key(ws.digests[item.relpath].blake2b)] = encode(summary)
    version = path.stem.rpartition("_v")[2]
    document = summaries_document(PROJECT, version, {"sessions": ("session_id",)}, files)
    write_atomic(path, dumps(document))


def files_notes(old: Path, new: Path) -> str:
    """What `publishkit notes OLD NEW --files-only` computes before printing it."""
    before, after = manifest.load(old), manifest.load(new)
    return render_markdown(compare_manifests(before, after, old.name, new.name))


def contents_notes(old: Path, new: Path, folder: Path) -> tuple[str, Comparison]:
    """What `publishkit notes OLD NEW` computes, the bucket's bytes read from `folder`."""
    before, after = manifest.load(old), manifest.load(new)
    comparison = compare_manifests(before, after, old.name, new.name)
    docs = [folder / f"{PROJECT}_summaries_v{d['manifest_version']}.json" for d in (before, after)]
    summaries = [parse_summaries(p.read_bytes(), p.name) for p in docs]

    def table(version: str) -> Callable[[str, Mapping[str, Any]], bytes]:
        return lambda name, entry: (folder / f"{name}_v{version}.csv").read_bytes()

    detailed = with_contents(
        comparison,
        before,
        after,
        read_old=table(before["manifest_version"]),
        read_new=table(after["manifest_version"]),
        old_summaries=summaries[0],
        new_summaries=summaries[1],
        keys=summaries[1].keys,
    )
    return render_markdown(detailed), detailed


def best_of(repeat: int, func: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        result = None
        gc.collect()
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def check(detailed: Comparison, made: dict[str, int]) -> TableDiff:
    """Fail loudly unless the notes found exactly the changes made."""
    (table,) = detailed.tables or ()
    found = {
        "rows added": len(table.rows_added),
        "rows removed": len(table.rows_removed),
        "session_type": sum(c.column == "session_type" for c in table.cells),
        "file_path": sum(c.column == "file_path" for c in table.cells),
        "nwb files": len(detailed.nwb_files or ()),
    }
    if found != made:
        raise SystemExit(f"the notes found {found}, the benchmark made {made}")
    for diff in detailed.nwb_files or ():
        fields = [(c.section, c.field, c.old, c.new) for c in diff.changes]
        if ("subject", "age", "P90D", "P91D") not in fields:
            raise SystemExit(f"{diff.path}: the notes found {fields}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--summary", choices=sorted(SUMMARIES), default="ecephys")
    args = parser.parse_args()
    make = SUMMARIES[args.summary]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "release"
        root = Path(tmp) / "workspace"
        settings = settings_for(root)
        first = first_workspace(args.files, root)
        second, _ = next_workspace(first, args.files, args.seed)
        units = "project_metadata/units.csv"  # only the sessions table changes here
        second = Workspace(second.files, {**second.digests, units: first.digests[units]})
        old_ids = {f.name for f in first.files if f.group == "data"}
        new_ids = {f.name for f in second.files if f.group == "data"}
        types = {i: TYPES[int(i) % len(TYPES)] for i in old_ids | new_ids}
        corrected = set(
            random.Random(args.seed).sample(sorted(old_ids & new_ids), args.files // 100)
        )
        first = with_table(first, table_rows(first, types), folder, "1.0.0")
        fixed = {
            i: (TYPES[(TYPES.index(t) + 1) % 6] if i in corrected else t) for i, t in types.items()
        }
        second = with_table(second, table_rows(second, fixed), folder, "2.0.0")
        old = folder / manifest.manifest_name(PROJECT, "1.0.0")
        new = folder / manifest.manifest_name(PROJECT, "2.0.0")
        build(settings, first, None, "1.0.0", old)
        build(settings, second, manifest.load(old), "2.0.0", new)
        changed = {
            f.relpath
            for f in second.files
            if f.group == "data"
            and f.relpath in first.digests
            and first.digests[f.relpath] != second.digests[f.relpath]
        }
        summaries_file(first, make, set(), folder / f"{PROJECT}_summaries_v1.0.0.json")
        summaries_file(second, make, changed, folder / f"{PROJECT}_summaries_v2.0.0.json")
        moved = {
            f.name
            for f in second.files
            if f.group == "data" and f.relpath != data_file(int(f.name), root).relpath
        }
        made = {
            "rows added": len(new_ids - old_ids),
            "rows removed": len(old_ids - new_ids),
            "session_type": len(corrected),
            "file_path": len(moved),
            "nwb files": len(changed),
        }
        sizes = {p.name: p.stat().st_size / 1e6 for p in folder.iterdir()}
        files_s, _ = best_of(args.repeat, lambda: files_notes(old, new))
        contents_s, (text, detailed) = best_of(
            args.repeat, lambda: contents_notes(old, new, folder)
        )
        table = check(detailed, made)
    ratio = contents_s / files_s
    summaries_mb = sum(v for k, v in sizes.items() if "summaries" in k)
    print(
        f"{args.files} NWB files, a sessions table of {table.rows_after} rows; manifests "
        f"{sum(v for k, v in sizes.items() if 'manifest' in k):.0f} MB, tables "
        f"{sum(v for k, v in sizes.items() if k.endswith('.csv')):.0f} MB, {args.summary} "
        f"summaries {summaries_mb:.0f} MB (both releases); {os.cpu_count()} cores, best of "
        f"{args.repeat}"
    )
    print(
        f"found: {len(table.rows_added)} rows added, {len(table.rows_removed)} removed, "
        f"{len(table.cells)} cells changed; {len(detailed.nwb_files or ())} NWB files changed "
        f"inside; the Markdown is {len(text) / 1e6:.1f} MB"
    )
    print(f"{'notes, file by file (today)':<40} {files_s:6.2f} s")
    print(f"{'notes with tables and NWB summaries':<40} {contents_s:6.2f} s")
    verdict = "met" if ratio <= RATIO_TARGET else "MISSED"
    print(f"{'ratio contents / files':<40} {ratio:6.2f}    (target <= {RATIO_TARGET}: {verdict})")


if __name__ == "__main__":
    main()
