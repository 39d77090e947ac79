"""Behavior sessions (modelled on the Allen Institute's Visual Behavior sessions).

`kind: events`: times of discrete events (licks, rewards) from a CSV column or an NPY/NPZ array,
as a TimeSeries of timestamps whose data are per-event values (e.g. reward volumes) or ones.

`kind: trials`: a trials table (or another interval table, e.g. stimulus presentations) from a
CSV: start and stop times plus chosen columns, each parsed as numbers, integers, booleans, text
or lists of numbers (e.g. the lick times of each trial).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from publishkit.nwb.build import (
    BuildContext,
    ConversionError,
    as_float,
    builder,
    column,
    place,
    read_series,
    read_table,
)

EVENT_UNIT = "n.a."  # of the ones that stand for events without a value
TRUE = {"true", "t", "yes", "y", "1", "1.0"}
FALSE = {"false", "f", "no", "n", "0", "0.0"}
NWBFILE_TABLES = ("trials", "epochs", "invalid_times")  # NWBFile's own interval tables
RESERVED = {"id", "start_time", "stop_time", "tags", "timeseries"}  # TimeIntervals' own columns
LIST_SPLIT = re.compile(r"[\s,;]+")


# --- events ------------------------------------------------------------------------------------


@builder("events")
def build_events(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    from pynwb import TimeSeries

    where = _where(spec)
    field = str(spec.get("column") or "source")
    stamps = np.asarray(read_series(spec, ctx), dtype=float)
    if stamps.ndim != 1:
        raise ConversionError(
            f"{where}: expected one time per event (a 1-D array), found shape {stamps.shape}", field
        )
    missing = np.flatnonzero(~np.isfinite(stamps))
    if missing.size:
        raise ConversionError(f"{where}: event {missing[0] + 1} has no time", field)
    back = np.flatnonzero(np.diff(stamps) < 0)
    if back.size:
        i = int(back[0])
        raise ConversionError(
            f"{where}: event times must ascend; event {i + 2} ({stamps[i + 1]} s) is earlier than "
            f"event {i + 1} ({stamps[i]} s)",
            field,
        )
    if isinstance(spec.get("data"), dict):
        data = read_series(spec["data"], ctx)
        if data.shape[0] != stamps.shape[0]:
            raise ConversionError(
                f"data: {data.shape[0]} values for {stamps.shape[0]} events in {where}", "data"
            )
        unit = str(spec.get("unit") or "")
    else:
        data = np.ones(stamps.shape[0], dtype=np.uint8)
        unit = str(spec.get("unit") or EVENT_UNIT)
    series = TimeSeries(
        name=spec["name"],
        description=spec["description"],
        data=data,
        unit=unit,
        conversion=as_float(spec, "conversion", 1.0),
        timestamps=stamps,
    )
    place(nwbfile, series, spec.get("location"), spec.get("module_description"))


def _where(spec: dict[str, Any]) -> str:
    name = Path(str(spec.get("source") or "")).name
    if spec.get("column"):
        return f"{name} column {spec['column']!r}"
    return name


# --- trials and other interval tables ----------------------------------------------------------


@builder("trials")
def build_trials(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    from hdmf.common import VectorData, VectorIndex
    from pynwb.epoch import TimeIntervals

    name = str(spec.get("name") or "trials")
    path = ctx.source(spec.get("source"), "source")
    if path.suffix.lower() != ".csv":
        raise ConversionError(f"source: {path.name} is not a CSV file", "source")
    table = read_table(path)
    rows = len(next(iter(table.values())))
    if rows == 0:
        raise ConversionError(f"{path.name}: the table has no rows", "source")
    start_name = str(spec.get("start_time") or "start_time")
    stop_name = str(spec.get("stop_time") or "stop_time")
    start = _times(table, start_name, path)
    stop = _times(table, stop_name, path)
    early = np.flatnonzero(stop < start)
    if early.size:
        raise ConversionError(
            f"{path.name}: row {early[0] + 1} stops ({stop[early[0]]} s) before it starts "
            f"({start[early[0]]} s)",
            stop_name,
        )
    what = "trial" if name == "trials" else "interval"
    columns: list[Any] = [
        VectorData(
            name="start_time",
            description=f"Start time of the {what}, in seconds from the session start.",
            data=start,
        ),
        VectorData(
            name="stop_time",
            description=f"Stop time of the {what}, in seconds from the session start.",
            data=stop,
        ),
    ]
    taken = set(RESERVED)
    for entry in spec.get("columns") or []:
        target = str(entry["name"])
        if target in taken:
            raise ConversionError(
                f"columns: {target!r} is used twice or is one of the table's own columns "
                f"({', '.join(sorted(RESERVED))})",
                target,
            )
        taken.add(target)
        source_column = str(entry.get("column") or target)
        values = column(table, source_column, path, numeric=False)
        data, index = parse_values(
            values,
            str(entry.get("type") or "auto"),
            f"{path.name} column {source_column!r}",
            source_column,
            entry.get("separator"),
        )
        vector = VectorData(name=target, description=str(entry["description"]), data=data)
        columns.append(vector)
        if index is not None:
            columns.append(VectorIndex(name=f"{target}_index", target=vector, data=index))
    intervals = TimeIntervals(
        name=name, description=spec["description"], columns=columns, id=np.arange(rows)
    )
    if name in NWBFILE_TABLES:
        if getattr(nwbfile, name) is not None:
            raise ConversionError(f"name: the file already has a {name} table", "name")
        setattr(nwbfile, name, intervals)
    else:
        if name in nwbfile.intervals:
            raise ConversionError(f"name: the file already has an interval table {name}", "name")
        nwbfile.add_time_intervals(intervals)


def _times(table: dict[str, list[str]], name: str, path: Path) -> np.ndarray:
    values = column(table, name, path)
    missing = np.flatnonzero(~np.isfinite(values))
    if missing.size:
        raise ConversionError(
            f"{path.name}: column {name!r} has no time in row {missing[0] + 1}", name
        )
    return values


def parse_values(
    values: list[str], kind: str, where: str, field: str, separator: str | None = None
) -> tuple[Any, np.ndarray | None]:
    """A CSV column as table data: (values, None), or (flat values, index) for a list column.

    `kind` is number (empty cells are NaN), integer, boolean, string, number_list (one list per
    cell, e.g. `[0.51, 0.68]`), or auto: boolean when every cell is true/false, integer when every
    cell is an integer, number when every filled cell is a number, else string.
    """
    cells = [v.strip() for v in values]
    if kind == "auto":
        kind = _detect(cells)
    if kind == "string":
        return list(values), None
    if kind == "number":
        return np.array([_number(c, where, field, i) for i, c in enumerate(cells)]), None
    if kind == "integer":
        return np.array([_integer(c, where, field, i) for i, c in enumerate(cells)]), None
    if kind == "boolean":
        return np.array([_boolean(c, where, field, i) for i, c in enumerate(cells)]), None
    if kind == "number_list":
        lists = [_number_list(c, separator, where, field, i) for i, c in enumerate(cells)]
        flat = np.array([x for cell in lists for x in cell], dtype=float)
        return flat, np.cumsum([len(cell) for cell in lists], dtype=np.int64)
    raise ConversionError(f"{where}: unknown column type {kind!r}", field)


def _detect(cells: list[str]) -> str:
    filled = [c for c in cells if c]
    if not filled:
        return "string"
    if len(filled) == len(cells) and all(c.lower() in ("true", "false") for c in cells):
        return "boolean"
    if len(filled) == len(cells) and all(re.fullmatch(r"[+-]?\d+", c) for c in cells):
        return "integer"
    try:
        [float(c) for c in filled]
    except ValueError:
        return "string"
    return "number"


def _number(cell: str, where: str, field: str, row: int) -> float:
    if cell == "":
        return float("nan")
    try:
        return float(cell)
    except ValueError:
        raise ConversionError(f"{where}: row {row + 1}: {cell!r} is not a number", field) from None


def _integer(cell: str, where: str, field: str, row: int) -> int:
    try:
        value = float(cell)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        shown = repr(cell) if cell else "an empty cell"
        raise ConversionError(f"{where}: row {row + 1}: {shown} is not an integer", field)
    return int(value)


def _boolean(cell: str, where: str, field: str, row: int) -> bool:
    lowered = cell.lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    shown = repr(cell) if cell else "an empty cell"
    raise ConversionError(f"{where}: row {row + 1}: {shown} is not true or false", field)


def _number_list(cell: str, separator: str | None, where: str, field: str, row: int) -> list[float]:
    text = cell.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    parts = text.split(separator) if separator else LIST_SPLIT.split(text)
    try:
        return [float(p) for p in (p.strip() for p in parts) if p]
    except ValueError:
        raise ConversionError(
            f"{where}: row {row + 1}: {cell!r} is not a list of numbers", field
        ) from None
