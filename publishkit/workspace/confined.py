"""The one check that a path publishkit reads or writes is inside the workspace.

Nothing outside the workspace's real path is read or written by any stage: a path that is, or
passes through, a symlink leading outside is refused, and so is an absolute path or one that
climbs out with `..`. A symlink that stays inside the workspace is allowed. The tables and data
files a release publishes, the sessions table and each row's source files, convert's output
folder and files table, and the dandiset folder are all checked here.
"""

from __future__ import annotations

import stat
import unicodedata
from pathlib import Path

from publishkit.errors import WorkspaceError

# Control, format (zero-width) and line/paragraph separator characters: never meant in a path.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}
LINK_HINT = (
    "copy the file into the workspace instead of linking to it "
    "(symlinks that stay inside the workspace are fine)"
)


def inside(
    root: Path, path: Path, what: str, hint: str, real_paths: RealPaths | None = None
) -> Path:
    """The real path of `path`; a WorkspaceError when it, or a symlink on its way, leads outside
    the workspace `root` (which is already resolved).

    Callers hand on the real path, so a link swapped after this check cannot redirect what is
    read. What remains is a race no check here can close: the file, or a folder on its real
    path, replaced by a link between this check and the upload reading it; only someone who can
    already write to the workspace can do that."""
    real = resolved(path, what, real_paths)
    if real.is_relative_to(root):
        return real
    link = _escaping_link(root, path, what)
    if link is not None:
        raise WorkspaceError(
            f"{what}: {show(link)} is a symlink to {show(resolved(link, what))}, outside the "
            f"workspace {show(root)}",
            hint=LINK_HINT,
        )
    raise WorkspaceError(f"{what}: {show(path)} is outside the workspace {show(root)}", hint=hint)


class RealPaths:
    """Paths resolved as `Path.resolve` does, each folder once: a file that is not a symlink is
    its folder's real path and its name (one lstat), where `resolve` looks at every part of
    every path (~0.1 ms a file). A folder replaced by a link after it was resolved is the race
    `inside` describes."""

    def __init__(self) -> None:
        self._folders: dict[Path, Path] = {}

    def __call__(self, path: Path) -> Path:
        if path.name in ("", "..") or _is_link(path):
            return path.resolve()
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        return folder / path.name


def _escaping_link(root: Path, path: Path, what: str) -> Path | None:
    """The first symlink along `path` (below `root`) whose target is outside `root`."""
    if not path.is_relative_to(root):
        return None
    step = root
    for part in path.relative_to(root).parts:
        step = step / part
        if _is_link(step) and not resolved(step, what).is_relative_to(root):
            return step
    return None


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(path.lstat().st_mode)
    except OSError:
        return False


def resolved(path: Path, what: str, real_paths: RealPaths | None = None) -> Path:
    """`path` with every symlink resolved (by `real_paths`, when given); a WorkspaceError for a
    loop or an unreadable path."""
    try:
        return real_paths(path) if real_paths is not None else path.resolve()
    except RuntimeError as exc:  # a symlink loop, on Python 3.11
        problem, hint = str(exc), "fix or remove the symlink loop"
    except (OSError, ValueError) as exc:
        problem, hint = getattr(exc, "strerror", None) or str(exc), "fix the path"
    raise WorkspaceError(f"{what}: {show(path)} cannot be resolved ({problem})", hint=hint)


def is_regular_file(path: Path, what: str) -> bool | None:
    """Whether `path` is a regular file; None when nothing is there."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise WorkspaceError(
            f"{what}: {show(path)} cannot be read ({exc.strerror})",
            hint="check the path and its permissions",
        ) from None


def show(path: Path) -> str:
    """A path for a one-line message: as it is, or quoted when it holds a control character."""
    text = str(path)
    return text if invisible_at(text) is None else repr(text)


def invisible_at(value: str) -> int | None:
    """The index of the first control, zero-width or line-separator character, if any."""
    return next((i for i, c in enumerate(value) if unicodedata.category(c) in _INVISIBLE), None)
