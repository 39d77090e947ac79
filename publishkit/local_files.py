"""Two file operations every stage needs: a path as the user sees it, and a file put in place
whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
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


@contextlib.contextmanager
def put_in_place(target: Path, *, racing: bool = False) -> Iterator[Path]:
    """A hidden partial path beside `target` for the block to write; when the block ends
    without an error the partial replaces `target` in one rename. Either way no partial
    outlives the block, and `target` is never half-written. The partial is `.NAME.part`, so the
    next attempt removes what a killed one left; `racing`: several writers may put the same
    content at once (threads, worker processes), each with a partial of its own."""
    target.parent.mkdir(parents=True, exist_ok=True)
    token = f".{secrets.token_hex(6)}" if racing else ""
    partial = target.with_name(f".{target.name}{token}.part")
    partial.unlink(missing_ok=True)
    try:
        yield partial
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
