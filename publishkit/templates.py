"""Conversion templates: found, validated (file, line, field) and rendered in a sandbox.

A template is `templates/<name>/template.yaml` plus a README and example source data. String
values may hold `{{ row.<column> }}` placeholders, rendered by jinja2's sandboxed environment:
a template can read the row, never run code.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from . import __version__
from .config import line_of, read_yaml
from .errors import ConfigError, UsageError
from .nwb_build import BUILDERS, ConversionError
from .schemas import violations

TEMPLATE_FILE = "template.yaml"
DEFAULT_OUTPUT = "sub-{{ row.subject_id }}_ses-{{ row.session_id }}.nwb"


@dataclass(frozen=True)
class Template:
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
    package = Path(__file__).resolve().parent
    for candidate in (package / "_data" / "templates", package.parent / "templates"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("publishkit's templates/ folder is missing from the installation")


def load_builders() -> None:
    """Import every `publishkit/nwb_<kind>.py`: each registers the builders of its kinds."""
    package = Path(__file__).resolve().parent
    for module in pkgutil.iter_modules([str(package)]):
        if module.name.startswith("nwb_") and module.name != "nwb_build":
            importlib.import_module(f"publishkit.{module.name}")


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
    folders = template_folders(user_dir)
    if name not in folders:
        raise UsageError(
            f"template {name!r} not found (known: {', '.join(folders) or 'none'})",
            hint="see `publishkit templates list`",
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
        if kind not in BUILDERS:
            raise ConfigError(
                f"{path} line {line_of(root, ('objects', index, 'kind'))}: objects.{index}.kind: "
                f"unknown kind {kind!r} (known: {', '.join(sorted(BUILDERS))})"
            )
        for found in violations(item, f"template-objects/{kind}"):
            problems.append(type(found)(("objects", index, *found.path), found.message))
    if problems:
        first = problems[0]
        raise ConfigError(
            f"{path} line {line_of(root, first.path)}: {first.dotted}: {first.message}",
            hint="see schemas/template.schema.json and schemas/template-objects/",
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


@cache
def _builders_digest() -> str:
    """Changes when a builder's code does, so that its outputs are converted again."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for module in sorted(package.glob("nwb_*.py")):
        digest.update(module.read_bytes())
    return digest.hexdigest()


@cache
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


@cache
def _compiled(text: str) -> Any:
    return _environment().from_string(text)


def render(value: Any, row: dict[str, str], field: str = "") -> Any:
    """`value` with every placeholder string rendered against `row`."""
    from jinja2 import TemplateError, UndefinedError

    if isinstance(value, dict):
        return {k: render(v, row, f"{field}.{k}" if field else k) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, row, f"{field}.{i}") for i, v in enumerate(value)]
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        try:
            return _compiled(value).render(row=row).strip()
        except UndefinedError as exc:
            missing = str(exc).split("attribute ")[-1].strip("'\"")
            raise ConversionError(
                f"{field}: the sessions table has no column {missing!r}", missing
            ) from None
        except TemplateError as exc:
            raise ConversionError(f"{field}: {exc}", field) from None
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
