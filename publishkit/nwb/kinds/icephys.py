"""`kind: icephys_electrode` and `kind: sweeps`: patch-clamp sweeps with their stimuli.

Modelled on the Allen Institute's Patch-seq NWB files (read by ipfx): each sweep is a stimulus
series (`CurrentClampStimulusSeries` / `VoltageClampStimulusSeries`, in /stimulus/presentation)
and a response series (`CurrentClampSeries` / `VoltageClampSeries`, in /acquisition), both
carrying the sweep number, paired in the intracellular recordings table.

A session's sweeps are described by a sweep table (CSV, one row per sweep) whose `stimulus` and
`response` columns name arrays of ONE NPZ archive per session. The archive is a template
`source`, so editing any sweep's samples re-converts the row (per-sweep files named only inside
the table would not be seen by change detection).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any, Literal, overload

import msgspec
import numpy as np

from publishkit.nwb.build import BuildContext, ConversionError, builder, column, read_table

# Unit symbols a sweep table may use, to the factor that turns them into amperes / volts.
CURRENT_UNITS = {"A": 1.0, "amperes": 1.0, "mA": 1e-3, "uA": 1e-6, "µA": 1e-6, "nA": 1e-9}
CURRENT_UNITS |= {"pA": 1e-12}
VOLTAGE_UNITS = {"V": 1.0, "volts": 1.0, "mV": 1e-3, "uV": 1e-6, "µV": 1e-6}


class ClampMode(msgspec.Struct, frozen=True):
    label: str  # as written in descriptions
    stimulus_class: str  # pynwb.icephys class names
    response_class: str
    stimulus_units: dict[str, float]
    response_units: dict[str, float]
    settings: tuple[str, ...]  # the response series' own numeric fields (SI units)


CURRENT_CLAMP = ClampMode(
    "current clamp",
    "CurrentClampStimulusSeries",
    "CurrentClampSeries",
    CURRENT_UNITS,
    VOLTAGE_UNITS,
    ("bias_current", "bridge_balance", "capacitance_compensation"),
)
VOLTAGE_CLAMP = ClampMode(
    "voltage clamp",
    "VoltageClampStimulusSeries",
    "VoltageClampSeries",
    VOLTAGE_UNITS,
    CURRENT_UNITS,
    (
        "capacitance_fast",
        "capacitance_slow",
        "resistance_comp_bandwidth",
        "resistance_comp_correction",
        "resistance_comp_prediction",
        "whole_cell_capacitance_comp",
        "whole_cell_series_resistance_comp",
    ),
)
# clamp_mode spellings: ours, ipfx's sweep table (CurrentClamp / VoltageClamp) and short forms.
CLAMP_MODES = {
    "currentclamp": CURRENT_CLAMP,
    "cc": CURRENT_CLAMP,
    "iclamp": CURRENT_CLAMP,
    "voltageclamp": VOLTAGE_CLAMP,
    "vc": VOLTAGE_CLAMP,
    "vclamp": VOLTAGE_CLAMP,
}
REQUIRED_COLUMNS = ("sweep_number", "clamp_mode", "stimulus", "response", "rate")
# Columns the intracellular recordings table already has (or reserves).
RESERVED = {"id", "electrodes", "stimuli", "responses", "electrode", "stimulus", "response"}


# --- kind: icephys_electrode -------------------------------------------------------------------


@builder("icephys_electrode")
def build_icephys_electrode(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    device = _device(nwbfile, spec["device"])
    optional = (
        "location",
        "filtering",
        "slice",
        "seal",
        "resistance",
        "initial_access_resistance",
        "cell_id",
    )
    fields = {key: str(spec[key]) for key in optional if spec.get(key) not in (None, "")}
    nwbfile.create_icephys_electrode(
        name=spec["name"], device=device, description=spec["description"], **fields
    )


def _device(nwbfile: Any, spec: dict[str, Any]) -> Any:
    """The named device, made on first use (with a DeviceModel when a model is named)."""
    name = spec["name"]
    if name in nwbfile.devices:
        return nwbfile.devices[name]
    model = None
    if spec.get("model_name"):
        model_name = str(spec["model_name"])
        if model_name in nwbfile.device_models:
            model = nwbfile.device_models[model_name]
        else:
            model = nwbfile.create_device_model(
                name=model_name,
                manufacturer=str(spec.get("manufacturer") or "unknown"),
                model_number=str(spec["model_number"]) if spec.get("model_number") else None,
                description=str(
                    spec.get("model_description")
                    or f"{spec.get('manufacturer') or 'unknown'} {model_name}"
                ),
            )
    fields = {k: str(spec[k]) for k in ("description", "serial_number") if spec.get(k)}
    if model is not None:
        fields["model"] = model
    return nwbfile.create_device(name=name, **fields)


# --- kind: sweeps -------------------------------------------------------------------------------


@builder("sweeps")
def build_sweeps(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    from pynwb import icephys

    electrode = _electrode(nwbfile, str(spec["electrode"]))
    table_path = ctx.source(spec["table"]["source"], "table")
    arrays_path = ctx.source(spec["arrays"]["source"], "arrays")
    if arrays_path.suffix.lower() != ".npz":
        raise ConversionError(f"arrays: {arrays_path.name} is not an NPZ archive", "arrays")
    table = read_table(table_path)
    sweeps = _sweep_rows(table, table_path)
    extra = _extra_columns(spec.get("columns") or [], table, table_path)
    group_by = spec.get("sequential_by")
    groups = column(table, str(group_by), table_path, numeric=False) if group_by else None
    prefix = str(spec.get("name") or "sweep")
    note = str(spec.get("description") or "").strip()

    recordings = nwbfile.get_intracellular_recordings()
    for name, (description, _) in extra.items():
        if name not in recordings.colnames:  # a second `sweeps` entry may share columns
            recordings.add_column(name=name, description=description)

    indices: list[int] = []
    try:
        archive_file = np.load(arrays_path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ConversionError(f"{arrays_path.name}: cannot read NPZ ({exc})", "arrays") from None
    with archive_file as archive:
        for position, sweep in enumerate(sweeps):
            mode: ClampMode = sweep["mode"]
            number = sweep["sweep_number"]
            stimulus_data = _array(archive, arrays_path, sweep["stimulus"], number, "stimulus")
            response_data = _array(archive, arrays_path, sweep["response"], number, "response")
            if stimulus_data.shape != response_data.shape:
                raise ConversionError(
                    f"{arrays_path.name}: sweep {number} has {stimulus_data.shape[0]} stimulus "
                    f"but {response_data.shape[0]} response samples",
                    "response",
                )
            code = sweep["stimulus_description"]
            about = f"Sweep {number}, {mode.label}, stimulus {code}."
            shared = {
                "electrode": electrode,
                "stimulus_description": code,
                "sweep_number": number,
                "rate": sweep["rate"],
                "starting_time": sweep["starting_time"],
            }
            stimulus = getattr(icephys, mode.stimulus_class)(
                name=f"{prefix}_{number:03d}_stimulus",
                data=stimulus_data,
                conversion=sweep["stimulus_conversion"],
                description=" ".join(filter(None, [note, about, "Command waveform."])),
                **shared,
                **({"gain": sweep["stimulus_gain"]} if sweep["stimulus_gain"] is not None else {}),
            )
            response = getattr(icephys, mode.response_class)(
                name=f"{prefix}_{number:03d}_response",
                data=response_data,
                conversion=sweep["response_conversion"],
                description=" ".join(filter(None, [note, about, "Recorded response."])),
                **shared,
                **({"gain": sweep["gain"]} if sweep["gain"] is not None else {}),
                **sweep["settings"],
            )
            nwbfile.add_stimulus(stimulus)
            nwbfile.add_acquisition(response)
            values = {name: data[position] for name, (_, data) in extra.items()}
            indices.append(
                nwbfile.add_intracellular_recording(
                    electrode=electrode, stimulus=stimulus, response=response, **values
                )
            )

    if groups is not None:
        _sequential(nwbfile, groups, indices)


def _electrode(nwbfile: Any, name: str) -> Any:
    if name not in nwbfile.icephys_electrodes:
        known = ", ".join(nwbfile.icephys_electrodes) or "none"
        raise ConversionError(
            f"electrode: no icephys_electrode named {name!r} (known: {known}); "
            "add a `kind: icephys_electrode` entry before the sweeps",
            "electrode",
        )
    return nwbfile.icephys_electrodes[name]


def _sweep_rows(table: dict[str, list[str]], path: Path) -> list[dict[str, Any]]:
    """Each sweep-table row, checked and converted (numbers to floats/ints, units to factors)."""
    for name in REQUIRED_COLUMNS:
        column(table, name, path, numeric=False)  # a missing column names the file
    if not table["sweep_number"]:
        raise ConversionError(f"{path.name}: the sweep table has no rows", "sweep_number")
    rows: list[dict[str, Any]] = []
    seen: set[int] = set()
    for index in range(len(table["sweep_number"])):
        cells = _Cells(table, index, path)
        sweep_number = cells.number("sweep_number", required=True)
        if sweep_number != int(sweep_number) or sweep_number < 0:
            raise cells.error("sweep_number", "is not a non-negative integer")
        sweep = int(sweep_number)
        if sweep in seen:
            raise cells.error("sweep_number", "repeats an earlier sweep")
        seen.add(sweep)
        mode_text = cells.text("clamp_mode")
        mode = CLAMP_MODES.get(mode_text.lower().replace("_", "").replace(" ", "").replace("-", ""))
        if mode is None:
            raise cells.error("clamp_mode", "is neither current_clamp nor voltage_clamp")
        rate = cells.number("rate", required=True)
        if rate <= 0:
            raise cells.error("rate", "must be positive (samples per second)")
        settings = {}
        for name in CURRENT_CLAMP.settings + VOLTAGE_CLAMP.settings:
            value = cells.number(name)
            if value is None:
                continue
            if name not in mode.settings:
                raise cells.error(name, f"does not apply to a {mode.label} sweep; leave it empty")
            settings[name] = value
        rows.append(
            {
                "sweep_number": sweep,
                "mode": mode,
                "stimulus": cells.text("stimulus", required=True),
                "response": cells.text("response", required=True),
                "rate": rate,
                "starting_time": cells.number("starting_time") or 0.0,
                "stimulus_description": cells.text("stimulus_description") or "N/A",
                "stimulus_conversion": cells.unit("stimulus_unit", mode.stimulus_units),
                "response_conversion": cells.unit("response_unit", mode.response_units),
                "gain": cells.number("gain"),
                "stimulus_gain": cells.number("stimulus_gain"),
                "settings": settings,
            }
        )
    return rows


class _Cells(msgspec.Struct, frozen=True):
    """One sweep-table row's cells; errors name the file, the line and the column."""

    table: dict[str, list[str]]
    index: int
    path: Path

    def error(self, name: str, problem: str) -> ConversionError:
        shown = f" {self.text(name)!r}" if self.text(name) else ""
        return ConversionError(
            f"{self.path.name} line {self.index + 2}: {name}{shown} {problem}", name
        )

    def text(self, name: str, *, required: bool = False) -> str:
        value = self.table[name][self.index].strip() if name in self.table else ""
        if required and not value:
            raise ConversionError(f"{self.path.name} line {self.index + 2}: {name} is empty", name)
        return value

    @overload
    def number(self, name: str, *, required: Literal[True]) -> float: ...
    @overload
    def number(self, name: str, *, required: Literal[False] = False) -> float | None: ...
    def number(self, name: str, *, required: bool = False) -> float | None:
        raw = self.text(name, required=required)
        if raw == "":
            return None
        try:
            value = float(raw)
        except ValueError:
            raise self.error(name, "is not a number") from None
        if not math.isfinite(value):
            raise self.error(name, "is not a finite number")
        return value

    def unit(self, name: str, units: dict[str, float]) -> float:
        """The conversion factor from the unit in `name` (empty: SI) to the series' SI unit."""
        symbol = self.text(name)
        if symbol == "":
            return 1.0
        if symbol not in units:
            raise self.error(name, f"is not one of {', '.join(units)}")
        return units[symbol]


def _array(archive: Any, path: Path, key: str, sweep: int, field: str) -> np.ndarray:
    if key not in archive.files:
        raise ConversionError(
            f"{path.name}: no array {key!r} for the {field} of sweep {sweep} "
            f"(found: {', '.join(archive.files)})",
            field,
        )
    try:
        data = np.asarray(archive[key])
    except ValueError as exc:
        raise ConversionError(f"{path.name}: cannot read array {key!r} ({exc})", field) from None
    if data.ndim != 1 or data.shape[0] == 0 or data.dtype.kind not in "fiu":
        raise ConversionError(
            f"{path.name}: array {key!r} ({field} of sweep {sweep}) must be a non-empty 1-D "
            f"numeric array, found shape {data.shape} {data.dtype}",
            field,
        )
    return data


def _extra_columns(
    wanted: list[dict[str, Any]], table: dict[str, list[str]], path: Path
) -> dict[str, tuple[str, list[Any]]]:
    """Sweep-table columns copied to the intracellular recordings table: name -> (description,
    values), numbers as int/float (an empty cell in a numeric column is NaN), else text."""
    found: dict[str, tuple[str, list[Any]]] = {}
    for entry in wanted:
        name = str(entry["name"])
        if name in RESERVED:
            raise ConversionError(
                f"columns: {name!r} is reserved by the intracellular recordings table", "columns"
            )
        raw = [value.strip() for value in column(table, name, path, numeric=False)]
        found[name] = (str(entry["description"]), _typed(raw))
    return found


def _typed(raw: list[str]) -> list[Any]:
    filled = [value for value in raw if value != ""]
    try:
        numbers = [float(value) for value in filled]
    except ValueError:
        return raw
    if not numbers:
        return raw
    if len(filled) == len(raw) and all(value.lstrip("+-").isdigit() for value in filled):
        return [int(value) for value in raw]
    return [float(value) if value != "" else math.nan for value in raw]


def _sequential(nwbfile: Any, groups: list[str], recordings: list[int]) -> None:
    """One simultaneous recording per sweep; sequential recordings group them by `groups`."""
    order: dict[str, list[int]] = {}
    for group, recording in zip(groups, recordings, strict=True):
        simultaneous = nwbfile.add_icephys_simultaneous_recording(recordings=[recording])
        order.setdefault(group.strip() or "N/A", []).append(simultaneous)
    for stimulus_type, members in order.items():
        nwbfile.add_icephys_sequential_recording(
            stimulus_type=stimulus_type, simultaneous_recordings=members
        )
