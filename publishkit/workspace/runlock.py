"""One writing run per workspace at a time.

The lock is a POSIX record lock on `.publishkit/run.lock`: the kernel releases it when its
holder exits, however it exits (SIGKILL included), so a dead run never leaves it stuck. Record
locks belong to a process, not to its forked workers, and the file says who holds it (pid,
command, since when) for the message a second run shows. A run that is already inside the
lock (the release pipeline calling its stages) enters again without waiting.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from publishkit.errors import PublishkitError

LOCK_FILE = "run.lock"
POLL_SECONDS = 0.2

_held: dict[str, list[int]] = {}  # lock path -> [fd, depth], for this process
_guard = threading.Lock()


class WorkspaceBusy(PublishkitError):
    """Another publishkit run is writing to the same workspace."""


@contextmanager
def exclusive_run(state_dir: Path, command: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the workspace's run lock for the block; WorkspaceBusy when another process holds
    it, unless `wait`, which waits for it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = str((state_dir / LOCK_FILE).resolve())
    with _guard:
        entry = _held.get(path)
        if entry is not None:
            entry[1] += 1
    if entry is None:
        fd = _acquire(path, command, wait)
        with _guard:
            _held[path] = [fd, 1]
    try:
        yield
    finally:
        with _guard:
            entry = _held[path]
            entry[1] -= 1
            if entry[1] == 0:
                del _held[path]
                os.close(entry[0])  # releases the lock


def _acquire(path: str, command: str, wait: bool) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if not wait:
                    raise _busy(path, fd) from None
                time.sleep(POLL_SECONDS)
        since = datetime.now(UTC).replace(microsecond=0).isoformat()
        holder = json.dumps({"pid": os.getpid(), "command": command, "since": since})
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _busy(path: str, fd: int) -> WorkspaceBusy:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        holder = {}
    who = (
        f"publishkit {holder.get('command', 'run')} (pid {holder.get('pid', '?')}, since "
        f"{holder.get('since', '?')})"
    )
    workspace = Path(path).parent.parent
    return WorkspaceBusy(
        f"{workspace}: another {who} is writing to this workspace; one run at a time",
        hint="wait for it to finish, or pass --wait to start when it has",
    )
