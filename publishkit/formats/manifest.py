"""Manifests: the AllenSDK-compatible JSON that pins every file of a release to an S3 version."""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Callable
from itertools import chain, compress, islice, repeat
from pathlib import Path, PurePosixPath
from typing import Any, Required, TypedDict, cast

from publishkit.errors import ManifestError
from publishkit.formats.jsonio import encode, loads
from publishkit.formats.keys import first_unclean
from publishkit.formats.lindi_index import IndexRecord
from publishkit.formats.manifest_decoder import decode, unvouched
from publishkit.formats.schemas import refuse_invalid
from publishkit.formats.urls import ObjectLocation as ObjectLocation
from publishkit.formats.urls import allensdk_relpath as allensdk_relpath
from publishkit.formats.urls import allensdk_relpaths as allensdk_relpaths
from publishkit.formats.urls import locate as locate
from publishkit.formats.urls import one_head, url_error, url_keys
from publishkit.formats.urls import public_url as public_url
from publishkit.formats.versions import Version
from publishkit.local_files import write_atomic

_NAME = re.compile(r"^(?P<project>.+)_project_manifest_v(?P<version>[^/]+)\.json$")
GROUPS = ("metadata_files", "data_files")
GROUP_KEY = {"metadata": "metadata_files", "data": "data_files"}  # a file's group -> its key


class Entry(TypedDict, total=False):
    """One file of a release: where it is, the S3 version pinned, and its digests. The
    AllenSDK reads url, version_id and file_hash; the rest is publishkit's."""

    url: Required[str]
    version_id: Required[str]
    file_hash: Required[str]  # blake2b, hex
    path: str  # POSIX, relative to the release prefix
    sha256: str
    size: int
    created: str
    previous_version_id: str | None
    dandiset_id: str
    dandi_asset_path: str
    dandi_asset_id: str
    lindi_index: IndexRecord  # an HDF5 NWB file's LINDI index, beside the manifest


class DandiRelease(TypedDict, total=False):
    """The DANDI version a release was published with: the same data files, as assets."""

    instance: Required[str]  # the DANDI instance, by name or API URL
    dandiset_id: Required[str]
    version: Required[str]  # 0.YYMMDD.NNNN
    url: str  # the version's page on the archive
    doi: str  # when the instance mints one


class PipelineStep(TypedDict):
    """A tool that made the release, as the manifest's data_pipeline lists it."""

    name: str
    version: str
    comment: str


class Manifest(TypedDict, total=False):
    """A release manifest (`schemas/manifest.schema.json`), as the AllenSDK cloud cache reads
    it, with publishkit's extra keys."""

    project_name: Required[str]
    manifest_version: Required[str]
    metadata_file_id_column_name: Required[str]
    data_pipeline: Required[list[PipelineStep]]
    metadata_files: Required[dict[str, Entry]]
    data_files: Required[dict[str, Entry]]
    previous_manifest_version: str | None
    created: str
    dandi: DandiRelease


def manifest_name(project: str, version: Version | str) -> str:
    """The file name of manifest `version` of `project`, as AllenSDK expects it."""
    return f"{project}_project_manifest_v{version}.json"


def version_from_name(name: str) -> Version | None:
    """The version in `<project>_project_manifest_v<X.Y.Z>.json`, or None for other names."""
    match = _NAME.match(PurePosixPath(name).name)
    if match is None:
        return None
    try:
        return Version.parse(match["version"])
    except Exception:
        return None


def parse_manifest(data: bytes | str, source: str) -> dict[str, Any]:
    """Decode and validate; a ManifestError names `source` and the JSON pointer at fault. A
    manifest the typed decoder vouches for is read in one pass (keys the schema does not name
    are not kept); any other is read by jsonio and judged by the schema."""
    decoded = decode(data)
    if decoded is not None:
        document, places = decoded
        if places is None:
            _check_paths(document, source)
        else:
            entries = list(chain.from_iterable(document[group].values() for group in GROUPS))
            _check_places(document, source, entries, places)
        return document
    try:
        document = loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(
            f"{source}: not valid JSON ({exc})", hint="is this a publishkit or AllenSDK manifest?"
        ) from None
    except RecursionError:
        raise ManifestError(
            f"{source}: JSON nested too deeply to read (arrays or objects about a thousand "
            "levels inside one another)",
            hint="a manifest nests a few levels: is this a publishkit or AllenSDK manifest?",
        ) from None
    validate(document, source)
    return dict(document)


def load(path: Path) -> dict[str, Any]:
    """A manifest file, parsed and validated; a ManifestError names the file and what is wrong."""
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest file", hint="check the path")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(
            f"{path}: cannot read the manifest ({exc.strerror})", hint="check its permissions"
        ) from None
    return parse_manifest(data, str(path))


def validate(document: Any, source: str) -> None:
    """Refuse a document that breaks the schema, or whose files no folder can hold together."""
    refuse_invalid(unvouched(document), "manifest", source, "see `publishkit schema manifest`")
    _check_paths(document, source)


# A release folder (a fetch, an AllenSDK cache) holds each entry at its path, metadata tables
# and data files side by side. Two entries at one path with different content would leave one
# entry's bytes under both; a file at a path that is another entry's folder cannot exist at all.
# Two entries at one path with the same content are fine: a release lists a file twice when two
# ids of its table name it. One sort of the paths finds both faults, as neighbours.
# Each path, and the key in each URL, is a clean relative key (formats.keys): a key that URL
# readers normalise to another key would have verify and fetch check one object while curl,
# requests and browsers download another.
_SAME_CONTENT = ("file_hash", "sha256", "size")
_HOSTILE = "the manifest was edited by hand or is hostile: use the one the release published"


def _check_paths(document: dict[str, Any], source: str) -> None:
    """Refuse entries whose path or URL names no clean key, or that no folder can hold
    together, naming the entries and the path."""
    entries = list(chain.from_iterable(document[group].values() for group in GROUPS))
    urls = [entry["url"] for entry in entries]
    get: Callable[[dict[str, Any], str], Any] = dict.get
    places: list[str] = list(map(get, entries, repeat("path")))
    if not all(places) or one_head(urls, places) is None:  # (else all are clean keys)
        places = _checked_keys(document, source, entries, urls)
    _check_places(document, source, entries, places)


def _checked_keys(
    document: dict[str, Any], source: str, entries: list[dict[str, Any]], urls: list[str]
) -> list[str]:
    """The entries' paths; refuse a URL urllib cannot split, a path that is not a clean key,
    or a URL whose key is not one."""
    keys = url_keys(urls)
    if None in keys:
        index = keys.index(None)
        raise ManifestError(
            f"{source}: {_name_of(document, index)}: url {urls[index]!r} cannot be read as a URL "
            f"({url_error(urls[index])})",
            hint=_HOSTILE,
        )
    places = entry_relpaths(entries)
    unclean = first_unclean(places)
    if unclean is not None:
        index, problem = unclean
        raise ManifestError(
            f"{source}: {_name_of(document, index)}: path {places[index]!r} {problem}; "
            "it is not a clean relative key",
            hint=_HOSTILE,
        )
    unclean = first_unclean(cast("list[str]", keys))
    if unclean is not None:
        index, problem = unclean
        raise ManifestError(
            f"{source}: {_name_of(document, index)}: url {urls[index]!r}: the key it names, "
            f"{keys[index]!r}, {problem}",
            hint=_HOSTILE,
        )
    return places


def _check_places(
    document: dict[str, Any], source: str, entries: list[dict[str, Any]], places: list[str]
) -> None:
    """Refuse two entries at one path with different content, or a path inside another."""
    order = sorted(places)
    # sorted, a path is followed by its repeats, then by the paths it is a folder of (if any)
    suspects = dict.fromkeys(compress(order, map(str.startswith, islice(order, 1, None), order)))
    if not suspects:
        return
    at: dict[str, list[int]] = {}
    for index, place in enumerate(places):
        if place in suspects:
            at.setdefault(place, []).append(index)
    for place in suspects:
        first, *others = at[place]
        for other in others:
            if _content(entries[other]) != _content(entries[first]):
                raise ManifestError(
                    f"{source}: {_name_of(document, first)} and {_name_of(document, other)} "
                    f"both have path {place!r} but different content (file_hash, sha256 or "
                    "size); one would overwrite the other",
                    hint=_HOSTILE,
                )
        inside = bisect_left(order, place + "/")
        if inside < len(order) and order[inside].startswith(place + "/"):
            raise ManifestError(
                f"{source}: {_name_of(document, first)} has path {place!r}, and "
                f"{_name_of(document, places.index(order[inside]))} has path "
                f"{order[inside]!r} inside it: no folder holds a file and a folder of one name",
                hint=_HOSTILE,
            )


def _content(entry: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(entry.get(key) for key in _SAME_CONTENT)


def _name_of(document: dict[str, Any], index: int) -> str:
    """`group/key` of the index-th entry, metadata tables first (as _check_paths lists them)."""
    for group in GROUPS:
        if index < len(document[group]):
            return f"{group}/{list(document[group])[index]}"
        index -= len(document[group])
    raise IndexError(index)


def write_local(path: Path, document: dict[str, Any]) -> None:
    """Write a manifest's local copy, validated first, as publishkit writes every JSON file."""
    validate(document, str(path))
    write_atomic(path, encode(document))


def entry_relpath(entry: dict[str, Any]) -> str:
    """The entry's path under the release prefix: its `path`, else AllenSDK's reading of `url`."""
    if entry.get("path"):
        return str(entry["path"])
    return allensdk_relpath(entry["url"])


def entry_relpaths(entries: list[dict[str, Any]]) -> list[str]:
    """entry_relpath of each entry of a validated manifest, the URLs read in one batch."""
    get: Callable[[dict[str, Any], str], Any] = dict.get
    paths: list[str] = list(map(get, entries, repeat("path")))
    if all(paths):
        return paths
    missing = [index for index, path in enumerate(paths) if not path]
    urls = allensdk_relpaths([entries[index]["url"] for index in missing])
    for index, relpath in zip(missing, urls, strict=True):
        paths[index] = relpath
    return paths
