"""`kind: probes`, `electrodes` and `units`: sorted extracellular recordings (Neuropixels-style).

Modelled on the Allen Institute's Visual Behavior Neuropixels release, with core NWB types only:

- `probes`: a CSV with one row per probe becomes a `Device` (with a shared `DeviceModel`) and an
  `ElectrodeGroup` of the same name.
- `electrodes`: a CSV with one row per recorded channel becomes the electrodes table; its
  `group_name` names a probe.
- `units`: a CSV with one row per sorted unit (id, peak channel, quality metrics) becomes the
  units table; spike times come from an NPZ holding one array (seconds) per unit id.

Build them in this order: electrodes refer to probes, units to electrodes.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np

from publishkit.nwb.build import BuildContext, ConversionError, builder, column, read_table

# Probe sampling rates (Hz) by Device, for a units table's default resolution (1 / rate).
_SAMPLING_RATES: WeakKeyDictionary[Any, float] = WeakKeyDictionary()

_ELECTRODE_COLUMNS = {  # CSV column -> electrodes-table column, all optional, numeric
    "x": "x",
    "y": "y",
    "z": "z",
    "imp": "imp",
    "probe_horizontal_position": "rel_x",
    "probe_vertical_position": "rel_y",
}
_ELECTRODE_RESERVED = {
    "id",
    "location",
    "filtering",
    "group",
    "group_name",
    "reference",
    "rel_z",
    *_ELECTRODE_COLUMNS,
    *_ELECTRODE_COLUMNS.values(),
}
_UNIT_RESERVED = {
    "id",
    "spike_times",
    "obs_intervals",
    "electrodes",
    "electrode_group",
    "waveform_mean",
    "waveform_sd",
    "waveforms",
}
_TRUE, _FALSE = {"true", "yes"}, {"false", "no"}


# --- helpers -----------------------------------------------------------------------------------


def _text(table: dict[str, list[str]], name: str, path: Path) -> list[str]:
    return [value.strip() for value in column(table, name, path, numeric=False)]


def _integers(table: dict[str, list[str]], name: str, path: Path) -> list[int]:
    values = []
    for line, text in enumerate(_text(table, name, path), start=2):
        try:
            values.append(int(text))
        except ValueError:
            raise ConversionError(
                f"{path.name} line {line}: {name} {text!r} is not an integer id", name
            ) from None
    duplicated = sorted(v for v, n in Counter(values).items() if n > 1)
    if duplicated:
        raise ConversionError(
            f"{path.name}: {name} must be unique (repeated: {', '.join(map(str, duplicated))})",
            name,
        )
    return values


def _typed(values: list[str]) -> Any:
    """A CSV column as booleans, integers, floats (empty -> NaN) or strings, the first that fits."""
    texts = [v.strip() for v in values]
    lowered = {t.lower() for t in texts}
    if lowered and lowered <= _TRUE | _FALSE:
        return np.array([t.lower() in _TRUE for t in texts], dtype=bool)
    try:
        return np.array([int(t) for t in texts], dtype=np.int64)
    except ValueError:
        pass
    try:
        return np.array([float(t) if t else math.nan for t in texts], dtype=float)
    except ValueError:
        return texts


def _extra_columns(
    spec: dict[str, Any], table: dict[str, list[str]], path: Path, reserved: set[str], what: str
) -> dict[str, tuple[str, Any]]:
    """The `columns:` of a spec (name -> description) as name -> (description, typed values)."""
    wanted = spec.get("columns") or {}
    if not isinstance(wanted, dict):
        raise ConversionError("columns: expected a mapping of column name to description")
    found = {}
    for name, description in wanted.items():
        if name in reserved:
            raise ConversionError(
                f"columns: {name!r} is a built-in column of the {what} table; list only extra "
                "columns",
                "columns",
            )
        if not str(description or "").strip():
            raise ConversionError(f"columns: {name!r} needs a description", "columns")
        found[name] = (str(description), _typed(column(table, name, path, numeric=False)))
    return found


def _rows(table: dict[str, list[str]], path: Path) -> int:
    count = len(next(iter(table.values())))
    if count == 0:
        raise ConversionError(f"{path.name}: the CSV file has no data rows")
    return count


# --- probes ------------------------------------------------------------------------------------


@builder("probes")
def build_probes(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    """One Device + ElectrodeGroup per row of the probes CSV."""
    from pynwb.device import Device

    path = ctx.source(spec.get("source"), "source")
    table = read_table(path)
    count = _rows(table, path)
    names = _text(table, "name", path)
    descriptions = _text(table, "description", path)
    locations = _text(table, "location", path)
    manufacturers = _text(table, "manufacturer", path)
    rates = column(table, "sampling_rate", path)
    models = _text(table, "model", path) if "model" in table else [""] * count
    serials = _text(table, "serial_number", path) if "serial_number" in table else [""] * count
    groups = (
        _text(table, "group_description", path) if "group_description" in table else [""] * count
    )
    required = {
        "name": names,
        "description": descriptions,
        "location": locations,
        "manufacturer": manufacturers,
    }
    for index, name in enumerate(names):
        line = index + 2
        for field, values in required.items():
            if not values[index]:
                raise ConversionError(f"{path.name} line {line}: {field} is empty", field)
        if not all(c.isalnum() or c in "_-" for c in name):
            raise ConversionError(
                f"{path.name} line {line}: name {name!r} may hold only letters, digits, '_', '-'",
                "name",
            )
        if name in nwbfile.devices or names.count(name) > 1:
            raise ConversionError(f"{path.name} line {line}: probe {name} is repeated", "name")
        if not (math.isfinite(rates[index]) and rates[index] > 0):
            raise ConversionError(
                f"{path.name} line {line}: sampling_rate must be a positive number of Hz",
                "sampling_rate",
            )
    for index, name in enumerate(names):
        model_name = models[index] or f"{manufacturers[index]} probe"
        model = nwbfile.device_models.get(model_name) or nwbfile.create_device_model(
            name=model_name,
            manufacturer=manufacturers[index],
            description=f"{model_name} extracellular probe made by {manufacturers[index]}.",
        )
        rate = float(rates[index])
        device = Device(
            name=name,
            description=f"{descriptions[index]} Sampling rate {rate!r} Hz.",
            serial_number=serials[index] or None,
            model=model,
        )
        nwbfile.add_device(device)
        _SAMPLING_RATES[device] = rate
        nwbfile.create_electrode_group(
            name=name,
            description=groups[index] or f"Recording channels of {name}.",
            location=locations[index],
            device=device,
        )


# --- electrodes --------------------------------------------------------------------------------


@builder("electrodes")
def build_electrodes(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    """One electrodes-table row per row of the electrodes CSV."""
    path = ctx.source(spec.get("source"), "source")
    table = read_table(path)
    count = _rows(table, path)
    group_column = str(spec.get("group_column") or "group_name")
    groups = _text(table, group_column, path)
    locations = _text(table, "location", path)
    ids = _integers(table, "id", path) if "id" in table else None
    numeric = {
        target: column(table, source, path)
        for source, target in _ELECTRODE_COLUMNS.items()
        if source in table
    }
    if "filtering" in table:
        filtering: list[str] | None = _text(table, "filtering", path)
    elif spec.get("filtering"):
        filtering = [str(spec["filtering"])] * count
    else:
        filtering = None
    extras = _extra_columns(spec, table, path, _ELECTRODE_RESERVED, "electrodes")
    known = nwbfile.electrode_groups
    for line, (group, location) in enumerate(zip(groups, locations, strict=True), start=2):
        if group not in known:
            raise ConversionError(
                f"{path.name} line {line}: {group_column} {group!r} is not a probe "
                f"(known: {', '.join(known) or 'none; build kind: probes first'})",
                group_column,
            )
        if not location:
            raise ConversionError(f"{path.name} line {line}: location is empty", "location")
    if nwbfile.electrodes is not None and ids is not None:
        clash = set(ids) & set(nwbfile.electrodes.id[:])
        if clash:
            raise ConversionError(f"{path.name}: electrode ids already used: {sorted(clash)}", "id")
    for name, (description, _) in extras.items():
        nwbfile.add_electrode_column(name=name, description=description)
    for index in range(count):
        row: dict[str, Any] = {
            "group": known[groups[index]],
            "location": locations[index],
            **{name: float(values[index]) for name, values in numeric.items()},
            **{name: values[index] for name, (_, values) in extras.items()},
        }
        if filtering is not None:
            row["filtering"] = filtering[index]
        if ids is not None:
            row["id"] = ids[index]
        nwbfile.add_electrode(**row)


# --- units -------------------------------------------------------------------------------------


def _spike_times(path: Path, unit_ids: list[int]) -> list[np.ndarray]:
    """One array per unit, from an NPZ whose array names are the unit ids."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ConversionError(
            f"{path.name}: cannot read spike times ({exc})", "spike_times"
        ) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ConversionError(
            f"{path.name}: spike times must be an NPZ file with one array per unit id",
            "spike_times",
        )
    with loaded:
        keys = set(loaded.files)
        missing = [str(u) for u in unit_ids if str(u) not in keys]
        extra = sorted(keys - {str(u) for u in unit_ids})
        if missing or extra:
            problem = f"no array for unit(s) {', '.join(missing)}" if missing else ""
            if extra:
                problem += ("; " if problem else "") + f"arrays for unknown unit(s) {extra}"
            raise ConversionError(f"{path.name}: {problem}", "spike_times")
        arrays = [np.asarray(loaded[str(u)]) for u in unit_ids]
    for unit, times in zip(unit_ids, arrays, strict=True):
        if times.ndim != 1 or not np.issubdtype(times.dtype, np.number):
            raise ConversionError(
                f"{path.name}: spike times of unit {unit} must be a 1-D numeric array "
                f"(found shape {times.shape}, dtype {times.dtype})",
                "spike_times",
            )
        if not np.all(np.isfinite(times)) or np.any(times < 0):
            raise ConversionError(
                f"{path.name}: spike times of unit {unit} must be finite and not negative",
                "spike_times",
            )
        if np.any(np.diff(times) < 0):
            raise ConversionError(
                f"{path.name}: spike times of unit {unit} are not in ascending order",
                "spike_times",
            )
    return [times.astype(float) for times in arrays]


@builder("units")
def build_units(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    """The units table: ids, peak electrode, chosen metric columns and spike times."""
    from pynwb.misc import Units

    path = ctx.source(spec.get("source"), "source")
    table = read_table(path)
    _rows(table, path)
    id_column = str(spec.get("id_column") or "unit_id")
    peak_column = str(spec.get("peak_channel_column") or "peak_channel_id")
    unit_ids = _integers(table, id_column, path)
    peaks = _text(table, peak_column, path)
    extras = _extra_columns(spec, table, path, _UNIT_RESERVED | {id_column}, "units")
    times_spec = spec.get("spike_times")
    if not isinstance(times_spec, dict):
        raise ConversionError("spike_times: give {source: <NPZ file>}", "spike_times")
    spikes = _spike_times(ctx.source(times_spec.get("source"), "spike_times.source"), unit_ids)

    electrodes = nwbfile.electrodes
    if electrodes is None or len(electrodes) == 0:
        raise ConversionError("units need the electrodes table: build kind: electrodes first")
    rows = {int(e): index for index, e in enumerate(electrodes.id[:])}
    peak_rows = []
    for line, text in enumerate(peaks, start=2):
        try:
            peak_rows.append(rows[int(text)])
        except (ValueError, KeyError):
            raise ConversionError(
                f"{path.name} line {line}: {peak_column} {text!r} is not an electrode id",
                peak_column,
            ) from None
    groups = [electrodes["group"][index] for index in peak_rows]

    if spec.get("resolution") not in (None, ""):
        try:
            resolution = float(spec["resolution"])
        except (TypeError, ValueError):
            resolution = math.nan
    else:
        rates = {_SAMPLING_RATES.get(group.device) for group in groups}
        if None in rates:
            raise ConversionError(
                "resolution: give it (seconds) when the probes have no sampling rate",
                "resolution",
            )
        resolution = 1.0 / min(rate for rate in rates if rate is not None)
    if not (math.isfinite(resolution) and resolution > 0):
        raise ConversionError(
            f"resolution: {spec.get('resolution')!r} is not a positive number of seconds",
            "resolution",
        )
    if nwbfile.units is not None:
        raise ConversionError("units: the file already has a units table", "kind")

    nwbfile.units = Units(
        name="units",
        description=str(spec["description"]),
        resolution=resolution,
        electrode_table=electrodes,
    )
    for name, (description, _) in extras.items():
        nwbfile.add_unit_column(name=name, description=description)
    for index, unit in enumerate(unit_ids):
        nwbfile.add_unit(
            id=unit,
            spike_times=spikes[index],
            electrodes=[peak_rows[index]],
            electrode_group=groups[index],
            **{name: values[index] for name, (_, values) in extras.items()},
        )
