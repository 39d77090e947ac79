"""Refusals in the format asked for: with `--format json`, every command that offers it prints
a JSON error object on stdout that a script can read, and its one line on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer

from publishkit.cli.app import app

BROKEN = "broken-workspace"
# a refusal of each command that offers --format json: its arguments, and what it says
REFUSALS: dict[str, tuple[list[str], str]] = {
    "release": (["-w", BROKEN], "publishkit.yaml line 2"),
    "status": (["-w", BROKEN], "publishkit.yaml line 2"),
    "convert": (["-w", BROKEN], "publishkit.yaml line 2"),
    "organize": (["-w", BROKEN], "publishkit.yaml line 2"),
    "upload": (["-w", BROKEN], "publishkit.yaml line 2"),
    "templates list": (["-w", BROKEN], "publishkit.yaml line 2"),
    "verify": (["missing.json"], "missing.json: no such manifest file"),
    "fetch": (["missing.json", "--to", "cache"], "missing.json: no such manifest file"),
    "notes": (["old.json", "new.json"], "old.json: no such manifest file"),
    "manifest validate": (["missing.json"], "missing.json: no such file"),
    "inspect": (["missing.nwb"], "missing.nwb: no such file or folder"),
    "dandi metadata check": (["-w", BROKEN], "publishkit.yaml line 2"),
    "ls": (["missing.json"], "missing.json: no such manifest file"),
    "show": (["missing.json", "s101"], "missing.json: no such manifest file"),
}


def commands_offering_json() -> set[str]:
    """Every command, by its name as typed, whose --format accepts json."""
    found = set()

    def walk(group: object, prefix: str) -> None:
        for name, command in getattr(group, "commands", {}).items():
            walk(command, f"{prefix}{name} ")
            for param in command.params:
                formats = type(param.default)  # the StrEnum of the formats it offers
                if "--format" in param.opts and "json" in getattr(formats, "__members__", {}):
                    found.add(f"{prefix}{name}")

    walk(typer.main.get_command(app), "")
    return found


def test_the_refusals_cover_every_command_with_json() -> None:
    assert commands_offering_json() == set(REFUSALS)


@pytest.fixture
def where(tmp_path: Path) -> Path:
    (tmp_path / BROKEN).mkdir()
    (tmp_path / BROKEN / "publishkit.yaml").write_text("project: [unclosed\n")
    return tmp_path


@pytest.mark.parametrize("command", sorted(REFUSALS))
def test_a_refusal_is_a_json_object_with_format_json(cli, where: Path, command: str) -> None:
    args, says = REFUSALS[command]
    result = cli(*command.split(), *args, "--format", "json", cwd=where)
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert set(document) == {"error", "hint", "exit_code"}
    assert says in document["error"] and document["hint"]
    assert document["exit_code"] == 2
    assert result.stderr.startswith(f"error: {document['error']} (fix: {document['hint']})")

    plain = cli(*command.split(), *args, cwd=where)
    assert plain.exit_code == 2 and plain.stdout == ""
    assert plain.stderr == result.stderr


def test_the_parsers_own_refusal_is_json_too(cli, where: Path) -> None:
    result = cli("inspect", "-fjson", "--jobs", "0", "x.nwb", cwd=where)
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2
    assert document["error"].startswith("Invalid value for '--jobs'")
    assert "Invalid value for '--jobs'" in result.stderr  # typer's own message, as before


def a_closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "command",
    [
        ["release", "--version", "0.2.0"],  # the preflight, outside the upload
        ["release", "--only", "notes"],
        ["upload", "--target", "s3"],
        ["verify", "MANIFEST"],  # these two report each file they could not check
        ["fetch", "MANIFEST", "--to", "cache"],
    ],
)
def test_an_outage_exits_1_everywhere(
    cli, workspace, aws_env, monkeypatch, command: list[str]
) -> None:
    """README: exit 1 when a check or upload failed, an outage too; 2 is bad usage or input.
    A refusal says so in one line naming the endpoint."""
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    workspace.set_sessions({"101": b"changed " * 100, "102": b"session 102 " * 2000})
    endpoint = f"http://127.0.0.1:{a_closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    manifest = str(workspace.manifest_path("0.1.0"))

    result = cli(*[manifest if a == "MANIFEST" else a for a in command], cwd=workspace.root)

    assert result.exit_code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert endpoint in result.stdout + result.stderr
    if command[0] in ("release", "upload"):
        (line,) = [line for line in result.stderr.splitlines() if line.strip()]
        assert line.startswith("error: ") and endpoint in line, line
