"""One compiled validator per schema (jsonschema-rs), built lazily once per process: its
verdicts are jsonschema's on documents made from each schema's own vocabulary."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publishkit.formats import schemas
from publishkit.formats.schemas import compiled, listed, load_schema, schema_names, violations

SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False)
ANYTHING = st.recursive(
    SCALARS | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
# strings that patterns and lengths read differently ("$" before a final newline, a tuple-free
# JSON world, 1.0 as an integer for jsonschema)
TRICKY = st.sampled_from(["", "a", "a\n", "\n", "0" * 6, "0" * 6 + "\n", "x" * 40, "é", "1.0.0"])


def _regex(pattern: str) -> st.SearchStrategy[str]:
    try:
        re.compile(pattern)
        return st.from_regex(pattern)
    except re.error:
        return st.text(max_size=5)


def documents(schema: Any, root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values that mostly follow `schema`, each part sometimes anything at all."""
    if not isinstance(schema, dict) or depth > 8:
        return ANYTHING
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return documents({**target, **rest}, root, depth + 1)
    made: list[st.SearchStrategy[Any]] = []
    if "const" in schema:
        made.append(st.just(schema["const"]))
    if "enum" in schema:
        made.append(st.sampled_from(schema["enum"]))
    for key in ("anyOf", "oneOf", "allOf"):
        made += [documents(sub, root, depth + 1) for sub in schema.get(key, [])]
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if "object" in kinds or "properties" in schema:
        named = schema.get("properties", {})
        required = [name for name in schema.get("required", []) if isinstance(name, str)]
        fixed = {name: documents(named.get(name, {}), root, depth + 1) for name in required}
        optional = {
            name: documents(sub, root, depth + 1)
            for name, sub in named.items()
            if name not in fixed
        }
        extra = schema.get("additionalProperties", {})
        more = (
            st.just({})
            if extra is False
            else st.dictionaries(
                _regex(schema.get("propertyNames", {}).get("pattern", "^[a-z_]{1,8}$")),
                documents(extra, root, depth + 1) if isinstance(extra, dict) else ANYTHING,
                max_size=2,
            )
        )
        made.append(
            st.tuples(st.fixed_dictionaries(fixed, optional=optional), more).map(
                lambda pair: {**pair[1], **pair[0]}
            )
        )
    if "array" in kinds:
        made.append(st.lists(documents(schema.get("items", {}), root, depth + 1), max_size=3))
    if "string" in kinds:
        shortest = schema.get("minLength", 0)
        made.append(
            _regex(schema["pattern"])
            if "pattern" in schema
            else st.text(min_size=shortest, max_size=shortest + 6)
        )
    if "integer" in kinds or "number" in kinds:
        made.append(st.integers(-2, 100) | st.sampled_from([1.0, 0.5, True, 10**20]))
    if "boolean" in kinds:
        made.append(st.booleans())
    if "null" in kinds:
        made.append(st.none())
    if not made:
        return ANYTHING
    # one part in 15 is anything at all (or a tricky string), so that whole documents are
    # often valid and often broken in one place
    return st.integers(0, 14).flatmap(
        lambda roll: st.one_of(*made) if roll > 1 else (ANYTHING if roll else TRICKY)
    )


@pytest.mark.parametrize("name", schema_names())
def test_every_schema_has_one_compiled_validator(name: str) -> None:
    assert compiled(name) is not None
    assert compiled(name) is compiled(name)


@pytest.mark.parametrize("name", schema_names())
@settings(max_examples=50, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_compiled_verdict_is_jsonschemas(name: str, data: st.DataObject) -> None:
    """`violations` (compiled first) lists exactly what jsonschema alone lists."""
    root = load_schema(name)
    document = data.draw(documents(root, root))
    assert violations(document, name) == listed(document, name), json.dumps(document, default=repr)


def test_valid_documents_pass_the_compiled_validator_without_jsonschema(monkeypatch) -> None:
    """The speed: a valid document never reaches jsonschema's explainer."""
    from tests.formats.test_notes import NEW

    def explainer(name: str) -> Any:
        raise AssertionError(f"jsonschema asked about a valid {name}")

    monkeypatch.setattr(schemas, "_explainer", explainer)
    assert violations(json.loads(json.dumps(NEW)), "manifest") == []


def test_keywords_of_2020_12_are_judged_by_the_compiled_validator_itself() -> None:
    events = {"kind": "events", "name": "licks", "description": "abc", "source": "t.csv"}
    assert violations(events, "template-objects/events") == []
    events["data"] = {"source": "v.csv"}  # dependentRequired: data needs unit
    assert violations(events, "template-objects/events") == [
        schemas.SchemaViolation((), "'unit' is a dependency of 'data'")
    ]
    assert not compiled("template-objects/events")(events)  # not only jsonschema refuses it
    node = {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/node"}}}}
    tree = schemas.compile_schema({"$defs": {"node": node}, "$ref": "#/$defs/node"})
    assert tree({"kids": [{"kids": []}, {}]})
    assert not tree({"kids": [{"kids": [1]}]})
    beside = schemas.compile_schema(
        {"$defs": {"n": {"type": "integer"}}, "$ref": "#/$defs/n"} | {"minimum": 2}
    )
    assert beside(3) and not beside(1)  # a keyword beside a $ref counts too
    assert not schemas.compile_schema({"prefixItems": [{"type": "string"}]})([1])
    assert not schemas.compile_schema({"unevaluatedProperties": False})({"a": 1})
    # a value JSON has no type for is left to jsonschema
    assert not schemas.compile_schema({})({1: "an int key"})
    assert not schemas.compile_schema({"items": {"type": "array"}})([{1}])
    # a content keyword is an annotation in 2020-12: not base64 is still valid
    document = {"zlib_dictionary": "not base64!"}
    assert not [v for v in violations(document, "nwb-summaries") if v.path == ("zlib_dictionary",)]


def test_validators_are_compiled_lazily_once_per_process() -> None:
    code = (
        "from publishkit.formats import schemas\n"
        "assert schemas.compiled.cache_info().currsize == 0\n"
        "schemas.violations({}, 'config'); schemas.violations({'project': 'x'}, 'config')\n"
        "info = schemas.compiled.cache_info()\n"
        "assert (info.misses, info.currsize) == (1, 1), info\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
