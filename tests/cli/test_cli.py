"""The command line as a user meets it: help that reads as prose, and output piped onward."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from publishkit.cli.app import app


def commands() -> list[tuple[str, ...]]:
    found = [(info.name or info.callback.__name__,) for info in app.registered_commands]
    found += [
        (group.name, info.name or "")
        for group in app.registered_groups
        if group.typer_instance
        for info in group.typer_instance.registered_commands
    ]
    return found


@pytest.mark.parametrize("command", commands(), ids=" ".join)
def test_help_is_prose_that_wraps_at_the_terminals_width(cli, command: tuple[str, ...]) -> None:
    """A docstring's own line breaks would show in the help and wrap mid-sentence; each
    paragraph is one line at a width that fits it."""
    result = subprocess.run(
        [sys.executable, "-m", "publishkit", *command, "--help"],
        env={**os.environ, "COLUMNS": "400", "TERM": "dumb"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [line.strip() for line in result.stdout.splitlines()]
    usage = next(i for i, line in enumerate(lines) if line.startswith("Usage:"))
    prose: list[str] = []
    for line in lines[usage + 2 :]:
        if line.startswith("╭"):
            break
        prose.append(line)
    paragraphs = [p for p in "\n".join(prose).split("\n\n") if p.strip()]
    assert paragraphs, result.stdout
    for paragraph in paragraphs:
        assert "\n" not in paragraph.strip(), paragraph


def test_output_piped_into_head_ends_quietly() -> None:
    """`publishkit release --help | head -40`: head exits while publishkit still writes. No
    traceback, no "internal error", exit 0."""
    head = subprocess.Popen(["head", "-40"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert head.stdin is not None
    writer = subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "--help"],
        stdout=head.stdin,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
    )
    head.stdin.close()
    _, stderr = writer.communicate(timeout=60)
    head.wait()
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr
    assert writer.returncode == 0


@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_a_region_variable_that_is_no_region_is_bad_input(
    cli, monkeypatch: pytest.MonkeyPatch, tmp_path, variable: str
) -> None:
    monkeypatch.setenv(variable, "US_West")
    manifest = tmp_path / "m.json"
    manifest.write_text("{}")
    result = cli("verify", str(manifest), cwd=tmp_path)
    assert result.exit_code == 2
    assert f"{variable}='US_West' is not an AWS region name" in result.stderr
    assert "internal error" not in result.stderr
