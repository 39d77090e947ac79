"""One piece of work run in a thread of its own while the caller does other things."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


def in_background(work: Callable[[], T]) -> Callable[[], T]:
    """Start `work` in a thread now; the function returned waits for its result (raising what
    it raised). The thread is a daemon: one a caller stops waiting for does not hold up exit."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to the caller, raised there
            future.set_exception(exc)

    threading.Thread(target=run, name="publishkit-background", daemon=True).start()
    return future.result
