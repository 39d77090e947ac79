"""LINDI indexes: a JSON reference file system per HDF5 NWB file, published beside the manifest.

An index (lindi's `.lindi.json`, version 1) holds an NWB file's groups, attributes and small
datasets inline, and each chunk of its larger datasets as `[url, offset, size]`: a reader gets
the file's metadata in one request, then its data by byte range. Every URL in an index a
release publishes is its file's pinned URL (the manifest's URL with `?versionId=`), so an
object replaced or deleted later cannot change what a reader of the index sees. The manifest
records each index (`lindi_index` of a data file's entry: path, version_id, file_hash) outside
the fields AllenSDK reads.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypedDict
from urllib.parse import quote

from publishkit.errors import ManifestError
from publishkit.formats import jsonio
from publishkit.formats.schemas import refuse_invalid

INDEX_FOLDER = "lindi"
SUFFIX = ".lindi.json"
_HINT = "the index was edited after the release; open the file without it (index=False)"


class IndexRecord(TypedDict):
    """Where a data file's LINDI index is and what it holds, as its manifest entry records it."""

    path: str  # POSIX, relative to the release prefix: lindi/<file's path>.lindi.json
    version_id: str
    file_hash: str  # blake2b of the index's bytes, hex


def index_path(file_path: str) -> str:
    """The path, under the release prefix, of the index of the file at `file_path`."""
    return f"{INDEX_FOLDER}/{file_path}{SUFFIX}"


def key_beside(key: str, relpath: str, other: str) -> str:
    """The key of release path `other`, given the key of the file at release path `relpath`
    (both under the same release prefix)."""
    prefix = key[: -len(relpath)] if key.endswith(relpath) else ""
    return prefix + other


def pinned_url(url: str, version_id: str) -> str:
    """A manifest URL pinned to one version of its object."""
    return f"{url}?versionId={quote(version_id, safe='')}"


def parse_index(data: bytes, source: str) -> dict[str, Any]:
    """An index document, checked against `schemas/lindi-index.schema.json`."""
    try:
        document = jsonio.loads(data)  # orjson: a fifth of json's time on an index
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{source}: not valid JSON ({exc})", hint=_HINT) from None
    check_index(document, source)
    return dict(document)


def check_index(document: Any, source: str) -> None:
    """Refuse a document that is not a LINDI index, naming `source` and the JSON pointer."""
    refuse_invalid(document, "lindi-index", source, _HINT)


def with_urls(document: dict[str, Any], change: Callable[[str], str]) -> dict[str, Any]:
    """The index with each URL it reads from (templates, chunk references, external links)
    replaced by `change(url)`; `change` raises to refuse one."""
    templates = {name: change(url) for name, url in document.get("templates", {}).items()}
    refs: dict[str, Any] = {}
    for key, ref in document["refs"].items():
        if isinstance(ref, list) and ref and not str(ref[0]).startswith("{{"):
            ref = [change(str(ref[0])), *ref[1:]]
        elif isinstance(ref, str) and key.endswith(".zattrs") and "_EXTERNAL_ARRAY_LINK" in ref:
            attrs = json.loads(ref)
            attrs["_EXTERNAL_ARRAY_LINK"]["url"] = change(attrs["_EXTERNAL_ARRAY_LINK"]["url"])
            ref = json.dumps(attrs)
        refs[key] = ref
    return {**document, "templates": templates, "refs": refs}
