"""The JSON Schemas in `schemas/` and validation that reports where a document is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fastjsonschema

from publishkit.formats.schema_cache import Validator, compiled_validator
from publishkit.resources import shipped

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


@dataclass(frozen=True)
class SchemaViolation:
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
    check = compiled(schema_name)
    if check is not None:
        try:
            check(document)
        except fastjsonschema.JsonSchemaException:
            pass  # fastjsonschema is stricter in places (1.0 as an integer, "$" before a "\\n")
        else:
            return []
    return listed(document, schema_name)


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


# One compiled validator per schema, built the first time a process validates with it. It is
# fastjsonschema's (drafts 4 to 2019), given the schema with what it would read differently from
# JSON Schema 2020-12 rewritten or removed: dependentRequired is draft 7's dependencies; format and
# the content keywords are annotations; a $ref beside other keywords is one more part of an allOf
# (draft 7 ignores its siblings). A schema with any other keyword has no compiled validator
# (None): jsonschema judges it, so a schema edit can make validation slower but never change its
# verdict.
_IGNORED = frozenset(
    {"title", "description", "$comment", "examples", "default", "$schema", "$id"}
    | {"contentEncoding", "contentMediaType", "contentSchema"}
)
_PLAIN = frozenset(
    {"type", "enum", "const", "required", "minLength", "maxLength", "pattern", "minimum"}
    | {"maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minItems", "maxItems"}
    | {"uniqueItems", "minProperties", "maxProperties"}
)
_ONE_SCHEMA = frozenset({"additionalProperties", "items", "propertyNames", "not", "contains"})
_ONE_SCHEMA |= {"if", "then", "else"}
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties"})


class _Unsupported(Exception):
    """A keyword fastjsonschema would not read as JSON Schema 2020-12 does."""


@cache
def compiled(schema_name: str) -> Validator | None:
    """The schema's compiled validator (raises fastjsonschema.JsonSchemaException on a fault),
    or None when the schema has a keyword it does not read as JSON Schema 2020-12 does."""
    return compile_schema(load_schema(schema_name))


def compile_schema(
    root: dict[str, Any],
    *,
    annotations: frozenset[str] = frozenset(),
    formats: dict[str, Callable[[str], bool]] | None = None,
) -> Validator | None:
    """A JSON Schema 2020-12 document compiled by fastjsonschema, or None when it has a keyword
    other than `annotations` that fastjsonschema does not read as JSON Schema 2020-12 does.
    `format` is an annotation unless `formats` gives a check of each format the schema names."""
    ignored = _IGNORED | annotations | ({"format"} if formats is None else set())
    defs = root.get("$defs", {})
    try:
        schema = _rewritten(root, ignored, defs)
        if defs:  # where its $refs point
            schema["$defs"] = {name: _rewritten(d, ignored, defs) for name, d in defs.items()}
    except _Unsupported:
        return None
    # (detailed exceptions: without them, fastjsonschema 2.22 fails to compile some messages)
    return compiled_validator(schema, formats=formats or {}, use_formats=formats is not None)


def _rewritten(schema: Any, ignored: frozenset[str], defs: dict[str, Any]) -> Any:
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict):
        raise _Unsupported(schema)
    out: dict[str, Any] = {}
    for keyword, value in schema.items():
        if keyword in ignored or keyword == "$defs":
            continue
        if keyword in _PLAIN or keyword == "format":  # (format: when not an annotation)
            out[keyword] = value
        elif keyword in _ONE_SCHEMA:
            out[keyword] = _rewritten(value, ignored, defs)
        elif keyword in _SCHEMA_LISTS and isinstance(value, list):
            out[keyword] = [_rewritten(item, ignored, defs) for item in value]
        elif keyword in _SCHEMA_MAPS and isinstance(value, dict):
            out[keyword] = {name: _rewritten(item, ignored, defs) for name, item in value.items()}
        elif keyword == "dependentRequired" and isinstance(value, dict):
            out["dependencies"] = value
        elif keyword == "$ref" and isinstance(value, str) and value[8:] in defs:
            if not value.startswith("#/$defs/") or "~" in value or "%" in value:
                raise _Unsupported(value)
            out["allOf"] = [*out.get("allOf", []), {"$ref": value}]
        else:
            raise _Unsupported(keyword)
    if list(out) == ["allOf"] and "$ref" in schema and "allOf" not in schema:
        return out["allOf"][0]  # only a $ref
    return out
