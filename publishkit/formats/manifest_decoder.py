"""A manifest decoded and checked in one pass: msgspec's typed decoder builds the dicts while it
checks each entry's keys, types and lengths; the schema's patterns are then tested a field at a
time over all entries, and the schema's compiled validator judges the rest of the document (a
few small keys). A document this does not vouch for is left to the schema (None)."""

from __future__ import annotations

from functools import cache, partial
from itertools import chain, repeat
from operator import is_not, itemgetter
from typing import Annotated, Any, NamedTuple, Required, TypedDict

import msgspec

from publishkit.formats.jsonio import loads
from publishkit.formats.patterns import pattern_test
from publishkit.formats.schemas import load_schema, violations
from publishkit.formats.urls import one_head

GROUPS = ("metadata_files", "data_files")
# orjson (jsonio.loads) reads an integer beyond 64 bits as a float: a larger size is the schema's
# to judge, and the document is jsonio's
_INT64 = 2**63 - 1  # (msgspec bounds an int by int64 at most)
_Text = Annotated[str, msgspec.Meta(min_length=1)]


class _LindiIndex(TypedDict):
    path: Annotated[str, msgspec.Meta(pattern=r"^lindi/(?!.*(^|/)\.\.(/|$)).+\.lindi\.json$")]
    version_id: _Text
    file_hash: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{128}$")]


class _Entry(TypedDict, total=False):
    """The types and lengths of schemas/manifest.schema.json's entry; its patterns are in
    PATTERNED, tested over all entries at once."""

    url: Required[str]
    version_id: Required[_Text]
    file_hash: Required[Annotated[str, msgspec.Meta(min_length=128, max_length=129)]]
    path: _Text
    size: Annotated[int, msgspec.Meta(ge=0, le=_INT64)]
    sha256: Annotated[str, msgspec.Meta(min_length=64, max_length=65)]
    created: str
    previous_version_id: str | None
    dandiset_id: Annotated[str, msgspec.Meta(min_length=6, max_length=7)]
    dandi_asset_path: str
    dandi_asset_id: str
    lindi_index: _LindiIndex


_MetadataFiles = dict[Annotated[str, msgspec.Meta(pattern="^[^/]+$")], _Entry]
_DataFiles = dict[_Text, _Entry]
_GROUP_TYPES = {"metadata_files": _MetadataFiles, "data_files": _DataFiles}


_ABSENT = msgspec.Raw()


class _Manifest(msgspec.Struct, forbid_unknown_fields=True):
    """The two groups of entries, typed; the other keys the schema names as their JSON text
    (read by jsonio and judged by the schema); empty: absent."""

    project_name: msgspec.Raw
    manifest_version: msgspec.Raw
    metadata_file_id_column_name: msgspec.Raw
    data_pipeline: msgspec.Raw
    metadata_files: _MetadataFiles
    data_files: _DataFiles
    previous_manifest_version: msgspec.Raw = _ABSENT
    created: msgspec.Raw = _ABSENT
    dandi: msgspec.Raw = _ABSENT


PATTERNED = ("url", "file_hash", "path", "sha256", "dandiset_id")
_DECODER = msgspec.json.Decoder(_Manifest)


class Decoded(NamedTuple):
    """A manifest the schema accepts, and its entries' paths when each URL is known to name
    a clean key (`urls.one_head`), metadata tables first; else None."""

    document: dict[str, Any]
    clean_paths: list[str] | None


def decode(data: bytes | str) -> Decoded | None:
    """The manifest in `data`, when it surely is one the schema accepts and has no key the
    schema does not name outside its entries; else None. An entry's keys the schema does not
    name are not kept (no reader reads them)."""
    try:
        decoded = _DECODER.decode(data)
    except (msgspec.DecodeError, RecursionError):
        return None
    document: dict[str, Any] = {}
    for field in decoded.__struct_fields__:
        value = getattr(decoded, field)
        if field in GROUPS:
            document[field] = {}
        elif len(value):
            document[field] = loads(bytes(value))
    if violations(document, "manifest"):
        return None
    groups = {group: getattr(decoded, group) for group in GROUPS}
    matched, paths = _matched(list(chain.from_iterable(map(dict.values, groups.values()))))
    return Decoded(document | groups, paths) if matched else None


def _matched(entries: list[Any]) -> tuple[bool, list[str] | None]:
    """Whether each entry's fields match the schema's patterns; and the entries' paths when
    each URL is one start and the entry's clean path (`urls.one_head`: then both the URL's and
    the path's pattern hold), else None."""
    paths: list[Any] = list(map(dict.get, entries, repeat("path")))
    clean = all(paths) and one_head(list(map(itemgetter("url"), entries)), paths) is not None
    fields = [field for field in PATTERNED if field not in ("url", "path")] if clean else PATTERNED
    return all(matches(field, entries) for field in fields), paths if clean else None


def unvouched(document: Any) -> Any:
    """`document` without the entries this vouches for: all of them, or else one by one. Each
    entry is valid or not on its own, so the schema finds in what is left all it would find in
    `document`."""
    if type(document) is not dict:
        return document
    left = dict(document)
    for group in GROUPS:
        entries = document.get(group)
        if type(entries) is dict:
            left[group] = (
                {}
                if _vouched(group, entries)
                else {
                    key: entry
                    for key, entry in entries.items()
                    if not _vouched(group, {key: entry})
                }
            )
    return left


def _vouched(group: str, entries: dict[Any, Any]) -> bool:
    try:
        checked = msgspec.convert(entries, _GROUP_TYPES[group])
    except msgspec.ValidationError:
        return False
    return _matched(list(checked.values()))[0]


def matches(field: str, entries: list[Any]) -> bool:
    """Whether each entry's `field` (where it has one) matches the schema's pattern for it."""
    values: list[Any] = list(map(dict.get, entries, repeat(field)))
    if not any(values) and values.count(None) == len(values):  # no entry has it
        return True
    if not all(values):  # some entries without the field (or "")
        values = list(filter(partial(is_not, None), values))
    return pattern_test(_entry_pattern(field))(values)


@cache
def _entry_pattern(field: str) -> str:
    pattern: str = load_schema("manifest")["$defs"]["entry"]["properties"][field]["pattern"]
    return pattern
