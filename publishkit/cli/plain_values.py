"""Option values converted without pydantic when they convert plainly.

typer (0.2x) converts every option value but a flag's through a pydantic TypeAdapter that it
builds on first use, so any command given a value imports pydantic: ~0.1 s of CPU, a fifth of
an incremental release. A value that converts plainly (text, an integer within its bounds, one
of the choices, a path) is converted here as typer converts it; any other value (one typer
refuses, or of a type not listed here) goes through typer's own conversion, so its messages
stay typer's. typer's conversion is reached through names it does not promise to keep
(`PRIVATE`, checked by tests/cli/test_plain_values.py); when they move, every value goes
through typer's own conversion again: slower, never different.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

# (module, attribute, what publishkit uses it for)
PRIVATE: tuple[tuple[str, str, str], ...] = (
    ("typer._coercion", "RuntimeParam", "the contract of a parameter's converter"),
    ("typer._coercion", "build_runtime_param", "typer's own converter, for any other value"),
    ("typer._param_types", "coerce_cli_choice", "a choice matched as typer matches it"),
    ("typer._param_types", "coerce_cli_path", "a path's checks (exists, file_okay...)"),
    ("typer.core", "_TyperParameter", "the parameters whose converter is set: _runtime_param"),
)


class _Refused(Exception):
    """The value does not convert plainly: typer's own conversion says why."""


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Refused
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Refused
    return value


def _integer(info: Any) -> Callable[[Any], int]:
    def integer(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise _Refused
        try:
            number = int(value)
        except ValueError:
            raise _Refused from None
        low, high = info.min, info.max
        if (low is not None and number < low) or (high is not None and number > high):
            raise _Refused  # refused by typer, in its words
        return number

    return integer


def _path(value: Any) -> Path:
    return value if isinstance(value, Path) else Path(_text(value))


def _choice(choices: tuple[Any, ...], info: Any, match: Any) -> Callable[[Any], Any]:
    def choice(value: Any) -> Any:
        try:
            return match(value, choices=choices, case_sensitive=info.case_sensitive)
        except ValueError:
            raise _Refused from None

    return choice


def _converter(annotation: Any, info: Any, match: Any) -> Callable[[Any], Any] | None:
    """What converts one plain value of `annotation` (raising _Refused for any other), or
    None for a type left to typer."""
    if info.parser is not None or info.clamp:
        return None
    if annotation is str:
        return _text
    if annotation is bool:
        return _flag
    if annotation is int:
        return _integer(info)
    if annotation is Path and not info.resolve_path and info.path_type in (None, Path):
        return _path
    if isinstance(annotation, enum.EnumMeta):
        return _choice(tuple(annotation), info, match)
    if get_origin(annotation) is Literal:
        return _choice(get_args(annotation), info, match)
    return None


def plain_values(command: Any) -> Any:
    """`command`, its options' plain values converted here (see the module's docstring)."""
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_choice, coerce_cli_path
        from typer.core import _TyperParameter
    except ImportError:
        return command

    class Plain(RuntimeParam):
        """A frozen converter: plain values here, any other by typer's own."""

        descriptor: Any
        convert: Callable[[Any], Any]

        def __init__(self, descriptor: Any, convert: Callable[[Any], Any]) -> None:
            super().__init__(descriptor.parameter_info, descriptor.annotation)
            object.__setattr__(self, "descriptor", descriptor)
            object.__setattr__(self, "convert", convert)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                converted = self.convert(value)
            except _Refused:
                typer_own = build_runtime_param(self.descriptor)
                return typer_own._coerce_value(value, param=param, ctx=ctx)
            info = self.parameter_info

            def checked(value: Any) -> Any:  # a path: typer's checks (exists, readable...)
                if not isinstance(value, Path):
                    return value
                return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)

            return (
                [checked(v) for v in converted]
                if isinstance(converted, list)
                else checked(converted)
            )

    def plain(param: Any) -> None:
        descriptor = getattr(param, "type_descriptor", None)
        if not isinstance(param, _TyperParameter) or descriptor is None:
            return
        if descriptor.file_annotation is not None or param._runtime_param is not None:
            return
        annotation, info = descriptor.annotation, descriptor.parameter_info
        listed = get_origin(annotation) is list and len(get_args(annotation)) == 1
        one = get_args(annotation)[0] if listed else annotation
        convert = _converter(one, info, coerce_cli_choice)
        if convert is not None:
            param._runtime_param = Plain(descriptor, _each(convert) if listed else convert)

    for param in getattr(command, "params", ()):
        plain(param)
    help_option = command.get_help_option  # --help: made when the command is first parsed

    def plain_help_option(ctx: Any) -> Any:
        option = help_option(ctx)
        if option is not None:
            plain(option)
        return option

    command.get_help_option = plain_help_option
    return command


def _each(convert: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    def each(values: Any) -> list[Any]:
        return [convert(v) for v in (values if isinstance(values, list | tuple) else [values])]

    return each
