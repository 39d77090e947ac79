"""Building one NWB file from one sessions-table row: the pieces every template kind shares.

A template's `objects:` are built by *builders*: functions registered under a `kind` that add
NWB objects to the file from the row's source files. Each kind's fields are described by
`schemas/template-objects/<kind>.schema.json`, checked when the template is loaded.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from publishkit.errors import WorkspaceError
from publishkit.formats.table_header import header_problem
from publishkit.workspace.confined import inside

if TYPE_CHECKING:  # numpy is imported where it is used: planning a conversion needs none
    import numpy as np


_HINT = "keep a row's source files inside the workspace"


class ConversionError(Exception):
    """A row cannot be converted: names the row's column (or template field) and the reason."""

    def __init__(self, reason: str, column: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column


class BuildContext(msgspec.Struct, frozen=True):
    """Where a row's source files are, and the row itself (values as strings)."""

    root: Path  # source paths are relative to it (the workspace)
    row: Mapping[str, str]
    row_number: int  # 1-based line in the sessions table (the header is line 1)

    def source(self, value: Any, field: str) -> Path:
        """A source file named by a rendered template field, checked to exist in the workspace."""
        text = str(value or "").strip()
        pure = PurePosixPath(text.replace("\\", "/"))
        if not text or pure.is_absolute() or ".." in pure.parts:
            raise ConversionError(f"{field}: {text!r} is not a path inside the workspace", field)
        try:  # never a file outside the workspace, even through a symlink
            path = inside(self.root, self.root / pure, f"{field}: source file {text}", _HINT)
        except WorkspaceError as exc:
            raise ConversionError(exc.message, field) from None
        if not path.is_file():
            raise ConversionError(f"{field}: source file {text} does not exist", field)
        return path


class Builder(Protocol):
    """Adds the objects of one template entry (`spec`, rendered) to `nwbfile`."""

    def __call__(self, nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None: ...


BUILDERS: dict[str, Builder] = {}


def builder(kind: str) -> Callable[[Builder], Builder]:
    """Register a builder for `kind:` entries of templates."""

    def register(function: Builder) -> Builder:
        BUILDERS[kind] = function
        return function

    return register


# --- reading source files ----------------------------------------------------------------------


def read_table(path: Path) -> dict[str, list[str]]:
    """A CSV file as column -> values (strings); an error names the file."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns: dict[str, list[str]] = {name: [] for name in reader.fieldnames or ()}
            for row in reader:
                for name in columns:
                    columns[name].append(row.get(name) or "")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConversionError(f"{path.name}: cannot read CSV ({exc})") from None
    if not columns:
        raise ConversionError(f"{path.name}: the CSV file has no header row")
    problem = header_problem(reader.fieldnames or ())
    if problem is not None:  # a reader by name would keep one of two columns of one name
        raise ConversionError(f"{path.name}: {problem}")
    return columns


def column(table: dict[str, list[str]], name: str, path: Path, *, numeric: bool = True) -> Any:
    """One column of a CSV table, as floats (numeric) or strings."""
    import numpy as np

    if name not in table:
        raise ConversionError(f"{path.name}: no column {name!r} (found: {', '.join(table)})", name)
    values = table[name]
    if not numeric:
        return list(values)
    numbers = []
    for row, value in enumerate(values, start=1):
        try:
            numbers.append(float(value) if value != "" else np.nan)
        except ValueError:  # the value is not quoted: a message never shows a file's content
            raise ConversionError(
                f"{path.name}: column {name!r} is not numeric (data row {row})", name
            ) from None
    return np.array(numbers, dtype=float)


def read_array(path: Path, key: str | None = None) -> np.ndarray:
    """An array from .npy, or `key` from .npz (the only array when there is one)."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConversionError(f"{path.name}: cannot read array ({exc})") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        names = list(loaded.files)
        if key is None and len(names) == 1:
            key = names[0]
        if key is None:
            raise ConversionError(
                f"{path.name} holds several arrays ({', '.join(names)}): name one with `key`", "key"
            )
        if key not in names:
            raise ConversionError(
                f"{path.name}: no array {key!r} (found: {', '.join(names)})", "key"
            )
        return np.asarray(loaded[key])


def read_series(spec: dict[str, Any], ctx: BuildContext, field: str = "source") -> np.ndarray:
    """Data named by `source` (+ `column`/`columns` for CSV, `key` for NPZ)."""
    import numpy as np

    path = ctx.source(spec.get(field), field)
    if path.suffix.lower() == ".csv":
        table = read_table(path)
        names = spec.get("columns") or [spec.get("column")]
        if names == [None]:
            raise ConversionError(f"{field}: a CSV source needs `column` or `columns`", "column")
        arrays = [column(table, str(name), path) for name in names]
        return arrays[0] if len(arrays) == 1 else np.column_stack(arrays)
    if path.suffix.lower() in (".npy", ".npz"):
        return read_array(path, spec.get("key"))
    raise ConversionError(f"{field}: {path.name} is neither CSV nor NPY/NPZ", field)


def as_float(spec: dict[str, Any], key: str, default: float | None = None) -> float:
    value = spec.get(key, default)
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConversionError(f"{key}: expected a number, found {value!r}", key) from None


def timing(spec: dict[str, Any], ctx: BuildContext, length: int) -> dict[str, Any]:
    """`rate` (+ optional `starting_time`) or `timestamps` (a source, like data) for a series."""
    import numpy as np

    if spec.get("rate") not in (None, ""):
        return {
            "rate": as_float(spec, "rate"),
            "starting_time": as_float(spec, "starting_time", 0.0),
        }
    stamps = spec.get("timestamps")
    if not isinstance(stamps, dict):
        raise ConversionError("give `rate` or `timestamps` (a source) for the series", "rate")
    values = np.asarray(read_series(stamps, ctx), dtype=float)
    if values.shape[0] != length:
        raise ConversionError(
            f"timestamps: {values.shape[0]} values for {length} samples", "timestamps"
        )
    return {"timestamps": values}


# --- the file itself ---------------------------------------------------------------------------


def parse_time(value: Any, field: str) -> datetime:
    text = str(value or "").strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConversionError(
            f"{field}: {text!r} is not an ISO 8601 date-time (e.g. 2019-05-02T14:03:00-07:00)",
            field,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def identifier_for(template: str, output_name: str) -> str:
    """Stable and unique per (template, output file): re-converting keeps the identifier."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"publishkit:{template}:{output_name}"))


def new_nwbfile(
    nwbfile_spec: dict[str, Any],
    subject_spec: dict[str, Any] | None,
    *,
    identifier: str,
    provenance: str,
) -> Any:
    from pynwb import NWBFile
    from pynwb.file import Subject

    fields = {k: v for k, v in nwbfile_spec.items() if v not in (None, "", [])}
    fields["session_start_time"] = parse_time(
        fields.get("session_start_time"), "nwbfile.session_start_time"
    )
    fields.setdefault("identifier", identifier)
    fields["source_script"] = provenance
    fields["source_script_file_name"] = "publishkit"
    for key in ("experimenter", "keywords", "related_publications"):
        if isinstance(fields.get(key), str):
            fields[key] = [fields[key]]
    try:
        nwbfile = NWBFile(**fields)
        if subject_spec:
            subject = {k: v for k, v in subject_spec.items() if v not in (None, "")}
            nwbfile.subject = Subject(**subject)
    except (TypeError, ValueError) as exc:
        raise ConversionError(f"nwbfile/subject: {exc}") from None
    return nwbfile


def place(nwbfile: Any, obj: Any, location: str | None, description: str | None = None) -> None:
    """Put `obj` in `acquisition` (default) or a `processing/<module>` (created when needed)."""
    where = (location or "acquisition").strip("/")
    if where == "acquisition":
        nwbfile.add_acquisition(obj)
        return
    parts = where.split("/")
    if len(parts) != 2 or parts[0] != "processing":
        raise ConversionError(
            f"location: {location!r} must be 'acquisition' or 'processing/<module>'", "location"
        )
    module = nwbfile.processing.get(parts[1]) or nwbfile.create_processing_module(
        name=parts[1], description=description or f"{parts[1]} data"
    )
    module.add(obj)
