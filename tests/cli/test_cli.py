"""The command line as a user meets it: help that reads as prose, and output piped onward."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from publishkit.cli.app import GROUPS, ROOT, app


def commands() -> list[tuple[str, ...]]:
    found = [(name,) for name in ROOT]
    found += [(*group.split(), name) for group, names in GROUPS.items() for name in names]
    return found


def test_every_command_is_registered_by_its_name_and_listed_in_order() -> None:
    """The lazy registration lists what the groups hold: each command built from its function
    (the name typed is the one registered), the groups after the commands."""
    root = typer.main.get_command(app)
    assert list(root.commands) == [*ROOT, "manifest", "templates", "dandi", "export"]  # type: ignore[attr-defined]
    for path in commands():
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        assert command.name == path[-1] and command.callback is not None


# What a command must not import unless its run needs it: the other groups, the NWB stack, DANDI.
HEAVY = (
    "publishkit.cli.consumer_commands",
    "publishkit.cli.stage_commands",
    "h5py",
    "pynwb",
    "dandi",
    "numpy",
)


def test_release_help_imports_only_the_release_command() -> None:
    """`publishkit release --help` imports its own group's module and none of the others, nor
    h5py, pynwb, dandi or numpy (`python -X importtime` lists every module imported)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "publishkit", "release", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "100"},
    )
    assert done.returncode == 0, done.stderr
    assert "--publish-despite-inspection" in done.stdout
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines()}
    assert "publishkit.cli.release_commands" in imported
    assert not {m for m in imported if m.split(".")[0] in HEAVY or m in HEAVY}


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
