"""The command exits through the interpreter's own exit, reached by public calls only: threads
still running are joined, atexit handlers run, the output is flushed, the exit code kept."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import publishkit.cli

# A command, with what a library may leave behind: a thread still writing, an atexit handler.
PROGRAM = """
import atexit, sys, threading, time
from pathlib import Path
from publishkit.cli.app import main

done = Path(sys.argv[1])
atexit.register(lambda: print("atexit handler ran", file=sys.stderr))


def late():
    time.sleep(0.3)
    done.write_text("joined")


threading.Thread(target=late).start()
sys.argv = ["publishkit", *sys.argv[2:]]
main()
"""


@pytest.mark.parametrize(
    "args, code, stdout",
    [
        (["--version"], 0, "publishkit 0.1.0\n"),
        (["release", "-w", "no-such-folder"], 2, ""),
    ],
)
def test_the_exit_joins_threads_runs_atexit_and_keeps_the_code(
    tmp_path: Path, args: list[str], code: int, stdout: str
) -> None:
    done = tmp_path / "thread-done"
    run = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(done), *args],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == code, run.stderr
    assert run.stdout == stdout
    assert run.stderr.endswith("atexit handler ran\n")
    assert done.read_text() == "joined"


# A command whose signal raised its KeyboardInterrupt inside an `exec` of a string (as in a
# dataclass built by a module the command imports), caught by the command: run as `python -m`.
CAUGHT_IN_EXEC = """
import os, signal, sys
from publishkit.cli.app import _exit
from publishkit.cli.signals import SIGNALS

SIGNALS.install()
try:
    exec("os.kill(os.getpid(), signal.SIGINT)\\nfor _ in range(10**6): pass")
except KeyboardInterrupt:
    print("interrupted, said", file=sys.stderr)
SIGNALS.ignore()
_exit(SIGNALS.exit_code)
"""


def test_an_interrupt_caught_after_an_exec_of_a_string_still_exits_130(tmp_path: Path) -> None:
    """CPython marks a KeyboardInterrupt that left an exec/eval of a string as unhandled, even
    when caught later, and `python -m` then kills itself with SIGINT as it exits (-2): the
    signal test's run that printed its message and exited -2 (issue 20's CI)."""
    (tmp_path / "caught_in_exec.py").write_text(CAUGHT_IN_EXEC)
    run = subprocess.run(
        [sys.executable, "-m", "caught_in_exec"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(publishkit.cli.__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stderr == "interrupted, said\n"
    assert run.returncode == 130


def test_the_command_line_calls_nothing_private_of_atexit_threading_or_sys() -> None:
    """No `atexit._run_exitfuncs`, `threading._shutdown` or `sys._...`: they change between
    Python versions without notice (issue 22)."""
    private = []
    for path in Path(publishkit.cli.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"atexit", "threading", "sys", "gc"}
                and node.attr.startswith("_")
            ):
                private.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
            if (  # getattr(threading, "_shutdown", None)
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "getattr"
                and isinstance(node.args[1], ast.Constant)
                and str(node.args[1].value).startswith("_")
            ):
                private.append(f"{path.name}:{node.lineno}: getattr(..., {node.args[1].value!r})")
    assert private == []


# A SIGINT as typer parses the command line, before any command runs: typer turns the
# KeyboardInterrupt into its own silent exit 130.
SIGNALLED_AS_IT_PARSES = """
import os, signal, sys
from publishkit.cli import app

parse = app._Group.make_context


def signalled(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(10**6):  # the handler raises here
        pass
    return parse(self, *args, **kwargs)


app._Group.make_context = signalled
sys.argv = ["publishkit", "--version"]
app.main()
"""


def test_an_interrupt_as_the_command_line_is_parsed_is_said(tmp_path: Path) -> None:
    """Exit 130 with the line that says so, not typer's silent 130 (the signal test's run
    that exited 130 without a word)."""
    run = subprocess.run(
        [sys.executable, "-c", SIGNALLED_AS_IT_PARSES],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 130
    assert run.stdout == ""
    assert run.stderr.startswith("error: interrupted by SIGINT while it ran"), run.stderr
    assert run.stderr.endswith("it resumes where this run stopped)\n"), run.stderr
