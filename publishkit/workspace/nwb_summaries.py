"""The summary of each NWB file a release publishes, read with h5py and cached by content.

`summarize` reads an open HDF5 file's attributes, small metadata datasets and dataset shapes,
never the data, so inspection hands it the file it has open (one read of each file) and a
release without inspection opens the file with h5py alone (no pynwb). Summaries are kept in
the state store by (content hash, summary version): an unchanged file is never read again.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from publishkit.formats.summaries import (
    SESSION_FIELDS,
    SUBJECT_FIELDS,
    SUMMARY_VERSION,
    Summary,
    check_summary,
    encode,
)
from publishkit.workspace.executors import LOCAL, ExecutorSettings, WorkerCrashed, executor_for
from publishkit.workspace.state import NwbSummaries, StateStore

Also = Callable[[Any], object]  # given the open h5py File of an NWB file being summarized
_SKIPPED = ("general", "specifications")  # /general is read field by field; specs are schemas
_GENERAL_TABLES = ("general/extracellular_ephys/electrodes", "general/intracellular_ephys")
_NAMED = {
    "devices": ("general/devices", ("description", "manufacturer")),
    "electrode_groups": ("general/extracellular_ephys", ("description", "location", "device")),
    "imaging_planes": (
        "general/optophysiology",
        ("description", "location", "indicator", "excitation_lambda", "imaging_rate", "device"),
    ),
}


def summarize(h5: Any) -> Summary:
    """The summary of the NWB file open as h5py File `h5`: its fields and its objects' shapes,
    read from attributes and dataset metadata only."""
    summary: Summary = {
        "session": _fields(h5, "", SESSION_FIELDS, {"session_id": "general/session_id"}),
        "subject": _fields(h5, "general/subject", SUBJECT_FIELDS, {}),
    }
    for section, (where, fields) in _NAMED.items():
        found = {
            name: _fields(group, "", fields, {})
            for name, group in _children(h5.get(where))
            if "colnames" not in group.attrs  # the electrodes table is an object, not a group
        }
        if found:
            summary[section] = found
    summary["objects"] = dict(_objects(h5))
    return check_summary(
        {k: v for k, v in summary.items() if v}, f"{getattr(h5, 'filename', 'NWB file')}"
    )


def summarize_open(io: Any) -> str | None:
    """The encoded summary of the file a pynwb/hdmf HDF5IO has open, read through the same
    h5py File (None when it cannot be summarized)."""
    h5 = getattr(io, "_file", None)
    if h5 is None:
        return None
    try:
        return encode(summarize(h5))
    except Exception:  # a summary is never worth failing an inspection over
        return None


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_hdf5(path: Path) -> bool:
    """The file starts with HDF5's signature (at 0, or after a user block of 512 bytes times
    a power of two), read without importing h5py: 8 bytes at each place (unbuffered: a
    buffered read there reads 8 kB, ~30 MB for 300 files of 2 MB that are not HDF5)."""
    try:
        with open(path, "rb", buffering=0) as stream:
            size, offset = os.fstat(stream.fileno()).st_size, 0
            while offset + len(HDF5_SIGNATURE) <= size:
                if os.pread(stream.fileno(), len(HDF5_SIGNATURE), offset) == HDF5_SIGNATURE:
                    return True
                offset = 512 if offset == 0 else offset * 2
    except OSError:
        return False
    return False


_NOT_READ = "cannot be read"


def why_unreadable(path: Path) -> str:
    """Why the file at `path` cannot be summarized as NWB, in words for a warning."""
    try:
        if path.stat().st_size == 0:
            return "an empty file"
    except OSError as exc:
        return f"{_NOT_READ} ({exc.strerror})"
    if not is_hdf5(path):
        return "not an HDF5 file"
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if "neurodata_type" not in h5.attrs:
                return "an HDF5 file but not NWB (no neurodata_type)"
            summarize(h5)
    except Exception:
        return "a truncated or damaged HDF5 file"
    return "not readable as NWB"


def summarize_path(path: Path, also: Also | None = None) -> str | None:
    """The encoded summary of the NWB file at `path`; None when h5py cannot read it as one.
    `also`: more read from the same open file once it is summarized (a LINDI index), its
    failure ignored (whoever asked for it does it again without this read)."""
    if not is_hdf5(path):  # h5py (and numpy) not imported for a file that is not HDF5 at all
        return None
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            if "neurodata_type" not in h5.attrs:
                return None
            encoded = encode(summarize(h5))
            if also is not None:
                with contextlib.suppress(Exception):
                    also(h5)
            return encoded
    except Exception:  # not HDF5, truncated, not NWB: the summary says nothing of it
        return None


def _summarize_task(task: tuple[Path, Also | None]) -> str | None:
    return summarize_path(*task)


def _fields(h5: Any, base: str, names: tuple[str, ...], paths: Mapping[str, str]) -> dict[str, Any]:
    """Each named field of the group at `base`: a dataset's value, else an attribute, else a
    link's target name (an electrode group's device)."""
    group = h5.get(base) if base else h5
    if group is None:
        return {}
    found = {}
    for name in names:
        at = paths.get(name)
        value = _value(h5.get(at)) if at else _member(group, name)
        if value is not None:
            found[name] = value
    return found


def _member(group: Any, name: str) -> Any:
    import h5py

    link = group.get(name, getlink=True)
    if isinstance(link, h5py.SoftLink):
        return link.path.rstrip("/").rpartition("/")[2]
    if link is not None:
        return _value(group.get(name))
    return _plain(group.attrs[name]) if name in group.attrs else None


def _value(node: Any) -> Any:
    """A small dataset's value as JSON (text, number, list of them); None for anything else."""
    import h5py

    if not isinstance(node, h5py.Dataset) or node.size > 64:
        return None
    return _plain(node[()])


def _plain(value: Any) -> Any:
    """An HDF5 value as JSON: bytes decoded, numpy scalars and arrays as Python, NaN as None."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def _children(group: Any) -> Iterator[tuple[str, Any]]:
    """The subgroups of `group` that are neurodata objects, by name (links skipped)."""
    import h5py

    if group is None:
        return
    for name in sorted(group):
        if isinstance(group.get(name, getlink=True), h5py.HardLink):
            child = group.get(name)
            if isinstance(child, h5py.Group) and _type(child):
                yield name, child


def _objects(h5: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each neurodata object outside /general, and the tables inside it, by path."""
    stack = [(name, child) for name, child in _groups(h5) if name not in _SKIPPED]
    stack += [(p, h5[p]) for p in _GENERAL_TABLES if p in h5]
    for path, group in sorted(stack, key=lambda item: item[0]):
        yield from _walk(path, group)


def _walk(path: str, group: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    kind = _type(group)
    if kind:
        yield path, _object(group, kind)
    for name, child in _groups(group):
        yield from _walk(f"{path}/{name}", child)


def _groups(group: Any) -> Iterator[tuple[str, Any]]:
    import h5py

    for name in sorted(group):
        if isinstance(group.get(name, getlink=True), h5py.HardLink):
            child = group.get(name)
            if isinstance(child, h5py.Group):
                yield name, child


def _object(group: Any, kind: str) -> dict[str, Any]:
    """An object's type; its data's shape, dtype and unit and its rate; a table's rows and
    columns."""
    import h5py

    found: dict[str, Any] = {"type": kind}
    data = group.get("data")
    if isinstance(data, h5py.Dataset):
        found["shape"] = list(data.shape or ())
        found["dtype"] = str(data.dtype)
        if "unit" in data.attrs:
            found["unit"] = _plain(data.attrs["unit"])
    start = group.get("starting_time")
    if isinstance(start, h5py.Dataset) and "rate" in start.attrs:
        found["rate"] = _plain(start.attrs["rate"])
    ids = group.get("id")
    if "colnames" in group.attrs and isinstance(ids, h5py.Dataset):
        found["rows"] = int(ids.shape[0]) if ids.shape else 0
        found["columns"] = [str(c) for c in _plain(group.attrs["colnames"]) or []]
    return found


def _type(node: Any) -> str:
    kind = node.attrs.get("neurodata_type")
    return "" if kind is None else str(_plain(kind))


class SummaryCache:
    """Summaries by content hash: computed once, from inspection's read or h5py's."""

    def __init__(self, store: StateStore) -> None:
        self._records = NwbSummaries(store, SUMMARY_VERSION)

    def keep(self, content: str, encoded: str | None) -> None:
        """Record the summary of this content (None: it cannot be read as NWB)."""
        self._records.keep({content: encoded})

    def get_all(
        self,
        files: Mapping[Path, str],
        executor: ExecutorSettings = LOCAL,
        *,
        read: bool = True,
        also: Mapping[str, Also] | None = None,
    ) -> dict[str, str | None]:
        """Content hash -> encoded summary (None: not readable as NWB) of each file (path ->
        its content hash): on record, else read here or on the Dask cluster, and recorded.
        Without `read`, only those on record. `also`: content hash -> more to read from that
        file's open h5py File when it is read here (`summarize_path`; picklable)."""
        found = self._records.of(set(files.values()))
        if not read:
            return found
        todo: dict[str, Path] = {}
        for path, content in files.items():
            if content not in found:
                todo.setdefault(content, path)
        computed: dict[str, str | None] = {}
        runner = executor_for(executor, 1, len(todo))
        tasks = [(path, (also or {}).get(content)) for content, path in todo.items()]
        for (path, _), outcome in runner.map_unordered(_summarize_task, tasks):
            computed[files[path]] = None if isinstance(outcome, WorkerCrashed) else outcome
        self._records.keep(computed)
        return {**found, **computed}

    def why_unreadable(self, files: Mapping[Path, str]) -> dict[Path, str]:
        """Path -> why that file (path -> its content hash, one without a summary) cannot be
        read as NWB: on record by content, else judged here (`why_unreadable`) and recorded,
        so an unchanged file is not opened again. A file that cannot be read at all is judged
        each time (that is not its content's doing)."""
        known = self._records.reasons(files.values())
        found = {
            path: known.get(content) or why_unreadable(path) for path, content in files.items()
        }
        self._records.keep_reasons(
            {
                content: found[path]
                for path, content in files.items()
                if content not in known and not found[path].startswith(_NOT_READ)
            }
        )
        return found
