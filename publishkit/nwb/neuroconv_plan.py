"""`kind: neuroconv`: NeuroConv's data interfaces behind a template, checked before data is read.

A template names an interface class and its `source_data`; before a conversion is planned, every
named interface must exist and no file-wide table may have two writers (publishkit's own kinds
and a NeuroConv interface both building the electrodes, say). When a row is planned, its rendered
`source_data` is checked against the interface's source schema, its paths are resolved inside the
workspace, and the files that decide whether the row changed are listed. NeuroConv is imported
only here and only for templates that use it; it is an optional extra.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from functools import cache
from importlib import metadata as package_metadata
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec

from publishkit.errors import ConfigError, UsageError, WorkspaceError
from publishkit.formats.yamlio import line_of, read_yaml
from publishkit.nwb.build import ConversionError
from publishkit.workspace.confined import inside
from publishkit.workspace.state import InterfaceSchemas, StateStore

KIND = "neuroconv"
INSTALL = "pip install 'publishkit[neuroconv]'"
VERSIONED = ("neuroconv", "spikeinterface", "neo", "roiextractors")  # a new version re-converts
PATH_FORMATS = frozenset({"file-path", "directory-path"})
# publishkit's kinds that write the file's one electrodes, units or intracellular recordings
# table (and their devices), which NeuroConv's interfaces of that modality write too
OWN_KINDS = {
    "ecephys": frozenset({"probes", "electrodes", "units"}),
    "icephys": frozenset({"icephys_electrode", "sweeps"}),
}
# interfaces whose readers run code or unpickle objects from the lab's files
RUNS_CODE = {
    "PhySortingInterface": "spikeinterface executes the Phy folder's params.py",
    "KiloSortSortingInterface": "spikeinterface executes the Kilosort folder's params.py",
    "Suite2pSegmentationInterface": "roiextractors unpickles Suite2p's ops.npy and stat.npy",
    "DeepLabCutInterface": "NeuroConv unpickles the DeepLabCut _meta.pickle beside the output",
    "SimaSegmentationInterface": "roiextractors unpickles the SIMA dataset's files",
}
_ROW_COLUMN = re.compile(r"row\.([A-Za-z_]\w*)|row\[\s*['\"]([^'\"]+)['\"]\s*\]")


class Entry(msgspec.Struct, frozen=True):
    """One `kind: neuroconv` object of a template, by its index in `objects`."""

    index: int
    spec: dict[str, Any]  # as written in the template, or rendered for a row

    @property
    def interface(self) -> str:
        return str(self.spec["interface"])


def entries(objects: Any) -> list[Entry]:
    """The template's `kind: neuroconv` objects."""
    if not isinstance(objects, list):
        return []
    return [
        Entry(i, o) for i, o in enumerate(objects) if isinstance(o, dict) and o.get("kind") == KIND
    ]


def datainterfaces(where: str = "this template") -> Any:
    """NeuroConv's `datainterfaces` module; a UsageError with the install command without it."""
    try:
        import neuroconv.datainterfaces as found
    except ImportError:
        raise UsageError(
            f"{where} uses NeuroConv (kind: neuroconv), which is not installed", hint=INSTALL
        ) from None
    return found


def interface_class(name: str) -> Any:
    return getattr(datainterfaces(), name)


class Interface(msgspec.Struct, frozen=True):
    """What a plan needs to know of one NeuroConv interface."""

    name: str
    modality: str  # ecephys, ophys, behavior, ...: the folder of NeuroConv's interfaces
    source_schema: dict[str, Any]
    options_schema: dict[str, Any] | None  # from add_to_nwbfile's signature, when it has one


class Interfaces:
    """NeuroConv's interfaces, described once per version of NeuroConv and its readers and kept
    in the state store: planning rows of a known template imports no NeuroConv."""

    def __init__(self, store: StateStore, where: str) -> None:
        self._records = InterfaceSchemas(store)
        self._where = where

    def get(self, name: str) -> Interface | None:
        """The interface, or None when NeuroConv has no interface of that name."""
        kept = self._records.of(self._versions(), name)
        if kept is not None:
            return Interface(name=name, **json.loads(kept))
        module = datainterfaces(self._where)
        cls: Any = getattr(module, name, None)
        if not _is_interface(cls):
            return None
        parts = cls.__module__.split(".")
        described = {
            "modality": parts[2] if len(parts) > 2 and parts[1] == "datainterfaces" else "",
            "source_schema": cls.get_source_schema(),
            "options_schema": _options_schema(cls),
        }
        text = json.dumps(described, sort_keys=True, default=str)
        self._records.keep(self._versions(), name, text)
        return Interface(name=name, **json.loads(text))

    def _versions(self) -> str:
        return json.dumps(versions(), sort_keys=True)

    def names(self) -> list[str]:
        """Every data interface class NeuroConv offers (imports NeuroConv)."""
        module = datainterfaces(self._where)
        return sorted(n for n in dir(module) if _is_interface(getattr(module, n)))


def _is_interface(found: Any) -> bool:
    from neuroconv import BaseDataInterface

    return isinstance(found, type) and issubclass(found, BaseDataInterface)


def check_template(document: dict[str, Any], template_file: Path, known: Interfaces) -> None:
    """Every interface the template names exists, and no file-wide table has two writers; a
    ConfigError names the file, the line and the field. Runs when a conversion is planned
    (listing or copying a template needs no NeuroConv)."""
    found = entries(document.get("objects"))
    kinds = {o.get("kind") for o in document.get("objects") or [] if isinstance(o, dict)}
    for entry in found:
        interface = known.get(entry.interface)
        if interface is None:
            names = known.names()
            close = difflib.get_close_matches(entry.interface, names, n=5, cutoff=0.5)
            same = [n for n in names if n.lower() == entry.interface.lower()]
            raise ConfigError(
                f"{_where(template_file, entry, 'interface')}: NeuroConv has no data interface "
                f"{entry.interface!r} (close: {', '.join(dict.fromkeys(same + close)) or 'none'})",
                hint="name a NeuroConv class, e.g. SpikeGLXRecordingInterface",
            )
        both = sorted(OWN_KINDS.get(interface.modality, frozenset()) & kinds)
        if both:
            raise ConfigError(
                f"{_where(template_file, entry, 'interface')}: {entry.interface} writes the "
                f"{interface.modality} devices and tables that kind {', '.join(both)} writes "
                "too, and one file cannot have two writers of them",
                hint="build them with NeuroConv only, or with publishkit's kinds only",
            )


def _where(template_file: Path, entry: Entry, field: str) -> str:
    _, root = read_yaml(template_file)
    line = line_of(root, ("objects", entry.index, field))
    return f"{template_file} line {line}: objects.{entry.index}.{field}"


def notices(document: dict[str, Any]) -> dict[str, str]:
    """Interface name -> why converting with it runs code from the lab's data."""
    found = entries(document.get("objects"))
    return {e.interface: RUNS_CODE[e.interface] for e in found if e.interface in RUNS_CODE}


@cache
def versions() -> dict[str, str | None]:
    """The versions of NeuroConv and the readers under it, from package metadata (no import);
    read once per process."""
    found: dict[str, str | None] = {}
    for name in VERSIONED:
        try:
            found[name] = package_metadata.version(name)
        except package_metadata.PackageNotFoundError:
            found[name] = None
    return found


def preload(document: dict[str, Any]) -> tuple[str, ...]:
    """What conversion workers import once, warm, when the template uses NeuroConv: NeuroConv
    and the readers under it (a reader that is not installed is skipped)."""
    if not entries(document.get("objects")):
        return ()
    return ("neuroconv.datainterfaces", "spikeinterface.extractors", "roiextractors")


# --- one row -----------------------------------------------------------------------------------


class PlannedEntry(msgspec.Struct, frozen=True):
    """A neuroconv object ready for a worker: paths absolute, values of the schema's types."""

    index: int
    interface: str
    source_data: dict[str, Any]
    conversion_options: dict[str, Any]
    metadata: dict[str, Any]
    column: str | None  # the sessions-table column its source comes from
    inputs: tuple[Path, ...]  # the files that decide whether the row changed


def plan_entry(
    entry: Entry, raw: Entry, root: Path, template_file: Path, known: Interfaces
) -> PlannedEntry:
    """A rendered entry checked against its interface's schemas; a ConversionError names the
    template file, its line and the row's column."""
    import jsonschema

    from publishkit.formats.schemas import first_violation

    interface = known.get(entry.interface)
    assert interface is not None  # check_template refused the template otherwise
    schema = interface.source_schema
    source = _typed(dict(entry.spec.get("source_data") or {}), schema)
    paths: list[Path] = []
    for key, value in list(source.items()):
        if _is_path(key, schema.get("properties", {}).get(key, {})):
            items = value if isinstance(value, list) else [value]
            resolved = [_inside(root, i, raw, ("source_data", key), template_file) for i in items]
            paths += resolved
            texts = [str(p) for p in resolved]
            source[key] = texts if isinstance(value, list) else texts[0]
    options = dict(entry.spec.get("conversion_options") or {})
    for field, document, against in (
        ("source_data", source, schema),
        ("conversion_options", options, interface.options_schema),
    ):
        if against is None:
            continue
        error = first_violation(jsonschema.Draft7Validator(against).iter_errors(document))
        if error is not None:
            raise _error(raw, (field, *error.path), template_file, error.message)
    inputs = input_files(paths, entry.spec.get("inputs"))
    for found in inputs:  # a file beside a source, or in its folder, read by NeuroConv too
        try:
            inside(root, found, str(found), "keep a row's source files inside the workspace")
        except WorkspaceError as exc:
            raise _error(raw, ("source_data",), template_file, exc.message) from None
    return PlannedEntry(
        index=entry.index,
        interface=entry.interface,
        source_data=source,
        conversion_options=options,
        metadata=dict(entry.spec.get("metadata") or {}),
        column=_column(raw.spec.get("source_data")),
        inputs=tuple(inputs),
    )


def input_files(paths: list[Path], patterns: list[str] | None = None) -> list[Path]:
    """The files a source's paths stand for: every file under a folder; a file and the files
    beside it named `<stem>.*` or `<stem>_*` (SpikeGLX's .bin and .meta); or, with `patterns`,
    the files matching them in each folder (a file's own folder)."""
    found: set[Path] = set()
    for path in paths:
        folder = path if path.is_dir() else path.parent
        if patterns:
            found.update(p for pattern in patterns for p in folder.glob(pattern) if p.is_file())
        elif path.is_dir():
            found.update(p for p in path.rglob("*") if p.is_file())
        else:
            found.update(_siblings(path))
    return sorted(found)


def _siblings(path: Path) -> Iterator[Path]:
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    yield path
    for other in path.parent.iterdir():
        rest = other.name[len(stem) :]
        if other.name.startswith(stem) and rest[:1] in (".", "_") and other.is_file():
            yield other


def _inside(root: Path, value: Any, raw: Entry, at: tuple[str, ...], template_file: Path) -> Path:
    """`value` as a path in the workspace that exists (a file or a folder)."""
    text = str(value or "").strip()
    pure = PurePosixPath(text.replace("\\", "/"))
    if not text or pure.is_absolute() or ".." in pure.parts:
        raise _error(raw, at, template_file, f"{text!r} is not a path inside the workspace")
    try:  # never a file or folder outside the workspace, even through a symlink
        path = inside(root, root / pure, text, "keep a row's source files inside the workspace")
    except WorkspaceError as exc:
        raise _error(raw, at, template_file, exc.message) from None
    if not path.exists():
        raise _error(raw, at, template_file, f"{text} does not exist")
    return path


def _error(raw: Entry, at: tuple[Any, ...], template_file: Path, message: str) -> ConversionError:
    """A row's error at `objects.<index>.<at>`, naming the template's line and the row's column."""
    _, root = read_yaml(template_file)
    full = ("objects", raw.index, *at)
    line = line_of(root, full)
    dotted = ".".join(str(p) for p in full)
    value: Any = raw.spec
    for part in at:
        value = value.get(part) if isinstance(value, dict) else None
    return ConversionError(
        f"{template_file.parent.name}/{template_file.name} line {line}: {dotted} "
        f"({raw.interface}): {message}",
        _column(value) or _column(raw.spec.get("source_data")),
    )


def _column(value: Any) -> str | None:
    """The first sessions-table column a template value's placeholders read."""
    text = str(value) if value is not None else ""
    match = _ROW_COLUMN.search(text)
    return (match.group(1) or match.group(2)) if match else None


def _is_path(key: str, schema: dict[str, Any]) -> bool:
    """Whether a source-schema property holds paths: a path format, also inside anyOf or items,
    or else a `*_path`/`*_paths` name."""

    def formats(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if "format" in node:
                yield str(node["format"])
            for option in node.get("anyOf", []):
                yield from formats(option)
            yield from formats(node.get("items"))

    found = set(formats(schema))
    return bool(found & PATH_FORMATS) or (not found and key.endswith(("_path", "_paths")))


def _typed(source: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """Rendered strings as the numbers, booleans or nulls the schema wants; an empty value of an
    optional key is left out (the interface's default applies)."""
    properties = schema.get("properties", {})
    required = set(schema.get("required", []))
    typed = {}
    for key, value in source.items():
        if isinstance(value, str) and key in properties:
            if value == "" and key not in required:
                continue
            value = _as(value, _types(properties[key]))
        typed[key] = value
    return typed


def _types(schema: dict[str, Any]) -> set[str]:
    kinds = schema.get("type", [])
    found = set(kinds if isinstance(kinds, list) else [kinds])
    for option in schema.get("anyOf", []):
        found |= _types(option)
    return found


def _as(value: str, types: set[str]) -> Any:
    if "string" in types or not types:
        return value
    for kind, parse in (("integer", int), ("number", float)):
        if kind in types:
            try:
                return parse(value)
            except ValueError:
                pass
    if "boolean" in types and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _options_schema(cls: type) -> dict[str, Any] | None:
    """The interface's conversion options schema (add_to_nwbfile's signature), if it has one."""
    from neuroconv.utils import get_json_schema_from_method_signature

    try:
        return dict(
            get_json_schema_from_method_signature(
                cls.add_to_nwbfile,  # type: ignore[attr-defined]
                exclude=["nwbfile", "metadata"],
            )
        )
    except Exception:  # an unusual signature: NeuroConv refuses bad options when converting
        return None
