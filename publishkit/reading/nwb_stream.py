"""An NWB file streamed from one version of an object: through its LINDI index, else remfile.

Both read with the version id in every request's URL; a LINDI index is used only when every
URL in it is the file's pinned URL (the one the manifest pins), each then replaced by a URL
that reaches the store as configured.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from publishkit.errors import CheckFailed
from publishkit.formats.lindi_index import with_urls

if TYPE_CHECKING:
    from pynwb import NWBFile

# remfile's read-ahead: chunks of 100 KiB, each sequential read asking for 1.7x the last, up to
# 1 GB kept; without it, 16 KiB at a time, nothing kept beyond 4 MiB.
_NO_READ_AHEAD = {
    "_min_chunk_size": 16 * 1024,
    "_chunk_increment_factor": 1,
    "_max_cache_size": 4 << 20,
}


def reachable_index(index: dict[str, Any], expected_url: str, url: str) -> dict[str, Any]:
    """`index` with each URL in it, which must be `expected_url` (the pinned URL the manifest
    gives), replaced by `url` (one that reaches the store as configured); refused otherwise."""

    def pinned(found: str) -> str:
        if found != expected_url:
            raise CheckFailed(
                f"LINDI index of {expected_url}: a reference points at {found}, not the "
                "pinned version; the index was not used",
                hint="open the file without it: open_nwb(file_id, index=False)",
            )
        return url

    return with_urls(index, pinned)


class ReaderAhead(msgspec.Struct, frozen=True):
    """What reading an NWB file through its index needs that the index's bytes do not, made
    while its GET waits on the network (`reader_ahead`): lindi and pynwb imported, and pynwb's
    type map copied when no file's namespaces are loaded yet in this process."""

    type_map: Any | None


def reader_ahead() -> ReaderAhead:
    """lindi and pynwb imported (half a second in a new process), a type map to load a file's
    namespaces into when none is loaded yet (~4 ms): the work of a first open that can be done
    before the index arrives."""
    import lindi  # noqa: F401
    from pynwb import get_type_map

    return ReaderAhead(get_type_map() if not _TYPE_MAPS else None)


@contextmanager
def stream_nwb(
    url: str,
    size: int | None,
    *,
    index: dict[str, Any] | None,
    read_ahead: bool = True,
    ahead: ReaderAhead | None = None,
) -> Iterator[NWBFile]:
    """The NWB file at `url` (a URL of one version), read through `index` (from
    `reachable_index`) when given, else with remfile; `ahead`: what `reader_ahead` prepared."""
    from pynwb import NWBHDF5IO

    with ExitStack() as stack:
        if index is not None:
            import lindi

            h5file: Any = lindi.LindiH5pyFile.from_reference_file_system(index)
            reader = NWBHDF5IO(file=h5file, mode="r", manager=_manager(h5file, index, ahead))
        else:
            import h5py
            import remfile

            options: dict[str, Any] = {} if read_ahead else dict(_NO_READ_AHEAD)
            if size is not None:
                options["_size"] = size
            remote = remfile.File(url, **options)
            stack.callback(remote.close)
            h5file = h5py.File(remote, "r")
            stack.callback(h5file.close)
            reader = NWBHDF5IO(file=h5file, mode="r", load_namespaces=True)
        stack.callback(_close, reader, h5file, lindi_file=index is not None)
        yield reader.read()


def _manager(h5file: Any, index: dict[str, Any], ahead: ReaderAhead | None) -> Any:
    """pynwb's BuildManager for a file read through `index`: over the type map already loaded
    for the same specifications, else over one with the file's namespaces loaded into it (as
    `NWBHDF5IO(load_namespaces=True)` loads them), kept for the next file."""
    from hdmf.build import BuildManager
    from pynwb import NWBHDF5IO, get_type_map

    key = _specifications_key(index)
    known = _TYPE_MAPS.get(key) if key is not None else None
    if known is not None:
        return BuildManager(known)
    type_map = ahead.type_map if ahead is not None else None
    if type_map is None:
        type_map = get_type_map()
    NWBHDF5IO.load_namespaces(type_map, file=h5file)
    if key is not None and len(_TYPE_MAPS) < 16:
        _TYPE_MAPS[key] = type_map
    return BuildManager(type_map)


_TYPE_MAPS: dict[str, Any] = {}  # the hash of an index's specifications -> pynwb's type map
# with them loaded: a file read after another of the same release (the same specifications)
# skips pynwb's copy of its type map and its load of the file's namespaces


def _specifications_key(index: dict[str, Any]) -> str | None:
    """A hash of everything an index holds of /specifications (the namespaces cached in the
    file, what `load_namespaces` reads); None when it holds none."""
    found = {k: v for k, v in index["refs"].items() if k.partition("/")[0] == "specifications"}
    if not found:
        return None
    text = orjson.dumps(found, option=orjson.OPT_SORT_KEYS)
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def _close(reader: Any, h5file: Any, *, lindi_file: bool) -> None:
    """Close the reader and its file. A LINDI file's links are into itself, and hdmf closes its
    readers' files again at exit, where lindi would print that it is closed already: closed
    once."""
    reader.close(close_links=not lindi_file)
    if lindi_file:
        h5file.close = lambda: None
