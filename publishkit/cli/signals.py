"""SIGINT and SIGTERM, recorded for the command's duration and checked by the core.

`main()` installs the handler before the command's imports (recording only, until they are
done: a command interrupted then does not start). A signal is recorded first, then raised as
KeyboardInterrupt in the main thread, so that a wait or a long computation stops at
once; when that KeyboardInterrupt is swallowed where Python cannot raise it (a `__del__`, a
weakref callback), the record still stops the run at the core's next check
(`publishkit.interrupts`), and Python's report of it ("Exception ignored in ...", a traceback)
is not printed. Once the command is over, a signal is only recorded: the
exit says it was interrupted (130 for SIGINT, 143 for SIGTERM), and a re-run resumes.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from publishkit.errors import Interrupted

HANDLED = (signal.SIGINT, signal.SIGTERM)
RESUMES = "run the same command again: it resumes where this run stopped"


class Signals:
    """The first SIGINT or SIGTERM received since `install`, as the core's `Interrupt`."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raising = False
        self._python_unraisable = sys.unraisablehook
        self.reported = False  # the command's error boundary said the interruption

    def install(self, *, raising: bool = True) -> None:
        """Handle SIGINT and SIGTERM from now on (main thread only, as Python requires);
        `raising`: as KeyboardInterrupt too, else only recorded (while the command's modules
        are imported, where a KeyboardInterrupt would end in a traceback)."""
        self._raising = raising
        for each in HANDLED:
            signal.signal(each, self._handle)
        if sys.unraisablehook is not self._unraisable:
            self._python_unraisable = sys.unraisablehook
            sys.unraisablehook = self._unraisable

    def finished(self) -> None:
        """The command is over: a signal now is recorded, not raised into the exit."""
        self._raising = False

    def ignore(self) -> None:
        """The exit code is decided: from now on SIGINT and SIGTERM are ignored. (Recorded,
        they would change nothing; left to the interpreter, whose exit restores their default
        action, they would kill the process as it ends, with -2 or -15 for its code.)"""
        self._raising = False
        for each in HANDLED:
            signal.signal(each, signal.SIG_IGN)

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM (128 + the signal's number)."""
        return 128 + (self.received or signal.SIGINT)

    def error(self, where: str) -> Interrupted:
        """The one-line error of a run stopped by the signal received, `where` it stopped."""
        name = signal.Signals(self.received or signal.SIGINT).name
        return Interrupted(f"interrupted by {name} {where}", RESUMES, exit_code=self.exit_code)

    def __call__(self, before: str) -> None:
        """Raise Interrupted when a signal was received: nothing of `before` starts."""
        if self.received is not None:
            raise self.error(f"before {before}; nothing more was written")

    def _unraisable(self, unraisable: Any) -> None:
        """Python's report of an exception it could not raise, except the KeyboardInterrupt
        that `_handle` raised: that one is recorded, and the run stops at its next check."""
        if isinstance(unraisable.exc_value, KeyboardInterrupt) and self.received is not None:
            return
        self._python_unraisable(unraisable)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum
        if self._raising:
            raise KeyboardInterrupt


SIGNALS = Signals()
