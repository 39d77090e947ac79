"""Choosing where per-file work runs: the dask executor refused cleanly when it cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the publishkit the subprocess imports

# How dask's absence is caused: this program puts a finder first on sys.meta_path that fails
# every import of `dask` and `distributed` (and their submodules) as an uninstalled package
# would, then runs publishkit's command line. The test environment has dask installed.
WITHOUT_DASK = """
import sys
from importlib.abc import MetaPathFinder


class NoDask(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoDask())
from publishkit.cli.app import main

main()
"""


@pytest.mark.parametrize("command", [["convert"], ["release", "--version", "1.0.0"], ["inspect"]])
def test_dask_not_installed_is_one_line_with_the_install_command(
    cli, tmp_path: Path, command: list[str]
) -> None:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    dask = ["--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DASK, *command, *dask, "-w", str(workspace)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: the dask executor needs dask.distributed, which is not installed "
        "(fix: pip install 'publishkit[dask]')\n"
    )
    assert not (workspace / "nwb").exists()  # refused before any row was converted


def _square_or_die(n: int) -> int:
    if n == 3:
        os._exit(1)  # a crash inside a native library, as far as the pool can tell
    return n * n


def test_a_task_that_kills_its_worker_is_the_only_one_reported() -> None:
    """Worker processes: the item whose task takes its worker down is a WorkerCrashed result;
    every other item gets its result once, whatever else was running in the dead pool."""
    from publishkit.workspace.executors import LOCAL, WorkerCrashed, executor_for

    executor = executor_for(LOCAL, 2, 6)
    results = dict(executor.map_unordered(_square_or_die, list(range(6))))
    assert sorted(results) == list(range(6))
    assert isinstance(results.pop(3), WorkerCrashed)
    assert results == {n: n * n for n in (0, 1, 2, 4, 5)}


def test_one_job_or_one_item_runs_here_and_a_cancel_starts_nothing_more() -> None:
    from publishkit.workspace.executors import LOCAL, SerialExecutor, executor_for

    assert isinstance(executor_for(LOCAL, 1, 10), SerialExecutor)
    assert isinstance(executor_for(LOCAL, 4, 1), SerialExecutor)
    # nothing to do (every file cached): no worker, no forkserver importing after the run ends,
    # which held a caller's stdout pipe open for 2 s after an unchanged release
    assert isinstance(executor_for(LOCAL, 2, 0, preload=["json"], in_workers=True), SerialExecutor)
    serial = executor_for(LOCAL, 1, 3)
    seen = []
    for item, _ in serial.map_unordered(abs, [1, 2, 3]):
        seen.append(item)
        serial.cancel()
    assert seen == [1]


def test_threads_run_every_task_pass_failures_on_and_a_cancel_starts_nothing_more() -> None:
    import threading

    from publishkit.workspace.executors import ThreadExecutor

    names: set[str] = set()

    def double(n: int) -> int:
        names.add(threading.current_thread().name)
        return 2 * n

    assert dict(ThreadExecutor(2).map_unordered(double, range(20))) == {n: 2 * n for n in range(20)}
    assert names and all(name.startswith("publishkit") for name in names)

    def fail(n: int) -> int:
        raise ValueError(f"task {n}")

    with pytest.raises(ValueError, match="task"):
        list(ThreadExecutor(2).map_unordered(fail, [1, 2]))

    started: list[int] = []

    def slow(n: int) -> int:
        started.append(n)
        time.sleep(0.1 if n else 0)
        return n

    threads = ThreadExecutor(1)
    results = threads.map_unordered(slow, range(10))
    assert next(results) == (0, 0)
    threads.cancel()
    assert list(results) == []
    assert len(started) <= 3  # the one running as it was cancelled, and the next one at most


def _slow_power(n: int, exponent: int) -> int:
    import time

    time.sleep(0.05)
    return int(n**exponent)


@pytest.mark.parametrize(
    "kind", ["serial", "threads", pytest.param("processes", marks=pytest.mark.slow)]
)
def test_every_executor_keeps_the_protocol(kind: str) -> None:
    """The Executor protocol, executor by executor: fn(item, *args) for each item exactly once,
    each result beside its item; after cancel(), nothing more is yielded and the tasks not
    started are dropped."""
    from publishkit.workspace.executors import (
        Executor,
        ProcessExecutor,
        SerialExecutor,
        ThreadExecutor,
    )

    def make() -> Executor:
        if kind == "threads":
            return ThreadExecutor(2)
        return SerialExecutor() if kind == "serial" else ProcessExecutor(2)

    items = list(range(8))
    results = list(make().map_unordered(_slow_power, items, 3))
    assert sorted(item for item, _ in results) == items  # each once
    assert all(result == item**3 for item, result in results)

    executor = make()
    seen = []
    for item, _ in executor.map_unordered(_slow_power, list(range(40)), 2):
        seen.append(item)
        executor.cancel()
    assert len(seen) == 1
