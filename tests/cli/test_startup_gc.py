"""The collector paused while a release starts up, resumed (start-up frozen) before its first
write, whatever the release's outcome."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from publishkit.cli.startup_gc import collecting_after_startup
from tests.conftest import Workspace


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[None]:
    yield
    gc.enable()
    gc.unfreeze()


def test_a_release_collects_nothing_while_it_starts_up_and_as_usual_once_it_writes(
    cli, workspace: Workspace, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """During the preflight (imports, the S3 client, the bucket's reads, the staging) the
    collector is paused; from the first stage on it runs, with what start-up made frozen; and
    it runs after the command."""
    from publishkit.release import pipeline, s3_upload

    seen: dict[str, tuple[bool, int]] = {}
    preflight, upload = pipeline.preflight, s3_upload.upload_release

    def noted_preflight(run: Any, **kwargs: Any) -> None:
        seen["preflight"] = (gc.isenabled(), gc.get_freeze_count())
        preflight(run, **kwargs)

    def noted_upload(**kwargs: Any) -> Any:
        seen["upload"] = (gc.isenabled(), gc.get_freeze_count())
        return upload(**kwargs)

    monkeypatch.setattr(pipeline, "preflight", noted_preflight)
    monkeypatch.setattr(s3_upload, "upload_release", noted_upload)
    gc.unfreeze()
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert seen["preflight"] == (False, 0)
    assert seen["upload"][0] is True and seen["upload"][1] > 0
    assert gc.isenabled()


def test_a_refused_release_leaves_the_collector_running(
    cli, workspace: Workspace, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A release refused in its preflight (a version that is not newer) resumes collection as
    it ends."""
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    workspace.set_sessions({"101": b"session 101, again " * 500})
    result = cli("release", "--version", "0.9.0", cwd=workspace.root)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert gc.isenabled()


def test_a_collector_paused_by_someone_else_stays_paused_and_one_running_may_be_left_so() -> None:
    calls: list[str] = []
    with collecting_after_startup(calls.append, pause=False) as interrupt:
        assert gc.isenabled()
        interrupt("the convert stage")
    assert calls == ["the convert stage"] and gc.isenabled()
    calls.clear()
    gc.disable()
    calls: list[str] = []
    with collecting_after_startup(calls.append) as interrupt:
        interrupt("the upload stage")
    assert calls == ["the upload stage"] and not gc.isenabled()


def test_the_command_line_pauses_the_collector_while_it_imports_and_resumes_it_to_run() -> None:
    """`pause` first thing, `resume` once the command is known (its module imported): the
    collector runs for the command itself, start-up frozen; a collector paused by someone else
    is left paused."""
    from publishkit.cli.startup_gc import pause, resume

    gc.unfreeze()
    pause()
    assert not gc.isenabled()
    resume()
    assert gc.isenabled() and gc.get_freeze_count() > 0
    resume()  # once only
    gc.disable()
    pause()
    resume()
    assert not gc.isenabled()


def test_a_command_runs_with_the_collector_running() -> None:
    """Through the real entry point: the collector is on while a command runs."""
    import subprocess
    import sys

    probe = (
        "import functools, gc, sys\n"
        "from publishkit.cli import tool_commands\n"
        "real = tool_commands.schema_command\n"
        "@functools.wraps(real)\n"
        "def schema(*a, **k):\n"
        "    print('COLLECTING', gc.isenabled(), file=sys.stderr)\n"
        "    return real(*a, **k)\n"
        "tool_commands.schema_command = schema\n"
        "sys.argv = ['publishkit', 'schema', 'config']\n"
        "from publishkit.cli import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "COLLECTING True" in done.stderr
