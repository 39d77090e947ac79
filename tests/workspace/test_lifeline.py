"""A publishkit killed with SIGKILL (`kill -KILL`, the OOM killer) while its workers convert or
inspect takes them with it: the forkserver, its workers and the resource tracker end at once,
so that a caller reading its output until the end is not left waiting for them."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from publishkit.workspace import lifeline
from tests.studies import repeat_first_session

SESSIONS = 8
EOF_WITHIN = 5.0  # s from the SIGKILL to the end of the caller's pipes


def release(workspace: Path) -> subprocess.Popen[bytes]:
    """`publishkit release --jobs 2` converting and inspecting, its stdout and stderr piped."""
    return subprocess.Popen(
        [sys.executable, "-m", "publishkit", "release", "-w", str(workspace), "--jobs", "2"],
        cwd=workspace,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def seconds_to_eof(process: subprocess.Popen[bytes], limit: float) -> float | None:
    """Read both pipes until each reaches its end; how long that took (None: not within
    `limit`, some process still holds a pipe)."""
    assert process.stdout is not None and process.stderr is not None
    started = time.monotonic()
    with selectors.DefaultSelector() as selector:
        for pipe in (process.stdout, process.stderr):
            os.set_blocking(pipe.fileno(), False)
            selector.register(pipe, selectors.EVENT_READ)
        while selector.get_map():
            left = limit - (time.monotonic() - started)
            if left <= 0:
                return None
            for key, _ in selector.select(left):
                if not os.read(key.fd, 65536):
                    selector.unregister(key.fileobj)
    return time.monotonic() - started


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's parent-death signal")
@pytest.mark.parametrize(
    "stage, busy",
    [
        ("convert", lambda ws: any((ws / "nwb").glob("*.nwb*"))),  # its first file, or part
        ("inspect", lambda ws: (ws / "nwb_files.csv").exists()),  # written as convert ends
    ],
)
def test_a_release_killed_mid_stage_leaves_no_process_holding_its_output(
    cli, tmp_path: Path, stage: str, busy: Callable[[Path], bool]
) -> None:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    repeat_first_session(workspace, SESSIONS)
    run = release(workspace)
    deadline = time.monotonic() + 120
    while not (busy(workspace) and len(descendants(run.pid)) >= 3):  # tracker, server, a worker
        assert run.poll() is None, f"the release ended (exit {run.returncode}) before {stage}"
        assert time.monotonic() < deadline, f"no {stage} under way within 120 s"
        time.sleep(0.01)
    if stage == "inspect":
        time.sleep(0.3)  # the inspection's workers under way
    children = descendants(run.pid)
    named = {p.pid: " ".join(p.cmdline())[:120] for p in children}
    run.send_signal(signal.SIGKILL)
    took = seconds_to_eof(run, EOF_WITHIN)
    run.wait(timeout=10)
    _, alive = psutil.wait_procs(children, timeout=EOF_WITHIN)
    for process in alive:
        process.kill()  # not left running after a failure
    assert run.returncode == -signal.SIGKILL, f"the release had ended before the kill ({stage})"
    if stage == "convert":  # the files table is written as convert ends
        assert not (workspace / "nwb_files.csv").exists(), "the kill came after convert"
    assert alive == [], f"left running: {[named[p.pid] for p in alive]}"
    assert took is not None, f"the pipes were still open {EOF_WITHIN} s after the kill"


def test_importing_the_lifeline_outside_a_forkserver_changes_nothing() -> None:
    """Only the forkserver's import arms it: a test or a tool importing the module keeps
    its process's own fate."""
    assert not lifeline.in_forkserver()
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ctypes, publishkit.workspace.lifeline; v = ctypes.c_int();"
            "ctypes.CDLL(None).prctl(2, ctypes.byref(v), 0, 0, 0); print(v.value)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert probe.stdout.strip() == "0"  # PR_GET_PDEATHSIG: none


# A pool whose worker fails before it is set up, as one forked while publishkit exits does (the
# parent's semaphores are gone): here its start-up arguments cannot be unpickled.
FAILS_TO_START = """
import os, sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from publishkit.workspace.executors import ProcessExecutor, warm_forkserver
from publishkit.workspace.lifeline import worker_started


class FailsToLoad:
    def __reduce__(self):
        return (int, ("not a number",))


if __name__ == "__main__":
    said = dict(ProcessExecutor(1).map_unordered(os.write, [2], b"a worker says so\\n"))
    assert said == {2: 17}, said
    pool = ProcessPoolExecutor(
        1, mp_context=warm_forkserver(), initializer=worker_started, initargs=(FailsToLoad(),)
    )
    try:
        pool.submit(len, "x").result()
    except BrokenProcessPool:
        print("broken pool", file=sys.stderr)
"""


def test_a_worker_is_quiet_until_set_up_then_speaks_on_the_callers_stderr(
    tmp_path: Path,
) -> None:
    """No traceback of a worker that failed to start after publishkit's last line (the signal
    test's run: FileNotFoundError from SemLock._rebuild); a worker's own output still shows."""
    (tmp_path / "fails_to_start.py").write_text(FAILS_TO_START)
    run = subprocess.run(
        [sys.executable, str(tmp_path / "fails_to_start.py")],
        env={**os.environ, "PYTHONPATH": str(Path(lifeline.__file__).parents[2])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == "a worker says so\nbroken pool\n"
