"""How long-running core functions report progress without printing anything themselves."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called with a task's description, how much was just done, and the task's total; `done`:
    an item of the task that has just finished (a file's path), which a log without a terminal
    shows on a line of its own."""

    def __call__(self, task: str, advance: int, total: int, done: str = "") -> None: ...


def no_progress(task: str, advance: int, total: int, done: str = "") -> None:
    """The default sink: progress goes nowhere."""


BYTE_TASKS = frozenset({"Uploading", "Fetching"})  # counted in bytes
# steps, neither files nor bytes
ITEM_TASKS = frozenset({"DANDI validating the draft", "DANDI publishing"})


def unit(task: str) -> str:
    """What a task counts: "bytes", "" (steps), or "files" (every other task)."""
    return "bytes" if task in BYTE_TASKS else "" if task in ITEM_TASKS else "files"
