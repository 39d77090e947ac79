"""The JSON Schemas in `schemas/` and validation that reports where a document is wrong."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

_PACKAGE = Path(__file__).resolve().parent
# An installed wheel carries the schemas inside the package; a source checkout has them beside it.
_CANDIDATES = (_PACKAGE / "_data" / "schemas", _PACKAGE.parent / "schemas")


def schema_dir() -> Path:
    for candidate in _CANDIDATES:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("publishkit's schemas/ folder is missing from the installation")


@cache
def load_schema(name: str) -> dict[str, Any]:
    return json.loads((schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class SchemaViolation:
    """One place where a document breaks its schema."""

    path: tuple[str | int, ...]
    message: str

    @property
    def pointer(self) -> str:
        """The JSON pointer of the offending value ("" for the whole document)."""
        return "".join(f"/{part}" for part in self.path)

    @property
    def dotted(self) -> str:
        """The key path as a YAML user reads it, e.g. `s3.bucket` or `(top level)`."""
        return ".".join(str(part) for part in self.path) or "(top level)"


def violations(document: Any, schema_name: str) -> list[SchemaViolation]:
    """All violations, most specific first within a path, ordered by where they occur."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    found = []
    for error in validator.iter_errors(document):
        best = jsonschema.exceptions.best_match([error])
        found.append(SchemaViolation(tuple(best.absolute_path), best.message))
    return sorted(found, key=lambda v: [str(p) for p in v.path])
