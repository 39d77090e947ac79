"""Progress on stderr that fits the size: rich bars on a terminal (bytes, rate and time left
for transfers), and without one (CI logs, pipes) a plain line for a transfer at least every
10 s, and one when it is done (a transfer over in less than 10 s prints nothing)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

BYTE_TASKS = ("Uploading", "Fetching")  # their amounts are bytes; the others count items
LINE_EVERY = 10.0  # seconds between plain progress lines


def _is_bytes(description: str) -> bool:
    return description.startswith(BYTE_TASKS)


class _Amount(ProgressColumn):
    """Bytes done of total and the rate for a transfer; done of total for anything else."""

    def __init__(self) -> None:
        super().__init__()
        self._size, self._speed = DownloadColumn(), TransferSpeedColumn()

    def render(self, task: Task) -> Text:
        if _is_bytes(str(task.description)):
            return Text.assemble(self._size.render(task), " ", self._speed.render(task))
        return Text(f"{task.completed:.0f}/{task.total or 0:.0f}")


@dataclass
class _Tally:
    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    said_done: bool = False
    spoken: bool = False  # a line was printed for it: its end gets one too


class Bars:
    """A progress bar per task description on stderr; plain lines when it is not a terminal."""

    def __init__(self, enabled: bool, console: Console) -> None:
        self._console = console
        self._terminal = enabled and console.is_terminal
        self._plain = enabled and not console.is_terminal
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            _Amount(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not self._terminal,
        )
        self._tasks: dict[str, TaskID] = {}
        self._tallies: dict[str, _Tally] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def __call__(self, task: str, advance: int, total: int) -> None:
        if self._terminal:
            if task not in self._tasks:
                self._tasks[task] = self._progress.add_task(task, total=total)
            self._progress.update(self._tasks[task], advance=advance)
        if self._plain and _is_bytes(task):
            with self._lock:
                tally = self._tallies.setdefault(task, _Tally(total=total))
                tally.done += advance
                finished = tally.done >= tally.total and not tally.said_done
                tally.said_done = tally.said_done or finished
            if finished and tally.spoken:
                self._say(task, tally)

    def __enter__(self) -> Bars:
        self._progress.start()
        if self._plain:
            self._ticker = threading.Thread(target=self._tick, name="progress", daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)

    def _tick(self) -> None:
        while not self._stop.wait(LINE_EVERY):
            with self._lock:
                running = [(t, x) for t, x in self._tallies.items() if not x.said_done]
            for task, tally in running:
                tally.spoken = True
                self._say(task, tally)

    def _say(self, task: str, tally: _Tally) -> None:
        self._console.print(plain_line(task, tally.done, tally.total, tally.started), markup=False)


def plain_line(task: str, done: int, total: int, started: float) -> str:
    """`Uploading: 512.0 MiB of 1.0 GiB (50%), 38.2 MiB/s, 13 s left`, or for items
    `Hashing: 10 of 40 (25%)`."""
    share = f" ({done / total:.0%})" if total else ""
    if not _is_bytes(task):
        return f"{task}: {done} of {total}{share}"
    seconds = max(time.monotonic() - started, 1e-6)
    rate = done / seconds
    left = f", {(total - done) / rate:.0f} s left" if rate and done < total else ""
    return f"{task}: {size_text(done)} of {size_text(total)}{share}, {size_text(rate)}/s{left}"


def size_text(count: float) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
