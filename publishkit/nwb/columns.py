"""Table columns read from CSV text into typed arrays, for the kinds that build NWB tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from publishkit.nwb.build import ConversionError


def typed_column(values: list[str], name: str, dtype: str, path: Path) -> np.ndarray:
    """A ROI-table column as bool, int, float or text (`auto`: the narrowest that fits)."""
    cleaned = [v.strip() for v in values]
    lowered = {v.lower() for v in cleaned}
    if dtype == "auto":
        if cleaned and lowered <= {"true", "false"}:
            dtype = "bool"
        elif cleaned and all(is_int(v) for v in cleaned):
            dtype = "int"
        elif all(v == "" or is_float(v) for v in cleaned) and any(cleaned):
            dtype = "float"
        else:
            dtype = "text"
    try:
        if dtype == "bool":
            if not lowered <= {"true", "false", "1", "0"}:
                raise ValueError("values must be true/false or 1/0")
            return np.array([v.lower() in ("true", "1") for v in cleaned], dtype=bool)
        if dtype == "int":
            return np.array([int(v) for v in cleaned], dtype=np.int64)
        if dtype == "float":
            return np.array([float(v) if v else np.nan for v in cleaned], dtype=np.float64)
    except ValueError as exc:
        raise ConversionError(
            f"{path.name}: column {name!r} is not {dtype} ({exc})", name
        ) from None
    return np.array(cleaned, dtype=object)


def is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
