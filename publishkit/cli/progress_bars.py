"""Progress on stderr that fits the size: rich bars on a terminal (transfers with bytes, rate and
time left); elsewhere (CI logs, a pipe) one plain line per running task at least every `every`
seconds, so that a long stage is never silent, and one line per file a transfer finishes.
Files are counted as files and bytes as bytes (`publishkit.progress.unit`); a task run again
with another total (hashing for the inspection, then for the upload) counts from zero again."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from publishkit.cli.consoles import err
from publishkit.progress import unit

if TYPE_CHECKING:  # rich is imported only when progress is shown (not --quiet, not JSON)
    from rich.progress import ProgressColumn, TaskID

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


def size_text(count: float) -> str:
    """`512 B`, `1.5 MiB`, `2.0 GiB`."""
    value = float(count)
    for suffix in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} B" if suffix == "B" else f"{value:.1f} {suffix}"
        value /= 1024
    return f"{value:.1f} GiB"


def _amount_column() -> ProgressColumn:
    """A column of done of total; for a transfer, its rate and the time left too."""
    from rich.progress import ProgressColumn, TimeRemainingColumn, TransferSpeedColumn
    from rich.text import Text

    class Amount(ProgressColumn):
        def __init__(self) -> None:
            super().__init__()
            self._speed, self._left = TransferSpeedColumn(), TimeRemainingColumn()

        def render(self, task: Any) -> Text:
            done = Text(
                amount(task.description, task.completed, task.total), style="progress.download"
            )
            if unit(task.description) != "bytes":
                return done
            return Text.assemble(done, " ", self._speed.render(task), " ", self._left.render(task))

    return Amount()


class Bars:
    """A rich progress bar per task description, on stderr, only on a terminal; without one,
    a plain line per unfinished task every `every` seconds. Nothing when not `enabled`."""

    def __init__(self, enabled: bool, *, every: float = EVERY) -> None:
        self._enabled = enabled  # else nothing is shown, and rich is not imported
        self._terminal = enabled and err.is_terminal
        self._plain = enabled and not err.is_terminal
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                _amount_column(),
                console=err.rich,
                transient=True,
                disable=not self._terminal,
            )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._every = every
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, task: str, advance: int, total: int, done: str = "") -> None:
        if not self._enabled:
            return
        if done and self._plain:
            err.line(f"{task}: {done} done")  # not through rich: see LazyConsole.line
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
                f"{t.description} {amount(t.description, t.completed, t.total)}{_rate(t)}"
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
        if not self._enabled:
            return self
        self._progress.start()
        if self._plain:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._enabled:
            self._progress.stop()


def _rate(task: Any) -> str:
    """`, 38.2 MiB/s, 13 s left` for a transfer under way; '' for anything else."""
    speed = task.speed
    if unit(task.description) != "bytes" or not speed:
        return ""
    left = (task.total or 0) - task.completed
    return f", {size_text(speed)}/s" + (f", {left / speed:.0f} s left" if left > 0 else "")
