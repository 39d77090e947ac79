"""Python's cyclic garbage collector, paused where a step makes millions of objects and no
cycles (a manifest's entries, a table's rows): it would walk them again and again as they are
made, finding nothing, and double the time of the step."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """The collector paused for the block (used as a decorator too); left as it was found."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
