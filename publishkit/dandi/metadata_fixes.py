"""What dandischema refuses in a dandiset's metadata, as the archive's own call finds it, each
error located in the file and told with its fix.

The archive validates with `validate(..., json_validation=True)`: the JSON Schema first, whose
messages for a contributor are one "is not valid under any of the given schemas". Where
dandischema's pydantic model (`Dandiset`) locates an error more precisely, its errors are told
instead ("name must be 'Last, First'", the ORCID pattern, the license choices).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

Path = tuple[str | int, ...]


class Finding(msgspec.Struct, frozen=True):
    """One thing the archive would refuse: where, what, and how to fix it."""

    path: Path
    message: str
    fix: str | None


def findings(view: dict[str, Any], licenses: tuple[str, ...] | None) -> list[Finding]:
    """What the archive's validation of `view` (a dandiset as published) refuses; `licenses`:
    the instance's own list, when it said."""
    allowed = licenses or _installed_licenses()
    found = [_from_pydantic(view, error, allowed) for error in _pydantic_errors(view)]
    for where, path, message in _archive_errors(view):
        if not any(f.path[: len(where)] == where for f in found):
            found.append(_from_jsonschema(path, message, allowed))
    found += _unlisted_licenses(view, licenses)
    return sorted(found, key=lambda f: [str(p) for p in f.path])


def with_schema_keys(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with the schemaKey of each nested object whose kind its field alone decides
    (an ethicsApproval is an EthicsApproval, ...), as dandischema's model would fill it: the
    archive's JSON Schema requires them. A contributor's kind (Person or Organization) is
    left to the file."""
    from dandischema.models import Dandiset

    return _keyed(document, Dandiset)


def _keyed(data: Any, model: Any) -> Any:
    from pydantic import BaseModel

    if not isinstance(data, dict):
        return data
    filled = dict(data)
    for name, field in model.model_fields.items():
        if name not in filled:
            continue
        kinds = [a for a in _leaves(field.annotation) if isinstance(a, type)]
        models = [k for k in kinds if issubclass(k, BaseModel)]
        values = filled[name] if isinstance(filled[name], list) else [filled[name]]
        for index, value in enumerate(values):
            if not isinstance(value, dict):
                continue
            chosen = next((m for m in models if m.__name__ == value.get("schemaKey")), None)
            if chosen is None and len(models) == 1:
                chosen = models[0]
                value = {**value, "schemaKey": chosen.__name__}
            if chosen is not None:
                values[index] = _keyed(value, chosen)
        filled[name] = values if isinstance(filled[name], list) else values[0]
    return filled


def _leaves(annotation: Any) -> list[Any]:
    """The types an annotation allows, through Optional, List, Union and Annotated."""
    from typing import get_args

    args = get_args(annotation)
    if not args:
        return [annotation]
    return [leaf for arg in args for leaf in _leaves(arg)]


def _archive_errors(view: dict[str, Any]) -> list[tuple[Path, Path, str]]:
    """The archive's own call: each error's path, and where and what its most relevant part
    is (a missing property's path, for `required`; an alternative's error, for `oneOf`)."""
    from dandischema.exceptions import JsonschemaValidationError, PydanticValidationError
    from dandischema.metadata import validate

    try:
        validate(view, schema_key="PublishedDandiset", json_validation=True)
    except JsonschemaValidationError as exc:
        from publishkit.formats.schemas import first_violation

        errors = []
        for error in exc.errors:
            where: Path = tuple(error.absolute_path)
            best = first_violation([error], deepest=True)  # the alternatives' most relevant
            assert best is not None  # one error given, one found
            path: Path = best.path + best.missing[:1]
            errors.append((where if len(where) < len(path) else path, path, best.message))
        return errors
    except PydanticValidationError as exc:
        return [(tuple(e["loc"]), tuple(e["loc"]), str(e["msg"])) for e in exc.errors]
    except ValueError as exc:  # dandischema's own refusals, e.g. an unknown schemaVersion
        return [((), (), str(exc))]
    return []


def _pydantic_errors(view: dict[str, Any]) -> list[dict[str, Any]]:
    from dandischema.models import Dandiset
    from pydantic import ValidationError

    try:
        Dandiset.model_validate(view)
    except ValidationError as exc:
        return [dict(e) for e in exc.errors()]
    return []


def _from_pydantic(
    view: dict[str, Any], error: dict[str, Any], licenses: tuple[str, ...]
) -> Finding:
    path = _in_document(view, tuple(error["loc"]))
    kind, message = str(error["type"]), str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    field = next((p for p in reversed(path) if isinstance(p, str)), "")
    if kind == "missing" or (value is None and kind.endswith("_type")):
        return _required(path, field, licenses)
    if kind == "string_pattern_mismatch":
        return _pattern(path, field, value, _model_of(view, path))
    if kind == "too_short":
        return Finding(
            path,
            f"{field} needs at least one entry",
            _ADD.get(field) and _ADD[field].format(licenses=_choices(licenses)),
        )
    if kind == "enum" and path[:1] == ("license",):
        return Finding(
            path,
            f"license {value!r} is not one of the instance's licenses",
            f"use one of {_choices(licenses)}",
        )
    if kind.startswith("union_tag"):
        return Finding(path, "no schemaKey says what this is", _TAGS.get(str(path[0]), _TAG_FIX))
    if kind == "enum":
        return Finding(path, f"{value!r} is not one of the allowed values", _enum_fix(error))
    plain = value is None or isinstance(value, (dict, list))
    return Finding(path, message if plain else f"{_shown(value)}: {message}", _FIXES.get(message))


def _from_jsonschema(path: Path, message: str, licenses: tuple[str, ...]) -> Finding:
    field = next((p for p in reversed(path) if isinstance(p, str)), "")
    if message.endswith("is a required property"):
        return _required(path, field, licenses)
    return Finding(path, message, None)


def _required(path: Path, field: str, licenses: tuple[str, ...]) -> Finding:
    fix = _ADD.get(field, f"add {field}").format(licenses=_choices(licenses))
    return Finding(path, f"{field} is required", fix)


def _pattern(path: Path, field: str, value: Any, model: str | None) -> Finding:
    if field == "name" and model == "Person":
        return Finding(
            path,
            f"name must be 'Last, First', found {value!r}",
            f"write it as {_last_first(str(value))!r}",
        )
    if field == "identifier" and model == "Person":
        return Finding(
            path,
            f"identifier must be an ORCID (0000-0002-1825-0097), found {value!r}",
            "give the 16 digits in 4 groups (the last may be X), without https://orcid.org/",
        )
    if field == "identifier" and model in ("Organization", "Affiliation"):
        return Finding(
            path,
            f"identifier must be a ROR URL, found {value!r}",
            "give it as https://ror.org/<id> (look the institution up on ror.org)",
        )
    return Finding(path, f"{value!r} does not have the form DANDI expects for {field}", None)


def _unlisted_licenses(view: dict[str, Any], licenses: tuple[str, ...] | None) -> list[Finding]:
    """Licenses the installed dandischema accepts but the instance does not offer."""
    given = view.get("license")
    if licenses is None or not isinstance(given, list):
        return []
    return [
        Finding(
            ("license", index),
            f"license {value!r} is not one of the instance's licenses",
            f"use one of {_choices(licenses)}",
        )
        for index, value in enumerate(given)
        if isinstance(value, str) and value in _installed_licenses() and value not in licenses
    ]


def _in_document(view: dict[str, Any], loc: Path) -> Path:
    """pydantic's location as a path in the file: union tags (a contributor's 'Person')
    dropped, a missing field kept as the last part."""
    path: list[str | int] = []
    node: Any = view
    for part in loc:
        if _has(node, part):
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and _is_tag(node, part):
            continue
        else:
            node = None
        path.append(part)
    return tuple(path)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and part < len(node)


def _is_tag(node: dict[str, Any], part: str) -> bool:
    return part == node.get("schemaKey") or "[" in part or part[:1].isupper()


def _model_of(view: dict[str, Any], path: Path) -> str | None:
    """The schemaKey of the object holding the field at `path` (Person, Organization, ...)."""
    node: Any = view
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, dict):
        if path[:1] == ("contributor",) or "schemaKey" in node:
            return str(node.get("schemaKey"))
        if "affiliation" in path:
            return "Affiliation"
    return None


def _last_first(name: str) -> str:
    words = name.replace(",", " ").split()
    return f"{words[-1]}, {' '.join(words[:-1])}" if len(words) > 1 else f"{name}, First"


def _enum_fix(error: dict[str, Any]) -> str | None:
    expected = (error.get("ctx") or {}).get("expected")
    if not expected:
        return None
    items = re.findall(r"'([^']+)'", str(expected))
    shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
    return f"use one of {shown or expected}"


def _installed_licenses() -> tuple[str, ...]:
    from dandischema.conf import get_instance_config

    return tuple(sorted(lic.value for lic in get_instance_config().licenses))


def _choices(licenses: tuple[str, ...]) -> str:
    return ", ".join(licenses)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_ADD = {
    "name": "add name: the dandiset's title (at most 150 characters)",
    "description": "add description: what the data are, how they were recorded",
    "contributor": "add contributor: at least one Person with roleName [dcite:ContactPerson] "
    "and an email",
    "license": "add license: [LICENSE], one of {licenses}",
}
_TAG_FIX = "add schemaKey naming the kind of entry"
_TAGS = {
    "contributor": "add schemaKey: Person (or Organization) to the contributor",
    "about": "add schemaKey: Anatomy, Disorder or GenericType",
}
_FIXES = {
    "Contact person must have an email address.": "add email: to the contact person",
    "At least one contributor must have role ContactPerson": "give one contributor roleName: "
    "[dcite:ContactPerson] and an email",
    "Both identifier and url cannot be None": "give the resource a url (or an identifier)",
    "Input should be a valid list": "make it a YAML list: one '- ' line per entry",
}
