"""A LINDI index built straight from h5py, without lindi's zarr layer.

lindi's builder makes an in-memory zarr group for each object's attributes and an in-memory
zarr array for each dataset it holds inline, and looks each object up by path again for each of
its keys: 70-150 ms a small NWB file. This walks the file once and writes the same reference
file system (version 1) directly: groups' `.zgroup`, `.zattrs` (attributes converted by lindi's
own `h5_to_zarr_attr`), soft links as `_SOFT_LINK`, small datasets inline (raw bytes, or
numcodecs' JSON for strings and references, as lindi's reader decodes them), larger ones as
`[url, offset, size]` per chunk from h5py's chunk index (a large contiguous numeric dataset in
pieces along its first axis, as lindi splits it), compound rows as JSON with their
`_COMPOUND_DTYPE`. Anything else (complex types, external links, a large contiguous dataset
of another type) raises `Unsupported`, and the caller uses lindi's own builder.
"""

from __future__ import annotations

import base64
import hashlib
import math
from typing import Any

INLINE_BELOW = 1000  # elements: a numeric dataset this small is held in the index (as lindi)


class Unsupported(Exception):
    """Something this builder does not write the way lindi would: use lindi's builder."""


def h5py_index(h5: Any, url: str, contiguous_chunk: int, *, skip: str = "") -> dict[str, Any]:
    """The LINDI index of the open h5py file `h5`, its chunks referenced at `url`; contiguous
    datasets over `contiguous_chunk` bytes: Unsupported (lindi splits them). `skip`: a member
    of the root left out (its refs too; the root's `.zattrs` and `.zgroup` stay)."""
    import h5py
    from lindi.conversion.attr_conversion import h5_to_zarr_attr

    refs: dict[str, Any] = {}
    targets = _Targets(h5)

    def attrs(item: Any, key: str) -> dict[str, Any]:
        found = {}
        for name, value in item.attrs.items():
            converted = h5_to_zarr_attr(value, label=f"{key} {name}", h5f=targets)
            if converted is not None:
                found[name] = converted
        return found

    def group(item: Any, key: str) -> None:
        _meta(refs, key, ".zattrs", attrs(item, key))
        refs[_join(key, ".zgroup")] = {"zarr_format": 2}
        links = item.id.links
        for name in item:
            if not key and name == skip:
                continue
            child = _join(key, name)
            kind = links.get_info(item._e(name)).type  # as Group.get(getlink=True), cheaper
            if kind == h5py.h5l.TYPE_SOFT:
                path = item._d(links.get_val(item._e(name)))
                refs[_join(child, ".zattrs")] = {"_SOFT_LINK": {"path": path}}
                refs[_join(child, ".zgroup")] = {"zarr_format": 2}
                continue
            if kind != h5py.h5l.TYPE_HARD:
                raise Unsupported(f"{child}: {'ExternalLink' if kind == 1 else kind}")
            target = item[name]
            if isinstance(target, h5py.Group):
                group(target, child)
            elif isinstance(target, h5py.Dataset):
                dataset(target, child)

    def dataset(item: Any, key: str) -> None:
        found = attrs(item, key)
        if item.shape == ():
            found["_SCALAR"] = True
        if item.dtype.names is not None:
            found["_COMPOUND_DTYPE"] = _compound_dtype(item.dtype)
        _meta(refs, key, ".zattrs", found)
        if _inline(item):
            _inline_array(refs, item, key, h5)
        else:
            _referenced(refs, item, key, url, contiguous_chunk)

    group(h5, "")
    return {"refs": refs, "version": 1}


class _Targets:
    """The file as lindi's `h5_ref_to_zarr_attr` reads it (`h5f[ref].name`, its `.attrs`, the
    root's `object_id`), with each referenced object's path found by its address among the
    file's hard links (listed once, in one visit) instead of HDF5's search of the file for a
    name (~1 ms a reference, a tenth of a small file's index); an object with more than one
    hard link is named by HDF5, as lindi does."""

    def __init__(self, h5: Any) -> None:
        self._h5 = h5
        self._paths: dict[int, str] | None = None
        self._root: dict[str, Any] | None = None

    @property
    def attrs(self) -> dict[str, Any]:
        if self._root is None:
            self._root = {"object_id": self._h5.attrs.get("object_id")}
        return self._root

    def __getitem__(self, ref: Any) -> Any:
        import h5py

        target = self._h5[ref]
        info = h5py.h5o.get_info(target.id)
        if info.rc != 1:
            return target
        if self._paths is None:
            self._paths = {}

            def add(name: bytes, link: Any) -> None:
                if link.type == h5py.h5l.TYPE_HARD:
                    self._paths.setdefault(link.u, "/" + self._h5._d(name))  # type: ignore[union-attr]

            self._h5.id.links.visit(add, info=True)
        path = self._paths.get(info.addr)
        return target if path is None else _Named(path, target.attrs)


class _Named:
    """A referenced object as `_Targets` names it."""

    def __init__(self, name: str, attrs: Any) -> None:
        self.name, self.attrs = name, attrs


def inline_key(h5: Any, name: str) -> str | None:
    """A hash of everything the index holds of the root's member `name` when it is all inline
    and read here (links, names, each scalar variable-length string's character set and
    value: /specifications as pynwb writes it); None when it is anything else (a link, an
    attribute, another dataset) or missing. Read through h5py's low-level API (~1 ms for
    pynwb's specifications, a tenth of indexing them)."""
    import h5py
    import numpy as np

    if h5.get(name, getlink=True).__class__ is not h5py.HardLink:
        return None
    top = h5[name]
    if not isinstance(top, h5py.Group) or h5py.h5o.get_info(top.id).num_attrs:
        return None
    digest = hashlib.blake2b(name.encode() + b"\0", digest_size=16)
    value = np.empty((), dtype=h5py.string_dtype())

    def add(member: bytes, info: Any) -> int:
        if info.type != h5py.h5l.TYPE_HARD:
            return 1  # stops the visit: not shared
        item = h5py.h5o.open(top.id, member)
        if h5py.h5o.get_info(item).num_attrs:
            return 1
        if isinstance(item, h5py.h5d.DatasetID):
            kind = item.get_type()
            if item.shape != () or not isinstance(kind, h5py.h5t.TypeStringID):
                return 1
            if not kind.is_variable_str():
                return 1
            item.read(h5py.h5s.ALL, h5py.h5s.ALL, value)
            text = value[()]
            digest.update(b"D%d\0" % kind.get_cset() + member + b"\0")
            digest.update(text if isinstance(text, bytes) else str(text).encode())
        elif isinstance(item, h5py.h5g.GroupID):
            digest.update(b"G\0" + member)
        else:
            return 1
        digest.update(b"\0")
        return 0

    if top.id.links.visit(add, info=True):
        return None
    return digest.hexdigest()


def _inline(item: Any) -> bool:
    kind = item.dtype.kind
    if kind in "iuf":
        return item.shape == () or 0 < item.size < INLINE_BELOW
    if kind in "bOSU":
        return True
    if kind == "V" and item.dtype.names is not None and item.shape != ():
        return True  # compound: its rows as JSON (a scalar one lindi does not index either)
    raise Unsupported(f"{item.name}: dtype {item.dtype}")


def _inline_array(refs: dict[str, Any], item: Any, key: str, h5: Any) -> None:
    """A dataset held in the index: one chunk, its whole content."""
    import numpy as np

    scalar = item.shape == ()
    shape = [1] if scalar else list(item.shape)
    empty = not scalar and math.prod(shape) == 0
    zarray: dict[str, Any] = {
        "chunks": [1] * len(shape) if empty else shape,
        "compressor": None,
        "fill_value": None,
        "filters": None,
        "order": "C",
        "shape": shape,
        "zarr_format": 2,
    }
    if item.dtype.kind in "OV":
        import numcodecs

        codec = numcodecs.JSON()
        zarray["dtype"], zarray["filters"] = "|O", [codec.get_config()]
        refs[_join(key, ".zarray")] = zarray
        if empty:
            return
        if item.dtype.kind == "V":
            values = _rows(item[()], h5, key)
        else:
            values = _objects(item[()], h5, key, scalar)
        refs[_join(key, _chunk_name(len(shape)))] = bytes(codec.encode(values)).decode("ascii")
        return
    data = np.ascontiguousarray(np.asarray(item[()]).reshape(shape))
    if data.dtype.kind == "b":
        data = data.astype("|b1")
    zarray["dtype"] = data.dtype.str
    zarray["fill_value"] = _fill(data.dtype, None)
    refs[_join(key, ".zarray")] = zarray
    if not empty:
        chunk = "base64:" + base64.b64encode(data.tobytes()).decode("ascii")
        refs[_join(key, _chunk_name(len(shape)))] = chunk


def _objects(value: Any, h5: Any, key: str, scalar: bool) -> Any:
    """Strings and references as lindi writes them (references as `_REFERENCE` objects)."""
    import numpy as np
    from lindi.conversion.create_zarr_dataset_from_h5_data import h5_object_data_to_zarr_data

    if scalar:
        if not isinstance(value, (bytes, str)):
            raise Unsupported(f"{key}: a scalar {type(value).__name__}")
        out = np.empty((1,), dtype=object)
        out[0] = value.decode() if isinstance(value, bytes) else value
        return out
    return h5_object_data_to_zarr_data(value, h5f=h5, label=key)


def _rows(data: Any, h5: Any, key: str) -> Any:
    """A compound dataset's rows as tuples of JSON values, as lindi writes them."""
    import numpy as np
    from lindi.conversion.create_zarr_dataset_from_h5_data import _make_json_serializable

    rows = np.empty(data.shape, dtype=object)
    flat, names = rows.ravel(), data.dtype.names
    for n, row in enumerate(data.ravel()):
        flat[n] = tuple(
            _make_json_serializable(row[name], data.dtype[name], label=f"{key}[{n}]", h5f=h5)
            for name in names
        )
    return rows


def _compound_dtype(dtype: Any) -> list[list[str]]:
    import h5py

    reference = h5py.special_dtype(ref=h5py.Reference)
    return [
        [name, "<REFERENCE>" if dtype[name] == reference else str(dtype[name])]
        for name in dtype.names
    ]


def _referenced(refs: dict[str, Any], item: Any, key: str, url: str, contiguous_chunk: int) -> None:
    """A dataset read from its file: `.zarray` with the file's chunks and filters, and each
    stored chunk's byte range."""
    from lindi.conversion.h5_filters_to_codecs import h5_filters_to_codecs

    codecs = h5_filters_to_codecs(item) or []
    shape = list(item.shape)
    chunks = list(item.chunks) if item.chunks is not None else shape
    if math.prod(chunks) == 0:  # zarr refuses a chunk of no elements
        chunks = [1] * len(shape)
    split = not codecs and chunks == shape and item.dtype.itemsize * item.size > contiguous_chunk
    if split and item.dtype.kind not in "iuf":
        raise Unsupported(f"{key}: a contiguous dataset of {item.dtype} lindi splits")
    if split:  # in pieces along the first axis, as lindi's builder does
        chunks = [max(1, contiguous_chunk // (item.dtype.itemsize * math.prod(shape[1:])))]
        chunks += shape[1:]
    refs[_join(key, ".zarray")] = {
        "chunks": chunks,
        "compressor": None,
        "dtype": item.dtype.str,
        "fill_value": _fill(item.dtype, item.fillvalue),
        "filters": [codec.get_config() for codec in codecs] or None,
        "order": "C",
        "shape": shape,
        "zarr_format": 2,
    }
    if item.size == 0:
        return
    if split:
        _pieces(refs, item, key, url, chunks)
        return
    if item.chunks is None:
        offset = item.id.get_offset()
        if offset is not None:
            refs[_join(key, _chunk_name(len(shape)))] = [url, offset, item.id.get_storage_size()]
        return

    def add(info: Any) -> None:
        name = ".".join(str(at // size) for at, size in zip(info.chunk_offset, chunks, strict=True))
        refs[_join(key, name)] = [url, info.byte_offset, info.size]

    item.id.chunk_iter(add)


def _pieces(refs: dict[str, Any], item: Any, key: str, url: str, chunks: list[int]) -> None:
    """The byte ranges of a dataset stored in one piece (contiguous, or a single chunk
    without filters) split into `chunks`, the last one short (lindi pads it)."""
    if item.chunks is None:
        offset, stored = item.id.get_offset(), item.id.get_storage_size()
    else:
        first = item.id.get_chunk_info(0)
        offset, stored = first.byte_offset, first.size
    if offset is None:  # never written: the fill value
        return
    piece = math.prod(chunks) * item.dtype.itemsize
    rest = ".0" * (len(chunks) - 1)
    for n in range(-(-item.size // math.prod(chunks))):
        start = offset + n * piece
        refs[_join(key, f"{n}{rest}")] = [url, start, min(piece, offset + stored - start)]


def _fill(dtype: Any, value: Any) -> Any:
    """A fill value as zarr writes it in `.zarray` (NaN and infinities as strings)."""
    if dtype.kind == "b":
        return bool(value) if value is not None else False
    if dtype.kind in "iu":
        return int(value) if value is not None else 0
    if dtype.kind == "f":
        number = float(value) if value is not None else 0.0
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return number
    return None


def _meta(refs: dict[str, Any], key: str, name: str, content: dict[str, Any]) -> None:
    if content:  # lindi leaves out an empty .zattrs
        refs[_join(key, name)] = content


def _chunk_name(ndim: int) -> str:
    return ".".join("0" * ndim) if ndim else "0"


def _join(key: str, name: str) -> str:
    return f"{key}/{name}" if key else name
