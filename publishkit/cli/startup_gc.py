"""The cyclic garbage collector paused while the command line starts up (its imports, for every
command: `pause`, then `resume` as the command starts), and while a release starts up, resumed
before its first write.

A release's start-up (boto3 and botocore imported, botocore's S3 model parsed from its JSON, the
settings, the preflight's reads) makes a few hundred thousand objects that live as long as the
process; meanwhile the collector walks them again and again and finds no garbage: 0.03-0.06 s
of CPU, up to a tenth of a release after one change. So the collector is paused from the
command's start until the core first asks whether to stop (`Interrupt`: before the first stage
runs, after the preflight); then what start-up made is frozen (`gc.freeze`: later collections
never walk it again) and collection resumes for the rest of the run, as usual. Only cycles of
garbage made during start-up are never collected; objects freed by their reference count are
freed as ever.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

from publishkit.interrupts import Interrupt

_PAUSED: list[bool] = []  # the command line's start-up paused the collector


def pause() -> None:
    """Pause the collector while the command line imports what it runs (unless someone else
    paused it already): called first thing."""
    if gc.isenabled():
        gc.disable()
        _PAUSED.append(True)


def resume() -> None:
    """As the command starts: what the command line's start-up made frozen, and the collector
    running again (when `pause` paused it)."""
    if _PAUSED:
        _PAUSED.clear()
        gc.freeze()
        gc.enable()


@contextmanager
def collecting_after_startup(interrupt: Interrupt, *, pause: bool = True) -> Iterator[Interrupt]:
    """`interrupt` as the core calls it, the collector paused until its first call (or the
    end of the block, whichever comes first). A collector someone else paused stays paused.
    Not `pause`: `interrupt` as it is, the collector left running (a release whose preflight
    hashes its files on a Dask cluster, whose client makes garbage cycles as it goes)."""
    if not pause or not gc.isenabled():
        yield interrupt
        return
    gc.disable()
    resumed = False

    def resume() -> None:
        nonlocal resumed
        if not resumed:
            resumed = True
            gc.freeze()
            gc.enable()

    def checked(before: str) -> None:
        resume()
        interrupt(before)

    try:
        yield checked
    finally:
        resume()
