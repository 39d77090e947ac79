"""How long-running core functions report progress without printing anything themselves."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Called with a task's description, how much was just done, and the task's total."""

    def __call__(self, task: str, advance: int, total: int) -> None: ...


def no_progress(task: str, advance: int, total: int) -> None:
    """The default sink: progress goes nowhere."""
