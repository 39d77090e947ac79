"""Where inspection runs: in this process, or in worker processes forked warm from a forkserver.

`Inspecting` starts the work when it is made and hands results over as they complete. Started
in the background, it lets a release prepare its S3 upload while the files are inspected: the
workers import pynwb, nwbinspector and dandi (most of the cost of inspecting one changed file)
on the other core, and a caller that fails meanwhile cancels what has not started.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from publishkit.inspection.specs import spec_names
from publishkit.inspection.worker import inspect_batch, inspect_path
from publishkit.workspace.executors import (
    LOCAL,
    Executor,
    ExecutorSettings,
    ProcessExecutor,
    WorkerCrashed,
    executor_for,
)

PRELOAD = ["publishkit.inspection.preload"]


class Task(msgspec.Struct, frozen=True):
    """What every file's inspection is given besides its path."""

    config: dict[str, list[str]] | None  # nwbinspector's configuration
    dandi: bool  # run dandi-cli's metadata checks too
    specs_dir: str | None  # where loaded specifications are kept across runs


class Inspecting:
    """The inspection of `todo`, started on construction.

    In this process for one job or one file, unless `background`: then always in workers, fed
    from a thread, so that the caller's own work overlaps with the inspection. Local workers
    get files in batches of one specification each; on a cluster, each file is a task."""

    def __init__(
        self,
        todo: list[Path],
        task: Task,
        jobs: int,
        *,
        background: bool = False,
        executor: ExecutorSettings = LOCAL,
    ):
        self._task = task
        jobs = max(1, jobs)
        self._queue: queue.Queue[tuple[str, Any]] | None = None
        self._executor: Executor
        if executor.dask:
            self._executor = executor_for(executor, jobs, len(todo))
            self._results = self._per_file(todo)
        else:
            self._executor = executor_for(
                executor, jobs, len(todo), preload=PRELOAD, in_workers=background
            )
            # grouping by specification (a read of each file's cached specs) pays off in workers
            in_workers = isinstance(self._executor, ProcessExecutor)
            batches = _batches(todo, jobs) if in_workers else [todo] if todo else []
            self._results = self._in_batches(batches)
        if background and todo:
            self._queue = queue.Queue()
            threading.Thread(target=self._pump, daemon=True, name="inspection").start()

    def results(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """(path, result) for every file of `todo`, as each completes."""
        if self._queue is None:
            yield from self._results
            return
        while True:
            kind, value = self._queue.get()
            if kind == "result":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def cancel(self) -> None:
        """Drop the files not started; those being inspected finish in their workers."""
        self._executor.cancel()

    def _pump(self) -> None:
        assert self._queue is not None
        try:
            for item in self._results:
                self._queue.put(("result", item))
        except BaseException as exc:  # handed to the consumer, which raises it
            self._queue.put(("error", exc))
        else:
            self._queue.put(("done", None))

    def _arguments(self) -> tuple[Any, ...]:
        return (self._task.config, self._task.dandi, self._task.specs_dir)

    def _per_file(self, files: list[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
        by_name = {str(path): path for path in files}
        outcomes = self._executor.map_unordered(inspect_path, list(by_name), *self._arguments())
        for name, outcome in outcomes:
            yield by_name[name], _crashed() if isinstance(outcome, WorkerCrashed) else outcome

    def _in_batches(self, batches: list[list[Path]]) -> Iterator[tuple[Path, dict[str, Any]]]:
        """A batch whose worker died is inspected again file by file, so that the file that
        takes its worker down is the only one reported as unreadable."""
        by_name = {str(p): p for batch in batches for p in batch}
        named = [[str(p) for p in batch] for batch in batches]
        outcomes = self._executor.map_unordered(inspect_batch, named, *self._arguments())
        for batch, outcome in outcomes:
            if isinstance(outcome, WorkerCrashed):
                yield from self._per_file([by_name[name] for name in batch])
                continue
            for name, result in outcome:
                yield by_name[name], result


def _batches(todo: Iterable[Path], jobs: int) -> list[list[Path]]:
    """Files grouped by the specification cached in them, so that a specification used by few
    files is loaded by one worker only; large groups are cut to keep every worker busy."""
    groups: dict[object, list[Path]] = {}
    for path in todo:
        try:
            signature: object = spec_names(str(path))  # its contents are the worker's to read
        except Exception:
            signature = None  # unreadable: the worker reports why
        groups.setdefault(signature, []).append(path)
    count = sum(len(group) for group in groups.values())
    size = max(1, -(-count // (jobs * 4)))
    batches = [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]
    return sorted(batches, key=len, reverse=True)


def _crashed() -> dict[str, Any]:
    """The result of a file whose reading took its worker down."""
    return {
        "identifier": None,
        "readable": False,
        "findings": [
            {
                "message": "the process reading this file crashed",
                "importance": "ERROR",
                "severity": "LOW",
                "check_function_name": "During io.read(), the reading process crashed.",
                "object_type": None,
                "object_name": None,
                "location": None,
                "source": "publishkit",
            }
        ],
    }
