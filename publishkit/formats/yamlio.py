"""Every YAML file publishkit reads, read one bounded way: publishkit.yaml, templates,
dandiset.yaml, nwbinspector configs.

A YAML file is refused, with one line naming the file, the line and the fix, when it is larger
than MAX_BYTES, is not UTF-8, uses an alias (`*name`: a few lines of aliases expand to billions
of values, the "billion laughs"), nests deeper than MAX_DEPTH, or gives a key twice in one
mapping (YAML's loaders keep the last silently). Reading stays fast whatever the file holds.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.resolver import Resolver

from publishkit.errors import ConfigError

MAX_BYTES = 1024 * 1024  # far more than any settings, template or dandiset file needs
MAX_DEPTH = 64  # nested mappings and lists


class YamlRefused(Exception):
    """A YAML document publishkit will not read: the reason and the 1-based line it is at."""

    def __init__(self, reason: str, line: int | None, hint: str) -> None:
        super().__init__(reason)
        self.reason, self.line, self.hint = reason, line, hint


if yaml.__with_libyaml__:  # libyaml's parser, five times faster; composed here, in Python
    from yaml._yaml import CParser

    class _SafeLoader(Composer, CParser, SafeConstructor, Resolver):
        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

else:  # pragma: no cover (PyYAML built without libyaml)
    _SafeLoader = yaml.SafeLoader  # type: ignore[misc,assignment]


class BoundedLoader(_SafeLoader):
    """PyYAML's safe loader without aliases, with a depth limit, refusing duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event: Any = self.peek_event()
            raise YamlRefused(
                f"alias *{event.anchor} refused: publishkit reads YAML without aliases",
                event.start_mark.line + 1,
                "write the value out in full instead of repeating it with &anchor and *alias",
            )
        nests = self.check_event(SequenceStartEvent, MappingStartEvent)  # exact classes
        if nests:
            self._depth += 1
            if self._depth > MAX_DEPTH:
                raise YamlRefused(
                    f"nested more than {MAX_DEPTH} levels deep",
                    _line(self.peek_event()),
                    "flatten the document",
                )
        try:
            return super().compose_node(parent, index)
        finally:
            if nests:
                self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: PyYAML's own refusal below names it
                break
            if first is not None:
                where = f"lines {first} and {line}" if first != line else f"twice on line {line}"
                raise YamlRefused(
                    f"key {_shown_key(key)} is given twice ({where})",
                    line,
                    "keep one of them (YAML would silently use only the last)",
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date 2020-13-45
            first = str(exc).split(":")[0].strip() or type(exc).__name__
            raise YamlRefused(
                f"value cannot be read ({first[:100]})",
                node.start_mark.line + 1,
                "quote it to keep it as text, or fix it",
            ) from None


def _line(event: Any) -> int:
    return int(event.start_mark.line) + 1


def _shown_key(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 60 else text[:57] + "..."


def parse(text: str) -> tuple[Any, yaml.Node | None]:
    """The document in `text` and its node tree (for line numbers); YamlRefused or
    yaml.YAMLError when it cannot be read."""
    loader = BoundedLoader(text)
    try:
        root = loader.get_single_node()
        document = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return document, root


def read_yaml(path: Path, *, what: str | None = None) -> tuple[Any, yaml.Node | None]:
    """The document in the YAML file at `path` and its node tree; a ConfigError names `what`
    (default: the path), the line and the fix when it cannot be read, in one line."""
    name = what or str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(
            f"{name}: cannot be read ({exc.strerror})", hint="check the file and its permissions"
        ) from None
    if len(data) > MAX_BYTES:
        raise ConfigError(
            f"{name}: larger than {MAX_BYTES // (1024 * 1024)} MiB, more than a YAML file "
            "publishkit reads may be",
            hint="check that the path names the right file",
        )
    text = _decoded(data, name)
    try:
        return parse(text)
    except YamlRefused as exc:
        raise ConfigError(f"{name} line {exc.line}: {exc.reason}", hint=exc.hint) from None
    except RecursionError:
        raise ConfigError(f"{name}: nested too deeply", hint="flatten the document") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{name}{where}: {problem}", hint="fix the YAML syntax") from None
    except yaml.reader.ReaderError as exc:  # a control character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(
            f"{name} line {line}: character U+{exc.character:04X} is not allowed in YAML",
            hint="remove it, or write it as an escape (\\x..) in a double-quoted string",
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML ({exc})", hint="fix the YAML syntax") from None


def _decoded(data: bytes, name: str) -> str:
    """`data` as UTF-8 text; a ConfigError names the line and offset of the first bad byte."""
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        at = bom + exc.start
        line = data.count(b"\n", 0, at) + 1
        raise ConfigError(
            f"{name} line {line}: byte 0x{data[at]:02x} at offset {at} is not UTF-8",
            hint=f"save {Path(name).name} as UTF-8",
        ) from None


def line_of(node: yaml.Node | None, path: tuple[str | int, ...]) -> int:
    """The 1-based line of the deepest YAML node along `path` that exists."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            child = node.value[part] if part < len(node.value) else None
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def key_line(node: yaml.Node | None, path: tuple[str | int, ...], key: str) -> int:
    """The 1-based line of the key `key` in the mapping at `path`."""
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if k.value == key:
                return int(k.start_mark.line) + 1
    return line_of(node, ())
