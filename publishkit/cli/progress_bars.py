"""Progress on stderr: rich bars on a terminal; elsewhere (CI logs, a pipe) one plain line per
running task at least every `every` seconds, so that a long stage is never silent. Files are
counted as files and bytes as bytes (`publishkit.progress.unit`); a task run again with another
total (hashing for the inspection, then for the upload) counts from zero again."""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.progress import BarColumn, Progress, ProgressColumn, TaskID, TextColumn
from rich.text import Text

from publishkit.cli.consoles import err
from publishkit.progress import unit

EVERY = 10.0  # seconds between plain progress lines without a terminal


def amount(task: str, completed: float, total: float | None) -> str:
    """`12/30 files`, `1.5/3.0 kB`."""
    done, whole = int(completed), int(total or 0)
    kind = unit(task)
    if kind == "bytes":
        # rich's DownloadColumn: both in the unit of the total
        size, suffix = _scale(whole)
        return f"{done / size:.1f}/{whole / size:.1f} {suffix}"
    return f"{done}/{whole}" + (f" {kind}" if kind else "")


def _scale(total: int) -> tuple[int, str]:
    for size, suffix in ((10**9, "GB"), (10**6, "MB"), (10**3, "kB")):
        if total >= size:
            return size, suffix
    return 1, "bytes"


class _Amount(ProgressColumn):
    def render(self, task: Any) -> Text:
        return Text(amount(task.description, task.completed, task.total), style="progress.download")


class Bars:
    """A rich progress bar per task description, on stderr, only on a terminal; without one,
    a plain line per unfinished task every `every` seconds. Nothing when not `enabled`."""

    def __init__(self, enabled: bool, *, every: float = EVERY) -> None:
        self._terminal = enabled and err.is_terminal
        self._plain = enabled and not err.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _Amount(),
            console=err,
            transient=True,
            disable=not self._terminal,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._every = every
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, task: str, advance: int, total: int) -> None:
        with self._lock:
            if task not in self._tasks:
                self._tasks[task] = self._progress.add_task(task, total=total)
            else:
                known = self._progress.tasks[self._tasks[task]]
                if known.total != total or known.finished:  # a new pass of the task
                    self._progress.reset(self._tasks[task], total=total, completed=0)
            self._progress.update(self._tasks[task], advance=advance)

    def _lines(self, started: float) -> list[str]:
        """Each unfinished task's count; with none (a stage that reports no progress yet),
        that the command is still at work."""
        with self._lock:
            running = [
                f"{t.description} {amount(t.description, t.completed, t.total)}"
                for t in self._progress.tasks
                if not t.finished
            ]
        return running or [f"still working ({time.monotonic() - started:.0f} s)"]

    def _tick(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self._every):
            for line in self._lines(started):
                err.print(line, markup=False, highlight=False)

    def __enter__(self) -> Bars:
        self._progress.start()
        if self._plain:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        self._progress.stop()
