"""The partial files a killed fetch left beside its targets (`.NAME.<token>.part`, what
`put_in_place` writes before its rename), removed by the next fetch into the folder.

Only fetch's own: a partial is removed when its name is exactly the one `put_in_place` gives
a partial of NAME and fetch recorded, before writing it, that it meant to place a file at NAME
and never recorded that it did (`fetch_intents`: a fetch killed before then). And only when no
other fetch into the folder is running (its partials are alive): every fetch holds a shared
lock on `.publishkit/fetch.lock` while it runs, and the partials are removed only by one that
got the lock alone. A large file's partial (`.NAME.publishkit-partial`) is not one of these: a
re-run resumes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

from publishkit.workspace.state import PlacedFiles, StateStore

_PARTIAL = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{12}\.part")
LOCK = "fetch.lock"


@contextlib.contextmanager
def fetching(store: StateStore, state_dir: Path) -> Iterator[int]:
    """Held while a fetch runs; first, when no other fetch into the folder holds it, the
    partials killed fetches left are removed. Yields how many were."""
    fd = os.open(state_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        removed = 0
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another fetch is running: its partials are alive
            pass
        except OSError:  # a filesystem without locks (some network mounts): none removed
            yield 0
            return
        else:
            removed = remove_dead_partials(PlacedFiles(store).intended_paths())
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield removed
    finally:
        os.close(fd)  # the lock goes with it


def remove_dead_partials(intended: list[Path]) -> int:
    """Remove the partials of the `intended` paths (each folder listed once); how many."""
    names: dict[Path, set[str]] = defaultdict(set)
    for path in intended:
        names[path.parent].add(path.name)
    removed = 0
    for folder, wanted in names.items():
        try:
            entries = list(os.scandir(folder))
        except OSError:  # gone, or not a folder any more: nothing of ours to remove
            continue
        for entry in entries:
            found = _PARTIAL.fullmatch(entry.name)
            if found is None or found["name"] not in wanted:
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file(follow_symlinks=False):
                    os.unlink(entry.path)
                    removed += 1
    return removed
