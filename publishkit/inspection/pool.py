"""Where inspection runs: in this process, or in worker processes forked warm from a forkserver.

`Inspecting` starts the work when it is made and hands results over as they complete. Started
in the background, it lets a release prepare its S3 upload while the files are inspected: the
workers import pynwb, nwbinspector and dandi (most of the cost of inspecting one changed file)
on the other core, and a caller that fails meanwhile cancels what has not started.
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver
from pathlib import Path
from typing import Any

from publishkit.inspection.worker import inspect_batch, inspect_path, spec_signature
from publishkit.workspace.executors import LOCAL, ExecutorSettings, WorkerCrashed, on_dask

PRELOAD = ["publishkit.inspection.preload"]


@dataclass(frozen=True)
class Task:
    """What every file's inspection is given besides its path."""

    config: dict[str, list[str]] | None  # nwbinspector's configuration
    dandi: bool  # run dandi-cli's metadata checks too
    specs_dir: str | None  # where loaded specifications are kept across runs


class Inspecting:
    """The inspection of `todo`, started on construction.

    In this process for one job or one file, unless `background`: then always in workers, fed
    from a thread, so that the caller's own work overlaps with the inspection."""

    def __init__(
        self,
        todo: list[Path],
        task: Task,
        jobs: int,
        *,
        background: bool = False,
        executor: ExecutorSettings = LOCAL,
    ):
        self._todo = todo
        self._task = task
        self._jobs = max(1, jobs)
        self._scheduler = executor.scheduler if executor.dask else None
        self._pool: ProcessPoolExecutor | None = None
        self._cancelled = threading.Event()
        self._queue: queue.Queue[tuple[str, Any]] | None = None
        in_process = not background and (self._jobs == 1 or len(todo) <= 1)
        self._results: Iterator[tuple[Path, dict[str, Any]]] = iter(())
        if todo and self._scheduler:
            self._results = self._on_dask(self._scheduler)
        elif todo:
            self._results = self._in_process() if in_process else self._in_workers()
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
        self._cancelled.set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _pump(self) -> None:
        assert self._queue is not None
        try:
            for item in self._results:
                self._queue.put(("result", item))
        except BaseException as exc:  # handed to the consumer, which raises it
            self._queue.put(("error", exc))
        else:
            self._queue.put(("done", None))

    def _in_process(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        for path in self._todo:
            yield path, inspect_path(str(path), **self._task.__dict__)

    def _on_dask(self, scheduler: str) -> Iterator[tuple[Path, dict[str, Any]]]:
        """One task per file: each worker keeps the specifications it loaded for the next."""
        by_name = {str(path): path for path in self._todo}
        task = self._task
        arguments = (task.config, task.dandi, task.specs_dir)
        for name, outcome in on_dask(inspect_path, list(by_name), scheduler, *arguments):
            if self._cancelled.is_set():
                return
            yield by_name[name], _crashed() if isinstance(outcome, WorkerCrashed) else outcome

    def _in_workers(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        context = start_forkserver()
        by_name = {str(path): path for path in self._todo}
        remaining = set(self._todo)
        batches = _batches(self._todo, self._jobs)
        try:
            with ProcessPoolExecutor(min(self._jobs, len(batches)), mp_context=context) as pool:
                self._pool = pool
                futures = [
                    pool.submit(inspect_batch, [str(p) for p in batch], **self._task.__dict__)
                    for batch in batches
                ]
                for future in as_completed(futures):
                    if self._cancelled.is_set():
                        return
                    for name, result in future.result():
                        remaining.discard(by_name[name])
                        yield by_name[name], result
        except BrokenProcessPool:
            # A worker died (e.g. a crash inside HDF5). Run the rest alone, one per pool, so
            # the file that kills its worker is the only one reported as unreadable.
            for path in sorted(remaining):
                if self._cancelled.is_set():
                    return
                yield path, _isolated(path, self._task, context)


def start_forkserver() -> Any:
    """The process workers fork from, warm: it imports pynwb, nwbinspector and dandi once, in
    the background, from the moment it is started (at once if it is running already)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    forkserver.ensure_running()
    return context


def _batches(todo: Iterable[Path], jobs: int) -> list[list[Path]]:
    """Files grouped by the specification cached in them, so that a specification used by few
    files is loaded by one worker only; large groups are cut to keep every worker busy."""
    groups: dict[str | None, list[Path]] = {}
    for path in todo:
        try:
            signature = spec_signature(str(path))
        except Exception:
            signature = None  # unreadable: the worker reports why
        groups.setdefault(signature, []).append(path)
    count = sum(len(group) for group in groups.values())
    size = max(1, -(-count // (jobs * 4)))
    batches = [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]
    return sorted(batches, key=len, reverse=True)


def _isolated(path: Path, task: Task, context: Any) -> dict[str, Any]:
    try:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            return pool.submit(inspect_path, str(path), **task.__dict__).result()
    except BrokenProcessPool:
        return _crashed()


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
