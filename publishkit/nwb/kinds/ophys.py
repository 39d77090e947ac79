"""Optical physiology kinds, modelled on the Allen Institute's Visual Behavior Ophys files.

- `kind: imaging_plane`: a Device, an OpticalChannel and the ImagingPlane that uses them.
- `kind: roi_segmentation`: image masks (NPY [n_rois, height, width]) plus optional ROI-table
  columns (CSV) as a PlaneSegmentation inside an ImageSegmentation of an ophys module.
- `kind: dff`: dF/F traces (NPY [time, n_rois]) as a RoiResponseSeries inside a DfOverF,
  referencing every ROI of a PlaneSegmentation built before it.
- `kind: images`: summary images (max projection, average image, ...) as GrayscaleImages in an
  Images container of an ophys module.

Objects refer to each other by name, so a template lists them in that order: imaging plane,
segmentation, then traces and images.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from publishkit.nwb.build import (
    BuildContext,
    ConversionError,
    as_float,
    builder,
    read_array,
    read_series,
    read_table,
    timing,
)
from publishkit.nwb.columns import typed_column

OPHYS_LOCATION = "processing/ophys"
OPHYS_MODULE_DESCRIPTION = "Optical physiology: ROI segmentation, fluorescence traces and images."
# PlaneSegmentation columns defined by NWB itself: a ROI table column cannot take these names.
RESERVED_COLUMNS = {"id", "image_mask", "pixel_mask", "voxel_mask"}


# --- helpers -------------------------------------------------------------------------------------


def _positive(spec: dict[str, Any], key: str, default: float | None = None) -> float:
    value = as_float(spec, key, default)
    if not np.isfinite(value) or value <= 0:
        raise ConversionError(f"{key}: expected a positive number, found {spec.get(key)!r}", key)
    return value


def _module(nwbfile: Any, spec: dict[str, Any]) -> Any:
    """The `processing/<module>` named by `location` (default processing/ophys), made if needed."""
    location = str(spec.get("location") or OPHYS_LOCATION).strip("/")
    parts = location.split("/")
    if len(parts) != 2 or parts[0] != "processing" or not parts[1]:
        raise ConversionError(
            f"location: {location!r} must be 'processing/<module>' (processed ophys data)",
            "location",
        )
    existing = nwbfile.processing.get(parts[1])
    if existing is not None:
        return existing
    return nwbfile.create_processing_module(
        name=parts[1], description=spec.get("module_description") or OPHYS_MODULE_DESCRIPTION
    )


def _container(module: Any, name: str, kind: type, make: Any) -> Any:
    """`module[name]` when it is a `kind` (so several objects can share it), or a new one."""
    found = module.data_interfaces.get(name)
    if found is None:
        found = make()
        module.add(found)
    elif not isinstance(found, kind):
        raise ConversionError(
            f"{module.name}/{name} is already a {type(found).__name__}, not a {kind.__name__}",
            "name",
        )
    return found


def _load(path: Path, key: str | None, field: str) -> np.ndarray:
    """`read_array`, its errors naming the template field."""
    try:
        return read_array(path, key)
    except ConversionError as exc:
        raise ConversionError(exc.reason, exc.column or field) from None


def _numeric(array: np.ndarray, path: Path, what: str, field: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise ConversionError(f"{path.name}: {what} must be numeric, found {array.dtype}", field)
    return array


def _plane_segmentation(nwbfile: Any, name: str) -> Any:
    """The PlaneSegmentation called `name` in any ImageSegmentation of any processing module."""
    from pynwb.ophys import ImageSegmentation

    found = [
        segmentation.plane_segmentations[name]
        for module in nwbfile.processing.values()
        for segmentation in module.data_interfaces.values()
        if isinstance(segmentation, ImageSegmentation) and name in segmentation.plane_segmentations
    ]
    if not found:
        raise ConversionError(
            f"plane_segmentation: no PlaneSegmentation {name!r} (list a `kind: roi_segmentation` "
            "object with that name before this one)",
            "plane_segmentation",
        )
    if len(found) > 1:
        raise ConversionError(
            f"plane_segmentation: {name!r} names PlaneSegmentations in several modules",
            "plane_segmentation",
        )
    return found[0]


# --- kind: imaging_plane -------------------------------------------------------------------------


def _device(nwbfile: Any, spec: dict[str, Any]) -> Any:
    """The Device named by `device.name` (reused when an earlier plane made it)."""
    from pynwb.device import Device, DeviceModel

    fields = spec.get("device") or {}
    name = str(fields.get("name") or "").strip()
    if not name:
        raise ConversionError("device.name: the microscope needs a name", "device")
    if name in nwbfile.devices:
        return nwbfile.devices[name]
    model = None
    manufacturer = str(fields.get("manufacturer") or "").strip()
    model_name = str(fields.get("model_name") or "").strip()
    if manufacturer or model_name:
        if not (manufacturer and model_name):
            raise ConversionError(
                "device: give both manufacturer and model_name (an NWB DeviceModel)", "device"
            )
        model = nwbfile.device_models.get(model_name)
        if model is None:
            model = DeviceModel(
                name=model_name,
                manufacturer=manufacturer,
                description=fields.get("model_description") or f"{model_name} by {manufacturer}.",
            )
            nwbfile.add_device_model(model)
    device = Device(
        name=name,
        description=fields.get("description") or None,
        serial_number=str(fields.get("serial_number") or "").strip() or None,
        model=model,
    )
    nwbfile.add_device(device)
    return device


@builder("imaging_plane")
def build_imaging_plane(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    from pynwb.ophys import OpticalChannel

    name = spec["name"]
    if name in nwbfile.imaging_planes:
        raise ConversionError(f"name: an imaging plane {name!r} already exists", "name")
    channel = spec.get("optical_channel") or {}
    optical_channel = OpticalChannel(
        name=channel.get("name") or "OpticalChannel",
        description=channel.get("description") or f"Emission channel of {name}.",
        emission_lambda=_positive(spec, "emission_lambda"),
    )
    extra: dict[str, Any] = {}
    spacing = spec.get("grid_spacing")
    if spacing not in (None, "", []):
        if not isinstance(spacing, list) or len(spacing) not in (2, 3):
            raise ConversionError(
                "grid_spacing: give 2 (x, y) or 3 (x, y, z) numbers", "grid_spacing"
            )
        extra["grid_spacing"] = [
            _positive({"grid_spacing": value}, "grid_spacing") for value in spacing
        ]
        extra["grid_spacing_unit"] = spec.get("grid_spacing_unit") or "meters"
    if spec.get("reference_frame"):
        extra["reference_frame"] = spec["reference_frame"]
    location = str(spec.get("location") or "").strip()
    if not location:
        raise ConversionError("location: the brain area imaged is empty", "location")
    indicator = str(spec.get("indicator") or "").strip()
    if not indicator:
        raise ConversionError("indicator: the calcium indicator is empty", "indicator")
    nwbfile.create_imaging_plane(
        name=name,
        optical_channel=optical_channel,
        description=spec["description"],
        device=_device(nwbfile, spec),
        excitation_lambda=_positive(spec, "excitation_lambda"),
        imaging_rate=_positive(spec, "imaging_rate"),
        indicator=indicator,
        location=location,
        **extra,
    )


# --- kind: roi_segmentation ----------------------------------------------------------------------


@builder("roi_segmentation")
def build_roi_segmentation(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    from hdmf.common import VectorData
    from pynwb.ophys import ImageSegmentation, PlaneSegmentation

    plane_name = spec["imaging_plane"]
    if plane_name not in nwbfile.imaging_planes:
        raise ConversionError(
            f"imaging_plane: no imaging plane {plane_name!r} (list a `kind: imaging_plane` "
            "object with that name before this one)",
            "imaging_plane",
        )
    path = ctx.source(spec.get("source"), "source")
    masks = _numeric(_load(path, spec.get("key"), "source"), path, "image masks", "source")
    if masks.ndim != 3 or masks.shape[0] == 0:
        raise ConversionError(
            f"{path.name}: image masks must be a 3-D array [n_rois, height, width], "
            f"found shape {masks.shape}",
            "source",
        )
    n_rois = masks.shape[0]
    ids: Any = list(range(n_rois))
    columns = [VectorData(name="image_mask", description="Image mask of each ROI.", data=masks)]
    table = spec.get("roi_table")
    if table:
        table_path = ctx.source(table.get("source"), "roi_table.source")
        rows = read_table(table_path)
        length = len(next(iter(rows.values())))
        if length != n_rois:
            raise ConversionError(
                f"{table_path.name}: {length} rows for {n_rois} ROIs in {path.name}", "roi_table"
            )
        id_column = table.get("id_column")
        if id_column:
            if id_column not in rows:
                raise ConversionError(
                    f"{table_path.name}: no column {id_column!r} (found: {', '.join(rows)})",
                    id_column,
                )
            ids = typed_column(rows[id_column], id_column, "int", table_path)
            if len(set(ids.tolist())) != n_rois:
                raise ConversionError(
                    f"{table_path.name}: column {id_column!r} has repeated ROI ids", id_column
                )
        for entry in table.get("columns") or []:
            name = entry["name"]
            if name in RESERVED_COLUMNS or name == id_column:
                raise ConversionError(
                    f"roi_table.columns: {name!r} is reserved (ids and masks are set already)",
                    name,
                )
            if name not in rows:
                raise ConversionError(
                    f"{table_path.name}: no column {name!r} (found: {', '.join(rows)})", name
                )
            values = typed_column(rows[name], name, entry.get("dtype", "auto"), table_path)
            columns.append(VectorData(name=name, description=entry["description"], data=values))
    segmentation = PlaneSegmentation(
        name=spec.get("name") or "PlaneSegmentation",
        description=spec["description"],
        imaging_plane=nwbfile.imaging_planes[plane_name],
        id=ids,
        columns=columns,
        colnames=[c.name for c in columns],
    )
    module = _module(nwbfile, spec)
    container_name = spec.get("segmentation_name") or "ImageSegmentation"
    container = _container(
        module, container_name, ImageSegmentation, lambda: ImageSegmentation(name=container_name)
    )
    if segmentation.name in container.plane_segmentations:
        raise ConversionError(f"name: {segmentation.name!r} already exists", "name")
    container.add_plane_segmentation(segmentation)


# --- kind: dff -----------------------------------------------------------------------------------


@builder("dff")
def build_dff(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    from pynwb.ophys import DfOverF, RoiResponseSeries

    segmentation = _plane_segmentation(nwbfile, spec["plane_segmentation"])
    n_rois = len(segmentation)
    path = ctx.source(spec.get("source"), "source")
    try:
        data = read_series(spec, ctx)
    except ConversionError as exc:
        raise ConversionError(exc.reason, exc.column or "source") from None
    data = _numeric(data, path, "dF/F traces", "source")
    if data.ndim != 2:
        raise ConversionError(
            f"{path.name}: dF/F traces must be a 2-D array [time, n_rois], "
            f"found shape {data.shape}",
            "source",
        )
    if data.shape[1] != n_rois:
        hint = " (transposed? expected [time, n_rois])" if data.shape[0] == n_rois else ""
        raise ConversionError(
            f"{path.name}: {data.shape[1]} traces for {n_rois} ROIs in {segmentation.name}{hint}",
            "source",
        )
    rois = segmentation.create_roi_table_region(
        region=list(range(n_rois)), description=f"All {n_rois} ROIs of {segmentation.name}."
    )
    series = RoiResponseSeries(
        name=spec["name"],
        description=spec["description"],
        data=data,
        unit=spec.get("unit") or "n.a.",
        rois=rois,
        **timing(spec, ctx, data.shape[0]),
    )
    module = _module(nwbfile, spec)
    container_name = spec.get("container") or "DfOverF"
    container = _container(module, container_name, DfOverF, lambda: DfOverF(name=container_name))
    if series.name in container.roi_response_series:
        raise ConversionError(f"name: {series.name!r} already exists in {container_name}", "name")
    container.add_roi_response_series(series)


# --- kind: images --------------------------------------------------------------------------------


@builder("images")
def build_images(nwbfile: Any, spec: dict[str, Any], ctx: BuildContext) -> None:
    from pynwb.base import Images
    from pynwb.image import GrayscaleImage

    made = []
    for index, entry in enumerate(spec.get("images") or []):
        field = f"images.{index}.source"
        path = ctx.source(entry.get("source"), field)
        data = _numeric(_load(path, entry.get("key"), field), path, "an image", field)
        if data.ndim != 2:
            raise ConversionError(
                f"{path.name}: image {entry['name']!r} must be 2-D [height, width], "
                f"found shape {data.shape}",
                field,
            )
        resolution = entry.get("resolution")
        made.append(
            GrayscaleImage(
                name=entry["name"],
                data=data,
                description=entry["description"],
                resolution=(
                    _positive(entry, "resolution") if resolution not in (None, "") else None
                ),
            )
        )
    if not made:
        raise ConversionError("images: list at least one image", "images")
    module = _module(nwbfile, spec)
    name = spec["name"]
    container = _container(
        module, name, Images, lambda: Images(name=name, description=spec["description"])
    )
    for image in made:
        if image.name in container.images:
            raise ConversionError(f"images: {image.name!r} already exists in {name}", "images")
        container.add_image(image)
