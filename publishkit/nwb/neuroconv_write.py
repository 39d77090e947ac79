"""A row's `kind: neuroconv` objects, in a conversion worker: one NeuroConv converter over them.

The converter's interfaces read the sources; what they say about the session fills the file's
fields the template leaves empty (publishkit's own values win); the template's `metadata:` of
each object is deep-merged over theirs; then each interface adds its objects to the file that
publishkit's own kinds build, and NeuroConv's default HDF5 settings (chunking, compression) are
applied to every dataset before publishkit writes the file.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec

from publishkit.nwb.build import ConversionError
from publishkit.nwb.neuroconv_plan import PlannedEntry, interface_class

# the NWBFile and Subject fields a template may leave to the source files
NWBFILE_FIELDS = (
    "session_description",
    "session_start_time",
    "experimenter",
    "keywords",
    "related_publications",
    "lab",
    "institution",
    "experiment_description",
    "protocol",
    "surgery",
    "virus",
    "stimulus_notes",
    "data_collection",
    "notes",
    "pharmacology",
)
SUBJECT_FIELDS = (
    "subject_id",
    "species",
    "sex",
    "age",
    "genotype",
    "strain",
    "description",
    "weight",
)


class Sources(msgspec.Struct):
    """The row's interfaces, opened, and the metadata they and the template give together."""

    entries: list[PlannedEntry]
    interfaces: dict[str, Any]  # name in the converter -> interface
    converter: Any
    metadata: dict[str, Any]


def open_sources(entries: list[PlannedEntry]) -> Sources:
    """Open every interface (reading headers, not data) and merge their metadata."""
    from neuroconv import ConverterPipe

    interfaces = {}
    for entry in entries:
        try:
            interfaces[_name(entry)] = interface_class(entry.interface)(**entry.source_data)
        except Exception as exc:
            raise _failed(entry, "cannot read the source", exc) from None
    converter = ConverterPipe(data_interfaces=interfaces)
    try:
        metadata = dict(converter.get_metadata())
    except Exception as exc:
        raise ConversionError(f"NeuroConv cannot read the sources' metadata: {_say(exc)}") from None
    for entry in entries:
        metadata = deep_merge(metadata, entry.metadata)
    return Sources(entries, interfaces, converter, metadata)


def file_fields(
    sources: Sources, nwbfile: dict[str, Any], subject: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The template's NWBFile and Subject fields, each empty one filled from the sources."""
    given = sources.metadata.get("NWBFile") or {}
    merged = dict(nwbfile)
    for key in NWBFILE_FIELDS:
        if _empty(merged.get(key)) and not _empty(given.get(key)):
            merged[key] = _plain(given[key])
    from_source = sources.metadata.get("Subject") or {}
    if subject is None and not from_source:
        return merged, None
    person = dict(subject or {})
    for key in SUBJECT_FIELDS:
        if _empty(person.get(key)) and not _empty(from_source.get(key)):
            person[key] = _plain(from_source[key])
    return merged, person


def add_sources(nwbfile: Any, sources: Sources) -> None:
    """Each interface's objects into `nwbfile`, then NeuroConv's default HDF5 settings."""
    import jsonschema
    from neuroconv.tools.nwb_helpers import configure_backend, get_default_backend_configuration

    from publishkit.formats.schemas import first_violation

    metadata = dict(sources.metadata)
    metadata["NWBFile"] = {
        **(metadata.get("NWBFile") or {}),
        **{
            k: getattr(nwbfile, k)
            for k in ("session_description", "session_start_time", "identifier")
            if getattr(nwbfile, k, None)
        },
    }
    if nwbfile.subject is not None:
        metadata["Subject"] = {
            **(metadata.get("Subject") or {}),
            **{
                k: getattr(nwbfile.subject, k)
                for k in SUBJECT_FIELDS
                if getattr(nwbfile.subject, k, None) not in (None, "")
            },
        }
    try:
        sources.converter.validate_metadata(metadata=metadata)
    except jsonschema.ValidationError as exc:
        found = first_violation([exc])
        assert found is not None  # one error given, one found
        raise ConversionError(
            f"metadata: {found.dotted}: {found.message} (NeuroConv's metadata schema)",
            "metadata",
        ) from None
    for entry in sources.entries:
        try:
            sources.interfaces[_name(entry)].add_to_nwbfile(
                nwbfile=nwbfile, metadata=metadata, **entry.conversion_options
            )
        except Exception as exc:
            raise _failed(entry, "cannot add its data", exc) from None
    try:
        settings = get_default_backend_configuration(nwbfile=nwbfile, backend="hdf5")
        configure_backend(nwbfile=nwbfile, backend_configuration=settings)
    except Exception as exc:
        raise ConversionError(f"NeuroConv's HDF5 settings: {_say(exc)}") from None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`base` with `over`'s values on top, mappings merged key by key (lists replaced)."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _name(entry: PlannedEntry) -> str:
    return f"{entry.interface}{entry.index}"


def _failed(entry: PlannedEntry, what: str, exc: Exception) -> ConversionError:
    return ConversionError(
        f"objects.{entry.index} ({entry.interface}): {what}: {_say(exc)}", entry.column
    )


def _say(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | tuple) and len(value) == 0)


def _plain(value: Any) -> Any:
    """Source metadata as the template would have written it (times as ISO text)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple):
        return list(value)
    return value
