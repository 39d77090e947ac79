"""Option values that convert plainly are converted without pydantic, to what typer's own
conversion gives; any other value gets typer's own verdict, in its words."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer

from publishkit.cli.app import ROOT, _command
from publishkit.cli.plain_values import PRIVATE

RELEASE_ARGS = [
    ["--jobs", "2", "--bump", "minor", "--quiet"],
    ["-j", "+3", "--version", "1.2.3", "--format", "json", "-w", "."],
    ["--note", "one", "--note", "two", "--executor", "dask", "--scheduler", "tcp://h:1"],
    ["--max-concurrency", "256", "--part-size-mb", "5", "--from", "upload", "--to", "notes"],
    ["--jobs", " 4 "],
    ["--jobs", "1_0"],
]
REFUSED = [
    ["--jobs", "x"],
    ["--jobs", "0"],
    ["--jobs", "1.5"],
    ["--bump", "huge"],
    ["--bump", "MINOR"],
    ["--format", "xml"],
    ["--max-concurrency", "300"],
    ["--part-size-mb", "4"],
    ["--executor", "x"],
]


def test_typer_still_has_every_private_name_used() -> None:
    for module, attribute, use in PRIVATE:
        assert hasattr(importlib.import_module(module), attribute), f"{module}.{attribute}: {use}"


def _typer_own(name: str = "release") -> Any:
    """A command as typer alone builds it (its own conversion, with pydantic)."""
    module, function = ROOT[name].split(":")
    callback = getattr(importlib.import_module(f"publishkit.cli.{module}"), function)
    info = typer.models.CommandInfo(name=name, callback=callback)
    return typer.main.get_command_from_info(
        info, pretty_exceptions_short=True, rich_markup_mode=None
    )


def _parsed(command: Any, args: list[str], name: str = "release") -> Any:
    try:
        return command.make_context(name, list(args)).params
    except typer.BadParameter as exc:
        return ("refused", exc.format_message())


@pytest.mark.parametrize("args", RELEASE_ARGS + REFUSED, ids=" ".join)
def test_values_convert_as_typer_converts_them(args: list[str]) -> None:
    plain = _command("release", ROOT["release"], None)
    assert _parsed(plain, args) == _parsed(_typer_own(), args)


def test_a_typer_refusal_is_worded_by_typer() -> None:
    plain = _command("release", ROOT["release"], None)
    refused = _parsed(plain, ["--jobs", "0"])
    assert refused[0] == "refused" and "greater than or equal to 1" in refused[1]


def test_a_release_given_plain_values_imports_no_pydantic(tmp_path: Path) -> None:
    """The command runs (here: to the refusal of a folder without publishkit.yaml) having
    converted every value without importing pydantic."""
    program = (
        "import sys\n"
        "from publishkit.cli.app import main\n"
        "sys.argv = ['publishkit', *sys.argv[1:]]\n"
        "try:\n    main()\n"
        "finally:\n    print('pydantic' in sys.modules, file=sys.stderr)\n"
    )
    args = ["release", "-w", str(tmp_path), "--bump", "minor", "-j", "2", "--note", "x"]
    done = subprocess.run(
        [sys.executable, "-c", program, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert done.returncode == 2
    assert "no publishkit.yaml here" in done.stderr
    assert done.stderr.rstrip().endswith("False")


def test_paths_in_a_list_are_checked_as_typer_checks_them(tmp_path: Path) -> None:
    """Each path of a list gets typer's checks (here `exists`), as a single path does."""
    from publishkit.cli.plain_values import plain_values

    def command(paths: list[Path] = typer.Argument(..., exists=True)) -> None:
        """Paths that must exist."""

    def built() -> Any:
        info = typer.models.CommandInfo(name="paths", callback=command)
        return typer.main.get_command_from_info(
            info, pretty_exceptions_short=True, rich_markup_mode=None
        )

    (tmp_path / "here").write_text("x")
    for args in ([str(tmp_path / "here")], [str(tmp_path / "here"), str(tmp_path / "gone")]):
        ours = _parsed(plain_values(built()), args, "paths")
        assert ours == _parsed(built(), args, "paths")
    assert ours[0] == "refused" and "does not exist" in ours[1]


@pytest.mark.parametrize(
    "name, args",
    [
        ("inspect", ["a.nwb", "b", "--fail-on", "CRITICAL", "-f", "junit", "-j", "2"]),
        ("inspect", ["--fail-on", "critical"]),
        ("notes", ["old.json", "new.json", "--format", "allensdk"]),
        ("upload", ["--target", "s3", "--max-concurrency", "3"]),
        ("fetch", ["m.json", "--to", "out"]),
        ("sandbox", ["--wan-rate", "2.5"]),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else value,
)
def test_every_command_converts_as_typer_does(name: str, args: list[str]) -> None:
    plain = _command(name, ROOT[name], None)
    assert _parsed(plain, args, name) == _parsed(_typer_own(name), args, name)
