"""`kind: timeseries`: chosen columns of a CSV, or an NPY/NPZ array, as a TimeSeries."""

from __future__ import annotations

from typing import Any

from publishkit.nwb.build import BuildContext, as_float, builder, place, read_series, timing


@builder("timeseries")
def build_timeseries(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    from pynwb import TimeSeries

    data = read_series(spec, ctx)
    series = TimeSeries(
        name=spec["name"],
        description=spec["description"],
        data=data,
        unit=spec["unit"],
        conversion=as_float(spec, "conversion", 1.0),
        **timing(spec, ctx, data.shape[0]),
    )
    place(nwbfile, series, spec.get("location"), spec.get("module_description"))
