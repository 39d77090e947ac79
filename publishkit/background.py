"""Work started in a thread of its own while the caller goes on: a read a run may not wait for
(the site's index drawn during the upload) or one whose answer is on its way while the caller
prepares what follows (a LINDI index's GET while pynwb gets ready)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def in_background(name: str, function: Callable[..., T], *args: Any) -> Future[T]:
    """function(*args) in a daemon thread named `name` (one nobody waits for does not hold up
    the exit), its outcome in the future returned: `result()` waits, raising what it raised."""
    future: Future[T] = Future()

    def run() -> None:
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(function(*args))
            except BaseException as exc:  # handed to whoever asks for the result
                future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
