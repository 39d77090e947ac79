"""Small tmpfs mounts for the failures a folder of the test's cannot cause: a read-only file
system (root ignores chmod, so chmod 0o555 proves nothing when the tests run as root) and a
full disk. Mounting needs root with CAP_SYS_ADMIN; elsewhere the test is skipped, saying why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def tmpfs(where: Path, *, read_only: bool = False, size: str = "1m") -> Iterator[Path]:
    """A fresh tmpfs at `where` for the block, unmounted after it."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


@contextmanager
def full_disk(where: Path) -> Iterator[Path]:
    """A tmpfs of 256 KiB at `where` whose blocks are all taken by one file, `filler`."""
    with tmpfs(where, size="256k") as root:
        fd = os.open(root / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass  # ENOSPC: full
        finally:
            os.close(fd)
        yield root


@contextmanager
def read_only_view(folder: Path, where: Path) -> Iterator[Path]:
    """`folder` seen read-only at `where` (a bind mount) for the block."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "--bind", str(folder), str(where)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here (needs root): {done.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(where)], check=True)
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)
