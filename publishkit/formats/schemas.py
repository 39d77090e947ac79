"""The JSON Schemas in `schemas/` and validation that reports where a document is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import msgspec

from publishkit.errors import ManifestError
from publishkit.resources import shipped

Validator = Callable[[Any], bool]

if TYPE_CHECKING:  # imported where a refusal is explained: ~0.1 s of every start otherwise
    import jsonschema


def schema_dir() -> Path:
    """The folder of publishkit's JSON Schemas (in the wheel, or beside a source checkout)."""
    return shipped("schemas")


def schema_names() -> list[str]:
    """Every schema's name as `load_schema` takes it, e.g. config, template-objects/units."""
    root = schema_dir()
    suffix = ".schema.json"
    return sorted(p.relative_to(root).as_posix()[: -len(suffix)] for p in root.rglob(f"*{suffix}"))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema `name` (e.g. config, manifest, template-objects/units), parsed."""
    return json.loads((schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))


class SchemaViolation(msgspec.Struct, frozen=True):
    """One place where a document breaks its schema."""

    path: tuple[str | int, ...]
    message: str
    missing: tuple[str, ...] = ()  # for a `required` error: the properties absent, in order

    @property
    def pointer(self) -> str:
        """The JSON pointer of the offending value ("" for the whole document)."""
        return "".join(f"/{part}" for part in self.path)

    @property
    def dotted(self) -> str:
        """The key path as a YAML user reads it, e.g. `s3.bucket` or `(top level)`."""
        return ".".join(str(part) for part in self.path) or "(top level)"


def violations(document: Any, schema_name: str) -> list[SchemaViolation]:
    """All violations, most specific first within a path, ordered by where they occur. A
    document the compiled validator passes has none; only one it refuses (or one it cannot
    judge) is listed by jsonschema, which explains each fault."""
    return [] if compiled(schema_name)(document) else listed(document, schema_name)


def refuse_invalid(document: Any, schema_name: str, source: str, hint: str) -> None:
    """Refuse a document that breaks schema `schema_name`: a ManifestError naming `source`,
    the JSON pointer of the first violation and how many more there are."""
    problems = violations(document, schema_name)
    if problems:
        first, more = problems[0], f" (and {len(problems) - 1} more)" if problems[1:] else ""
        raise ManifestError(f"{source}: at {first.pointer or '/'}: {first.message}{more}", hint)


def listed(document: Any, schema_name: str) -> list[SchemaViolation]:
    """Every violation jsonschema finds (its wording), ordered by where each occurs."""
    errors = _explainer(schema_name).iter_errors(document)
    found = [v for v in (first_violation([error]) for error in errors) if v is not None]
    return sorted(found, key=lambda v: [str(p) for p in v.path])


def first_violation(
    errors: Iterable[jsonschema.ValidationError], *, deepest: bool = False
) -> SchemaViolation | None:
    """The error jsonschema deems most relevant among `errors` (inside an anyOf or oneOf, the
    alternative's own), in one line: where, and the first line of what. Every jsonschema error
    publishkit reports is put in words here. `deepest`: into the alternatives even where
    jsonschema finds them equally relevant and stops (dandischema's "a Session or a model"
    reads better as what is wrong inside the Session: "... is not a 'date-time'")."""
    import jsonschema.exceptions

    best = jsonschema.exceptions.best_match(errors)
    if best is None:
        return None
    while deepest and best.context:
        best = jsonschema.exceptions.best_match(best.context)
    missing = ()
    if best.validator == "required" and isinstance(best.instance, dict):
        missing = tuple(k for k in best.validator_value if k not in best.instance)
    message = (best.message.splitlines() or [""])[0]
    return SchemaViolation(tuple(best.absolute_path), message, missing)


@cache
def _explainer(schema_name: str) -> jsonschema.Draft202012Validator:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema(schema_name))


@cache
def compiled(schema_name: str) -> Validator:
    """The schema's validator, compiled the first time a process validates with it."""
    return compile_schema(load_schema(schema_name))


def compile_schema(
    schema: dict[str, Any], *, formats: dict[str, Callable[[str], bool]] | None = None
) -> Validator:
    """Whether a document is valid by `schema` (JSON Schema 2020-12, or the draft its $schema
    names), compiled by jsonschema-rs: False too for a value JSON has no type for (a set, an
    int key), left to jsonschema. `format` is an annotation unless `formats` checks each."""
    validator = jsonschema_rs.validator_for(
        schema, formats=formats, validate_formats=formats is not None
    )

    def valid(document: Any) -> bool:
        try:
            return validator.is_valid(document)
        except ValueError:  # jsonschema-rs: "Unsupported type", "Dict key must be str"
            return False

    return valid
