"""How a long-running core function stops when its caller is interrupted, without handling
signals itself.

The command line records SIGINT and SIGTERM (`cli.signals`); the core calls the `Interrupt` it
is given at each point where what follows must not happen after an interrupt: before each
stage of a release, between the files it converts or uploads, before a manifest is put. A
KeyboardInterrupt raised by a signal and swallowed somewhere (inside a `__del__`, a weakref
callback, a worker thread) therefore still stops the run at its next check.
"""

from __future__ import annotations

from typing import Protocol


class Interrupt(Protocol):
    """Raises `errors.Interrupted` when the run was asked to stop; `before` names what would
    come next (e.g. "the upload stage"), for the message."""

    def __call__(self, before: str) -> None: ...


def never(before: str) -> None:
    """The default: nothing interrupts the run (the caller handles no signal)."""
