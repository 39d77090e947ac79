"""Whether a local path can be written, checked before a command's work, and what an OSError
from writing one means: one line naming the path and the fix, never a traceback."""

from __future__ import annotations

import errno
import os
import sqlite3
import tempfile
from pathlib import Path

from publishkit.errors import CannotWrite, DiskFull

_FULL = {errno.ENOSPC, errno.EDQUOT}
_FIXES = {
    errno.EROFS: "the file system is read-only: choose a folder on a writable disk",
    errno.EACCES: "choose a folder you can write to, or make it writable (chmod u+w)",
    errno.EPERM: "choose a folder you can write to, or make it writable (chmod u+w; chattr -i "
    "if it is immutable)",
    errno.EISDIR: "it is a folder: name a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
}
_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"


def write_error(exc: OSError | sqlite3.Error, path: Path | str, what: str) -> CannotWrite:
    """The one-line error for `exc`, raised while writing `what` (e.g. "--output") at `path`."""
    if isinstance(exc, sqlite3.Error):
        if getattr(exc, "sqlite_errorcode", None) == _SQLITE_FULL or "disk is full" in str(exc):
            return DiskFull(
                f"{path}: the disk is full: cannot write {what}",
                hint="free some space on that disk (df -h shows it) and run the command again",
            )
        return CannotWrite(f"{path}: cannot write {what} ({exc})", hint=_FIXES[errno.EACCES])
    where = exc.filename or path
    if exc.errno in _FULL:
        return DiskFull(
            f"{where}: the disk is full: cannot write {what}",
            hint="free some space on that disk (df -h shows it) and run the command again",
        )
    reason = exc.strerror or str(exc)
    return CannotWrite(
        f"{where}: cannot write {what} ({reason})",
        hint=_FIXES.get(exc.errno or 0, "choose another path"),
    )


def check_folder(path: Path, what: str) -> None:
    """A CannotWrite unless `path` is (or can be made) a folder new files can be written in:
    a probe file is made and removed in it, or in its nearest existing parent."""
    if path.exists() and not path.is_dir():
        raise CannotWrite(
            f"{path}: is a file, not a folder: cannot write {what} there",
            hint="choose a folder (it is created if missing)",
        )
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".publishkit-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:  # named as asked for, not as the probe
        raise write_error(OSError(exc.errno, exc.strerror), path, what) from None


def check_file(path: Path, what: str, example: str) -> None:
    """A CannotWrite unless a file can be written at `path`: not a folder, in a folder that
    takes new files. `example`: a file name to suggest inside a folder given instead."""
    if path.is_dir():
        raise CannotWrite(
            f"{path}: is a folder: cannot write {what} there",
            hint=f"name a file, e.g. {path / example}",
        )
    check_folder(path.parent, what)
