"""Two file operations every stage needs: a path as the user sees it, and a file put in place
whole or not at all (the one atomic writer: `put_in_place` for a block that writes a path,
`write_atomic` for bytes)."""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path


def shown(path: Path, root: Path | None) -> str:
    """`path` relative to `root` (POSIX separators) when it lies under it, else as given."""
    if root is not None:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


class FolderSyncs:
    """Folders that gained a name by a rename, each synced once for many files (thread-safe):
    many files put in place at once each have their bytes synced before their rename, so no
    name ever shows a torn file, and each folder is synced once by `sync` for all its new
    names (a power loss before then may lose a name, never expose a truncated file), not once
    a file. Whatever records a file as placed comes after `sync`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._folders: set[Path] = set()

    def add(self, folder: Path) -> None:
        """`folder` gained a name: sync it with the next `sync`."""
        with self._lock:
            self._folders.add(folder)

    def sync(self) -> None:
        """Sync each folder added since the last call, once."""
        with self._lock:
            folders, self._folders = self._folders, set()
        for folder in sorted(folders):
            _sync(folder)


@contextlib.contextmanager
def put_in_place(
    target: Path,
    *,
    racing: bool = False,
    durable: bool = True,
    folders: FolderSyncs | None = None,
) -> Iterator[Path]:
    """A hidden partial path beside `target` for the block to write; when the block ends
    without an error the partial replaces `target` in one rename. Either way no partial
    outlives the block, and `target` is never half-written. The partial is `.NAME.part`, so the
    next attempt removes what a killed one left; `racing`: several writers may put the same
    content at once (threads, worker processes), each with a partial of its own. The partial is
    synced to disk before the rename, and the folder after it (unless not `durable`: a cache,
    whose file a crash may leave torn because its reader builds a torn one again); with
    `folders`, the folder is synced later, with others (`FolderSyncs`)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    token = f".{secrets.token_hex(6)}" if racing else ""
    partial = target.with_name(f".{target.name}{token}.part")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        settle(partial, target, durable=durable, folders=folders)
    finally:
        partial.unlink(missing_ok=True)


def write_atomic(path: Path, data: str | bytes, *, durable: bool = True) -> None:
    """`data` (text in UTF-8) as the whole of `path`, put in place by `put_in_place` (several
    writers of one path at once each write a partial of their own). The file gets the mode a
    plain create gets: the kernel applies the process's umask to 0o666, which is never changed
    (os.umask would change it for every thread). `durable`: as `put_in_place` says."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with put_in_place(path, racing=True, durable=durable) as partial:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)


def settle(
    partial: Path, target: Path, *, durable: bool = True, folders: FolderSyncs | None = None
) -> None:
    """A whole `partial` becomes `target` in one rename, durably: the partial synced to disk
    before the rename, the folder after it (or with `folders`, later, once for many files).
    Every file publishkit puts in place gets there through this (a fetch resumed across runs
    keeps its partial until then). Not `durable`: renamed only (a cache's file, ~10 ms a file
    less)."""
    if durable:
        _sync(partial)
    os.replace(partial, target)
    if not durable:
        return
    if folders is None:
        _sync(target.parent)
    else:
        folders.add(target.parent)


def _sync(path: Path) -> None:
    """What was written to `path` (a file, or a folder's entries) on disk before it counts: a
    rename after a crash must not expose an empty file. A symlink's target is not ours to sync."""
    if path.is_symlink():
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
