"""Conversion templates: found, validated (file, line, field) and rendered in a sandbox.

A template is `templates/<name>/template.yaml` plus a README and example source data. String
values may hold `{{ row.<column> }}` placeholders, rendered by jinja2's sandboxed environment:
a template can read the row, never run code, and never build a value longer than
MAX_RENDERED characters.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from publishkit import __version__
from publishkit.errors import ConfigError, UsageError
from publishkit.formats.schemas import violations
from publishkit.formats.yamlio import line_of, read_yaml
from publishkit.nwb import kinds, neuroconv_plan
from publishkit.nwb.build import BUILDERS, ConversionError
from publishkit.resources import shipped
from publishkit.workspace.confined import inside

TEMPLATE_FILE = "template.yaml"
DEFAULT_OUTPUT = "sub-{{ row.subject_id }}_ses-{{ row.session_id }}.nwb"
MAX_RENDERED = 1_000_000  # characters of a rendered value; items of a list, digits of a number
_DIGITS_PER_BIT = 0.30103  # log10(2)


class Template(msgspec.Struct, frozen=True):
    name: str
    version: str
    description: str
    folder: Path
    document: dict[str, Any]
    digest: str  # of template.yaml and publishkit's version: a change re-converts every row

    @property
    def provenance(self) -> str:
        return f"publishkit {__version__}; template {self.name} {self.version}"

    @property
    def example(self) -> Path:
        return self.folder / "example"


def builtin_dir() -> Path:
    """The built-in templates' folder."""
    return shipped("templates")


def load_builders() -> None:
    """Import every module of `publishkit.nwb.kinds`: each registers the builders of its kinds."""
    for module in pkgutil.iter_modules(kinds.__path__):
        importlib.import_module(f"{kinds.__name__}.{module.name}")


def template_folders(user_dir: Path | None = None) -> dict[str, Path]:
    """name -> folder; a user's templates shadow built-in ones of the same name."""
    folders = {}
    for root in (builtin_dir(), user_dir):
        if root is not None and root.is_dir():
            for candidate in sorted(root.iterdir()):
                if (candidate / TEMPLATE_FILE).is_file():
                    folders[candidate.name] = candidate
    return folders


def find_template(name: str, user_dir: Path | None = None) -> Template:
    """The template `name`: the user's (under `user_dir`, never through a symlink leading out of
    it), else the built-in one."""
    folders = template_folders(user_dir)
    if name not in folders:
        raise UsageError(
            f"template {name!r} not found (known: {', '.join(folders) or 'none'})",
            hint="see `publishkit templates list`",
        )
    if user_dir is not None and folders[name].parent == user_dir:
        inside(
            user_dir.resolve(),
            folders[name] / TEMPLATE_FILE,
            f"template {name!r}",
            "keep the workspace's templates inside conversion.templates_dir",
        )
    return load_template(folders[name])


def load_template(folder: Path) -> Template:
    """Read and check `folder/template.yaml`; errors name the file, the line and the field."""
    load_builders()
    path = folder / TEMPLATE_FILE
    document, root = read_yaml(path)
    text = path.read_text(encoding="utf-8")
    problems = violations(document, "template")
    for index, item in enumerate(
        document.get("objects") or [] if isinstance(document, dict) else []
    ):
        kind = item.get("kind") if isinstance(item, dict) else None
        if kind is None:
            continue
        if kind not in _kinds():
            raise ConfigError(
                f"{path} line {line_of(root, ('objects', index, 'kind'))}: objects.{index}.kind: "
                f"unknown kind {kind!r} (known: {', '.join(sorted(_kinds()))})"
            )
        for found in violations(item, f"template-objects/{kind}"):
            problems.append(type(found)(("objects", index, *found.path), found.message))
    if problems:
        first = problems[0]
        raise ConfigError(
            f"{path} line {line_of(root, first.path)}: {first.dotted}: {first.message}",
            hint=f"see `publishkit schema {_schema_of(document, first.path)}`",
        )
    if document["name"] != folder.name:
        raise ConfigError(
            f"{path} line {line_of(root, ('name',))}: name: {document['name']!r} must match "
            f"the folder name {folder.name!r}"
        )
    digest = hashlib.sha256(f"{__version__}\n{_builders_digest()}\n{text}".encode()).hexdigest()
    return Template(
        document["name"], document["version"], document["description"], folder, document, digest
    )


def _schema_of(document: dict[str, Any], path: tuple[str | int, ...]) -> str:
    """The schema that says what belongs at `path`: an object's kind's, else the template's."""
    if len(path) >= 2 and path[0] == "objects" and isinstance(path[1], int):
        item = document["objects"][path[1]]
        if isinstance(item, dict) and item.get("kind") in _kinds():
            return f"template-objects/{item['kind']}"
    return "template"


def _kinds() -> set[str]:
    """Every kind a template's object may have."""
    return {*BUILDERS, neuroconv_plan.KIND}


@cache
def _builders_digest() -> str:
    """Changes when a builder's code does, so that its outputs are converted again."""
    digest = hashlib.sha256()
    for module in sorted(Path(kinds.__path__[0]).glob("*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()


class _TooLarge(Exception):
    """A template expression would build a value longer than MAX_RENDERED."""


@cache
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    class Sandbox(SandboxedEnvironment):
        """jinja2's sandbox, where `*`, `**` and `+` never build a value over MAX_RENDERED."""

        intercepted_binops = frozenset({"*", "**", "+"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if _oversized(operator, left, right):
                raise _TooLarge
            return super().call_binop(context, operator, left, right)

    return Sandbox(undefined=StrictUndefined, autoescape=False)


def _oversized(operator: str, left: Any, right: Any) -> bool:
    """Whether `left operator right` would hold more than MAX_RENDERED characters, items or
    digits: judged from the operands, before anything is computed."""
    sized = (str, list, tuple)
    if isinstance(left, int) and isinstance(right, int):
        a, b = abs(left).bit_length(), abs(right).bit_length()
        power = a * right if abs(left) > 1 and right > 0 else 1
        bits = {"*": a + b, "+": max(a, b) + 1, "**": power}[operator]
        return bits * _DIGITS_PER_BIT > MAX_RENDERED
    if operator == "*":
        items, times = (left, right) if isinstance(right, int) else (right, left)
        return (
            isinstance(items, sized)
            and isinstance(times, int)
            and len(items) * times > MAX_RENDERED
        )
    if operator == "+" and isinstance(left, sized) and isinstance(right, sized):
        return len(left) + len(right) > MAX_RENDERED
    return False


@cache
def _compiled(text: str) -> Any:
    return _environment().from_string(text)


def _rendered(text: str, row: dict[str, str]) -> str:
    """`text` rendered against `row`, stopped as soon as it passes MAX_RENDERED characters."""
    size, chunks = 0, []
    for chunk in _compiled(text).generate(row=row):
        size += len(chunk)
        if size > MAX_RENDERED:
            raise _TooLarge
        chunks.append(chunk)
    return "".join(chunks).strip()


def render(value: Any, row: dict[str, str], field: str = "") -> Any:
    """`value` with every placeholder string rendered against `row`; a ConversionError names
    the field when a placeholder fails for this row."""
    from jinja2 import TemplateError, UndefinedError

    if isinstance(value, dict):
        return {k: render(v, row, f"{field}.{k}" if field else k) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, row, f"{field}.{i}") for i, v in enumerate(value)]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        try:
            return _rendered(value, row)
        except UndefinedError as exc:
            missing = str(exc).split("attribute ")[-1].strip("'\"")
            raise ConversionError(
                f"{field}: the sessions table has no column {missing!r}", missing
            ) from None
        except TemplateError as exc:
            raise ConversionError(f"{field}: {exc}", field) from None
        except (_TooLarge, MemoryError):
            raise ConversionError(
                f"{field}: the rendered value would pass the limit of {MAX_RENDERED:,} characters "
                "for one template value; make the placeholder build less (e.g. repeat a string "
                "fewer times)",
                field,
            ) from None
        except (ArithmeticError, TypeError, ValueError) as exc:  # e.g. 1/0, "a" + 1, range(10**9)
            raise ConversionError(f"{field}: {type(exc).__name__}: {exc}", field) from None
    return value


def sources(value: Any) -> list[str]:
    """Every `source:` a rendered spec names (for change detection)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "source" and isinstance(item, str):
                found.append(item)
            else:
                found += sources(item)
    elif isinstance(value, list):
        for item in value:
            found += sources(item)
    return found
