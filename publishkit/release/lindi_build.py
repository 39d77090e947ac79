"""A LINDI index built from a local HDF5 NWB file, with a placeholder for its URL.

Built straight from h5py (`lindi_h5py_index`, 5-7x faster than lindi's builder), in the read
that summarizes a new file (`build_from_open`), its /specifications' refs built once per
content in a process (half of a small file's index); a file with something that builder does
not write (external links, a large contiguous dataset) is indexed by lindi's own builder, as
follows.

lindi spends three quarters of an index of a small NWB file on `/specifications`, the
namespaces pynwb caches in every file it writes: the same in each file a release's pynwb wrote,
and held inline in the index (no byte offsets). So the index of `/specifications` is built
once per content (keyed by the hash of its datasets) and kept beside the cached indexes; each
file's own objects are indexed without it, and the two are put together. Where the
specifications reference byte ranges (a huge extension), the whole file is indexed by lindi.
Their text is held zlib-compressed (`compressed`: any string chunk over 1 KiB), as zarr reads
it: a small file's index is half its size instead of as large, read in the same one request.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

from publishkit.formats.lindi_index import check_index
from publishkit.local_files import write_atomic
from publishkit.release.lindi_h5py_index import Unsupported, h5py_index, inline_key
from publishkit.upstream import quiet_lindi

PLACEHOLDER = "https://publishkit.invalid/pinned"  # the URL in a cached index, not yet pinned
# a contiguous dataset is referenced in pieces of this size: a slice reads about what
# remfile would (lindi's default, 20 MB, reads a whole 20 MB piece for a few rows)
CONTIGUOUS_CHUNK = 1024 * 1024
BUILD = 3  # how indexes are built (the options above): a cached index of another is not used
SPECIFICATIONS = "specifications"
COMPRESS_FROM = 1024  # characters of an inline string chunk (`compressed`)


def build_template(task: tuple[Path, Path]) -> str | None:
    """Build the index of file `task[1]` with the placeholder URL into `task[0]` (in a worker
    process; the specifications' index shared through task[0]'s folder); why not, when lindi
    cannot index the file."""
    cached, path = task
    try:
        document = build_index(path, PLACEHOLDER, cached.parent)
    except Exception as exc:  # lindi's own errors are plain Exceptions
        return str(exc) or type(exc).__name__
    check_index(document, str(cached))
    _keep(cached, _compact(document))
    return None


def _keep(path: Path, text: str) -> None:
    """Put a cached index in place atomically, without an fsync (~10 ms, an eighth of what an
    index costs): a cache; one a crash left torn does not parse and is built again."""
    write_atomic(path, text, durable=False)


def build_index(path: Path, url: str, cache: Path | None = None) -> dict[str, Any]:
    """The LINDI index of the HDF5 file at `path`, its chunks referenced at `url`; with a
    `cache` folder (lindi's builder), its specifications' index read from there (or built and
    kept there)."""
    import h5py
    from lindi.LindiH5pyFile.LindiReferenceFileSystemStore import (
        LindiReferenceFileSystemStore,
    )

    try:
        with h5py.File(path, "r") as h5:
            return _from_open(h5, url)
    except Unsupported:
        document = _with_lindi(path, url, cache)
    LindiReferenceFileSystemStore.use_templates_in_rfs(document)
    return dict(document)


def build_from_open(cached: Path, h5: Any) -> None:
    """Build the index of the file open as h5py File `h5`, with the placeholder URL, into
    `cached`: in the read that summarizes the file (`SummaryCache.get_all`), so a release
    opens each new NWB file once for both. Nothing when `h5py_index` cannot build it (lindi's
    builder then does, in `publish_indexes`)."""
    try:
        document = _from_open(h5, PLACEHOLDER)
    except Unsupported:
        return
    check_index(document, str(cached))
    cached.parent.mkdir(parents=True, exist_ok=True)
    _keep(cached, _compact(document))


_SHARED: dict[str, dict[str, Any]] = {}  # the refs of /specifications by `inline_key`, built
# once in this process: the same in each file a release's pynwb wrote, half of a small file's
# index (7 of its 14 ms)


def _from_open(h5: Any, url: str) -> dict[str, Any]:
    """`h5py_index` of the open file, its URL put in a template as lindi does; Unsupported.
    Its /specifications, when they are all inline, the refs built for the first file with the
    same ones."""
    from lindi.LindiH5pyFile.LindiReferenceFileSystemStore import (
        LindiReferenceFileSystemStore,
    )

    key = inline_key(h5, SPECIFICATIONS) if SPECIFICATIONS in h5 else None
    shared = _SHARED.get(key) if key is not None else None
    if shared is None:
        document = h5py_index(h5, url, CONTIGUOUS_CHUNK)
        document["refs"] = compressed(document["refs"])
        specs = _specifications(document["refs"])
        if key is not None and len(_SHARED) < 64 and not any(map(_is_range, specs.values())):
            _SHARED[key] = specs
    else:
        document = h5py_index(h5, url, CONTIGUOUS_CHUNK, skip=SPECIFICATIONS)
        document["refs"] = compressed(document["refs"])
        document["refs"].update(shared)
    LindiReferenceFileSystemStore.use_templates_in_rfs(document)
    return dict(document)


def compressed(refs: dict[str, Any]) -> dict[str, Any]:
    """`refs` with each inline chunk of a string dataset over `COMPRESS_FROM` characters
    compressed (zlib, the array's `compressor`: zarr decodes it before its JSON filter), as
    `base64:`. pynwb's specifications are JSON text, 175 KB of a small file's 195 KB index;
    compressed, 8 times smaller, with no request more to open the file."""
    found = dict(refs)
    for key, ref in refs.items():
        array, _, chunk = key.rpartition("/")
        meta = found.get(f"{array}/.zarray")
        if not (isinstance(ref, str) and len(ref) >= COMPRESS_FROM and chunk.isdigit()):
            continue
        if not isinstance(meta, dict) or meta.get("compressor") is not None:
            continue
        if ref.startswith("base64:") or meta.get("dtype") != "|O":
            continue
        found[f"{array}/.zarray"] = {**meta, "compressor": {"id": "zlib", "level": 9}}
        packed = base64.b64encode(zlib.compress(ref.encode(), 9)).decode("ascii")
        found[key] = "base64:" + packed
    return found


def _is_range(ref: Any) -> bool:
    return isinstance(ref, list)


def _specifications(refs: dict[str, Any]) -> dict[str, Any]:
    """The refs of /specifications (a copy: documents share none of their values)."""
    found = {k: v for k, v in refs.items() if k.partition("/")[0] == SPECIFICATIONS}
    return json.loads(json.dumps(found))


def _with_lindi(path: Path, url: str, cache: Path | None) -> dict[str, Any]:
    """lindi's index of the file, its specifications shared through `cache`."""
    specs = _specifications_key(path) if cache is not None else None
    shared = None if specs is None or cache is None else _shared(cache, specs)
    if shared is None:
        document = _lindi(path, url, skip_specifications=False)
        document["refs"] = compressed(document["refs"])
        if specs is not None and cache is not None:
            _keep_specifications(cache, specs, document)
    else:
        document = _lindi(path, url, skip_specifications=True)
        document["refs"] = compressed(document["refs"])
        document["refs"].update(shared)
    return document


def _lindi(path: Path, url: str, *, skip_specifications: bool) -> dict[str, Any]:
    """lindi's index of the file (without its progress bars: `upstream.quiet_lindi`);
    `skip_specifications`: without /specifications."""
    import lindi

    opts = lindi.LindiH5ZarrStoreOpts(
        num_dataset_chunks_threshold=None, contiguous_dataset_max_chunk_size=CONTIGUOUS_CHUNK
    )
    quiet_lindi()
    store = lindi.LindiH5ZarrStore.from_file(str(path), url=url, opts=opts)
    try:
        if skip_specifications:  # lindi walks the root's keys(): /specifications left out
            store._h5f.close()
            store._h5f = _without_specifications()(store._file, "r")
            store._entities_to_close[-1] = store._h5f
        document = store.to_reference_file_system()
    finally:
        store.close()
    return dict(document)


def _specifications_key(path: Path) -> str | None:
    """A hash of the file's /specifications (names, attributes and values), or None when it
    has none."""
    import h5py

    digest = hashlib.blake2b(digest_size=16)
    with h5py.File(path, "r") as h5:
        group = h5.get(SPECIFICATIONS)
        if not isinstance(group, h5py.Group):
            return None

        def add(name: str, item: Any) -> None:
            digest.update(name.encode() + b"\0")
            for key in sorted(item.attrs):
                digest.update(f"{key}={item.attrs[key]!r}".encode())
            if isinstance(item, h5py.Dataset):
                digest.update(f"{item.dtype}{item.shape}{item[()]!r}".encode())

        group.visititems(add)
    return digest.hexdigest()


def _shared(cache: Path, specs: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads((cache / f"specifications-{specs}.b{BUILD}.json").read_bytes()))
    except (OSError, ValueError):
        return None


def _keep_specifications(cache: Path, specs: str, document: dict[str, Any]) -> None:
    """Keep the index of /specifications for the next files, when it is all inline."""
    refs = {
        key: ref
        for key, ref in document["refs"].items()
        if key == SPECIFICATIONS or key.startswith(SPECIFICATIONS + "/")
    }
    if any(isinstance(ref, list) for ref in refs.values()):
        return  # byte ranges of this file: not shared
    cache.mkdir(parents=True, exist_ok=True)
    write_atomic(cache / f"specifications-{specs}.b{BUILD}.json", _compact(refs))


def _compact(document: dict[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":")) + "\n"


@functools.cache
def _without_specifications() -> type:
    """h5py.File, its root's keys without /specifications (as lindi walks a file)."""
    import h5py

    class WithoutSpecifications(h5py.File):
        def keys(self) -> Any:
            return [key for key in super().keys() if key != SPECIFICATIONS]  # noqa: SIM118

    return WithoutSpecifications
