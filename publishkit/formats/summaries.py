"""NWB summaries: what a release publishes of each NWB file, and what changed between two.

A summary (`schemas/nwb-summary.schema.json`) holds an NWB file's session and subject fields,
its devices, electrode groups and imaging planes, and each neurodata object with its type, its
data's shape, dtype, unit and rate and a table's rows and columns. A release publishes the
summaries of its NWB files as one document, `summaries/<project>_summaries_vX.Y.Z.json`
(`schemas/nwb-summaries.schema.json`), each summary compact JSON compressed with zlib and
base64-encoded, keyed by the file's content hash, so that notes between two releases decode
only the summaries of the files that changed (and the document is small and quick to parse:
one plain string per file, no escapes, no nested objects).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any

import msgspec
from msgspec.structs import asdict

from publishkit.errors import ManifestError
from publishkit.formats.jsonio import loads
from publishkit.formats.schemas import refuse_invalid

SUMMARY_VERSION = 1
# Under the release prefix, beside manifests/ and not in it: AllenSDK's S3CloudCache takes every
# object under <project>/manifests/ for a manifest.
SUMMARIES_FOLDER = "summaries"
SESSION_FIELDS = ("identifier", "session_description", "session_start_time", "session_id")
SUBJECT_FIELDS = (
    "subject_id",
    "age",
    "sex",
    "species",
    "genotype",
    "strain",
    "date_of_birth",
    "weight",
    "description",
)
FIELD_SECTIONS = ("session", "subject")
NAMED_SECTIONS = ("devices", "electrode_groups", "imaging_planes", "objects")
OBJECT_FIELDS = ("type", "shape", "dtype", "unit", "rate", "rows", "columns")
_SCHEMA = "nwb-summaries"
_HINT = "the summaries are publishkit's own; pass --files-only to compare file by file"
KEY_LENGTH = 32  # a content's key: the first 128 bits of its blake2b, in hex

Summary = dict[str, Any]

# zlib's preset dictionary for summaries: the names every summary repeats. Published in each
# document (zlib_dictionary), so that any reader can decode; changing it changes every encoded
# summary, so it goes with a new SUMMARY_VERSION.
DICTIONARY = json.dumps(
    {
        "devices": {"": {"description": "", "manufacturer": ""}},
        "electrode_groups": {"": {"description": "", "device": "", "location": ""}},
        "imaging_planes": {
            "": {
                "description": "",
                "device": "",
                "excitation_lambda": 0,
                "imaging_rate": 0,
                "indicator": "",
                "location": "",
            }
        },
        "objects": {
            "acquisition/": {"columns": [], "dtype": "float64", "rate": 0, "rows": 0, "shape": []},
            "processing/": {"type": "ProcessingModule", "unit": ""},
            "intervals/trials": {"type": "TimeIntervals"},
            "units": {"type": "Units"},
            "general/extracellular_ephys/electrodes": {"type": "DynamicTable"},
            "stimulus/": {"type": "TimeSeries"},
        },
        "session": dict.fromkeys(SESSION_FIELDS, ""),
        "subject": {**dict.fromkeys(SUBJECT_FIELDS, ""), "species": "Mus musculus"},
    },
    sort_keys=True,
    separators=(",", ":"),
).encode()


def content_key(file_hash: str) -> str:
    """The key of a content (a manifest's file_hash) in a summaries document."""
    return file_hash[:KEY_LENGTH]


def summaries_name(project: str, version: str) -> str:
    """The file name of release `version`'s summaries (in SUMMARIES_FOLDER)."""
    return f"{project}_summaries_v{version}.json"


def encode(summary: Summary) -> str:
    """A summary as the summaries document stores it: its compact, sorted JSON, compressed
    with zlib and DICTIONARY, in base64."""
    text = json.dumps(summary, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    packer = zlib.compressobj(9, zdict=DICTIONARY)
    return base64.b64encode(packer.compress(text.encode()) + packer.flush()).decode("ascii")


def check_summary(summary: Any, source: str) -> Summary:
    """`summary` if it is one (`schemas/nwb-summary.schema.json`); else a ManifestError."""
    refuse_invalid(summary, "nwb-summary", source, _HINT)
    return dict(summary)


def decode(text: str, source: str, dictionary: bytes = DICTIONARY) -> Summary:
    """The summary stored as `text`, checked against its schema; a ManifestError names
    `source` when it is not one."""
    return check_summary(_decoded(text, source, dictionary), source)


def _decoded(text: str, source: str, dictionary: bytes) -> Any:
    try:
        unpacker = zlib.decompressobj(zdict=dictionary)
        data = unpacker.decompress(base64.b64decode(text, validate=True)) + unpacker.flush()
        if not unpacker.eof:
            raise ValueError("the compressed data is cut short")
        return loads(data)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise ManifestError(
            f"{source}: not a summary (base64 of zlib-compressed JSON): {exc}", hint=_HINT
        ) from None


class Summaries(msgspec.Struct, frozen=True):
    """A release's published summaries: the tables' keys and each NWB content's summary."""

    source: str
    summary_version: int
    keys: dict[str, tuple[str, ...]]
    files: dict[str, str]  # content_key(blake2b) -> encoded summary
    dictionary: bytes = DICTIONARY  # zlib's preset dictionary of the encoded summaries

    def many(self, contents: list[str]) -> dict[str, Summary]:
        """The summaries of these contents (file_hashes) that the release published, each
        decoded and checked."""
        keys = {c: content_key(c) for c in contents}
        return {
            c: decode(self.files[k], f"{self.source}: nwb_files/{k}", self.dictionary)
            for c, k in keys.items()
            if k in self.files
        }


def summaries_document(
    project: str, version: str, keys: dict[str, tuple[str, ...]], files: dict[str, str]
) -> dict[str, Any]:
    """The summaries document of release `version`, validated."""
    document = {
        "project_name": project,
        "manifest_version": version,
        "summary_version": SUMMARY_VERSION,
        "zlib_dictionary": base64.b64encode(DICTIONARY).decode("ascii"),
        "tables": {name: {"key": list(key)} for name, key in sorted(keys.items())},
        "nwb_files": files,
    }
    validate_document(document, summaries_name(project, version))
    return document


def validate_document(document: Any, source: str) -> None:
    """Refuse a document that breaks its schema, naming `source` and the JSON pointer; the
    summaries themselves are checked as they are decoded."""
    refuse_invalid(document, _SCHEMA, source, _HINT)


def parse_summaries(data: bytes, source: str) -> Summaries:
    """A published summaries document, validated."""
    try:
        document = loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{source}: not valid JSON ({exc})", hint=_HINT) from None
    validate_document(document, source)
    try:
        dictionary = base64.b64decode(document["zlib_dictionary"], validate=True)
    except binascii.Error as exc:
        raise ManifestError(
            f"{source}: at /zlib_dictionary: not base64 ({exc})", hint=_HINT
        ) from None
    return Summaries(
        source,
        document["summary_version"],
        {name: tuple(spec["key"]) for name, spec in document["tables"].items()},
        document["nwb_files"],
        dictionary,
    )


class FieldChange(msgspec.Struct, frozen=True):
    """One field of an NWB file's summary, changed; or a named item (device, object...) added
    (`field` None, `old` None) or removed (`field` None, `new` None)."""

    section: str  # session, subject, devices, electrode_groups, imaging_planes, objects
    name: str | None  # the device, group, plane or object; None in session and subject
    field: str | None
    old: Any
    new: Any

    @property
    def kind(self) -> str:
        """added, removed or changed."""
        if self.field is None:
            return "added" if self.old is None else "removed"
        return "changed"

    def as_json(self) -> dict[str, Any]:
        """The change, for `--format json`."""
        return {**asdict(self), "kind": self.kind}


class NwbDiff(msgspec.Struct, frozen=True):
    """What changed inside one NWB file, from its summaries; `missing` names the release
    whose summary of it is not published (then nothing is compared)."""

    path: str
    changes: tuple[FieldChange, ...] = ()
    missing: tuple[str, ...] = ()  # "old", "new"

    def as_json(self) -> dict[str, Any]:
        """The file's changes, for `--format json`."""
        return {
            "path": self.path,
            "compared": not self.missing,
            "missing_summaries": list(self.missing),
            "changes": [c.as_json() for c in self.changes],
        }


def diff_summaries(path: str, old: Summary | None, new: Summary | None) -> NwbDiff:
    """What changed from summary `old` to `new` of the NWB file at `path`."""
    missing = tuple(side for side, s in (("old", old), ("new", new)) if s is None)
    if old is None or new is None:
        return NwbDiff(path, (), missing)
    changes: list[FieldChange] = []
    for section in FIELD_SECTIONS:
        changes += _fields(section, None, old.get(section, {}), new.get(section, {}))
    for section in NAMED_SECTIONS:
        before, after = old.get(section, {}), new.get(section, {})
        for name in sorted(before.keys() | after.keys()):
            if name not in after:
                changes.append(FieldChange(section, name, None, before[name], None))
            elif name not in before:
                changes.append(FieldChange(section, name, None, None, after[name]))
            else:
                changes += _fields(section, name, before[name], after[name])
    return NwbDiff(path, tuple(changes))


def _fields(
    section: str, name: str | None, before: dict[str, Any], after: dict[str, Any]
) -> list[FieldChange]:
    order = OBJECT_FIELDS if section == "objects" else ()
    fields = [f for f in order if f in before or f in after]
    fields += sorted((before.keys() | after.keys()) - set(fields))
    return [
        FieldChange(section, name, f, before.get(f), after.get(f))
        for f in fields
        if before.get(f) != after.get(f)
    ]


def known_field(field: str) -> bool:
    """`field` names a summary field a table column can be checked against: subject.<x>,
    a session field (identifier, session_description, session_start_time, session_id), or
    session.<that>."""
    section, _, name = field.rpartition(".")
    if section == "subject":
        return name in SUBJECT_FIELDS
    return section in ("", "session") and name in SESSION_FIELDS


def field_value(summary: Summary, field: str) -> Any:
    """The value of a `known_field` in `summary` (None when the file does not have it)."""
    section, _, name = field.rpartition(".")
    return summary.get(section or "session", {}).get(name)
