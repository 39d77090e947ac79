"""The `tables:` section of publishkit.yaml: each table's key and the checks its rows must pass.

```yaml
tables:
  sessions:
    key: session_id
    columns: {age_in_days: {type: integer, minimum: 0}}   # JSON Schema per column
    unique: [session_id]
    references: {subject_id: subjects.subject_id}
    nwb: {subject_id: subject.subject_id}                 # the row's NWB file's summary
    importance: CRITICAL
```
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from publishkit.errors import ConfigError
from publishkit.formats.summaries import SESSION_FIELDS, SUBJECT_FIELDS, known_field

Where = Callable[[tuple[str | int, ...]], str]  # "<file> line N" of a key path


class TableSpec(msgspec.Struct, frozen=True):
    """One table's key and checks, as publishkit.yaml declares them."""

    name: str
    key: tuple[str, ...] = ()
    columns: Mapping[str, Any] = msgspec.field(default_factory=dict)  # column -> JSON Schema
    unique: tuple[tuple[str, ...], ...] = ()
    references: tuple[tuple[str, str, str], ...] = ()  # (column, table, column)
    nwb: tuple[tuple[str, str], ...] = ()  # (column, summary field)
    importance: str = "CRITICAL"

    @property
    def checked(self) -> bool:
        """Anything is checked: a key (unique), column schemas, uniqueness, references, NWB."""
        return bool(self.key or self.columns or self.unique or self.references or self.nwb)


def from_section(
    section: dict[str, Any] | None, released: tuple[str, ...], where: Where
) -> tuple[TableSpec, ...]:
    """The `tables:` section (already schema-checked) as specs; a ConfigError names the key,
    the line and the fix for what the schema cannot say: an unknown table, an invalid column
    schema, a reference to an unknown table, an NWB field no summary has."""
    specs = []
    for name, body in (section or {}).items():
        if name not in released:
            raise ConfigError(
                f"{where(('tables', name))}: tables.{name}: no metadata table {name!r} is "
                f"released (tables: {', '.join(released) or 'none'})",
                hint="name a table of metadata_files (or conversion's files table)",
            )
        specs.append(_spec(name, body, released, where))
    return tuple(specs)


def _spec(name: str, body: dict[str, Any], released: tuple[str, ...], where: Where) -> TableSpec:
    at = ("tables", name)
    columns = body.get("columns", {})
    if columns:
        import jsonschema  # ~0.2 s of CPU: imported only for a workspace that declares columns
    for column, schema in columns.items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(
                f"{where((*at, 'columns', column))}: tables.{name}.columns.{column}: not a "
                f"JSON Schema ({exc.message})",
                hint="e.g. {type: integer, minimum: 0} or {enum: [A, B]}",
            ) from None
    references = []
    for column, target in body.get("references", {}).items():
        table, _, other = target.partition(".")
        if table not in released:
            raise ConfigError(
                f"{where((*at, 'references', column))}: tables.{name}.references.{column}: "
                f"no released table {table!r} (tables: {', '.join(released)})",
                hint="write TABLE.COLUMN, naming a table of metadata_files",
            )
        references.append((column, table, other))
    for column, summary_field in body.get("nwb", {}).items():
        if not known_field(summary_field):
            fields = [f"subject.{f}" for f in SUBJECT_FIELDS] + list(SESSION_FIELDS)
            raise ConfigError(
                f"{where((*at, 'nwb', column))}: tables.{name}.nwb.{column}: "
                f"{summary_field!r} is no field of an NWB file's summary",
                hint=f"use one of {', '.join(fields)}",
            )
    key = body.get("key", ())
    return TableSpec(
        name=name,
        key=(key,) if isinstance(key, str) else tuple(key),
        columns=dict(body.get("columns", {})),
        unique=tuple((u,) if isinstance(u, str) else tuple(u) for u in body.get("unique", ())),
        references=tuple(references),
        nwb=tuple(body.get("nwb", {}).items()),
        importance=body.get("importance", "CRITICAL"),
    )
