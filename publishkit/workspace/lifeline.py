"""Worker processes die with the publishkit process that started them.

Imported first in the forkserver (`executors.warm_forkserver` preloads it): the forkserver
gets SIGKILL when the publishkit process that spawned it dies, and so does each worker it
forks when the forkserver dies. Without this, a publishkit killed with SIGKILL leaves the
forkserver, its workers (idle ones wait on their task queue forever) and the resource tracker
(which waits for the workers) alive, all holding the caller's stdout and stderr: a wrapper
reading the output until its end hangs. Linux's parent-death signal (prctl
PR_SET_PDEATHSIG); elsewhere nothing changes.

The parent-death signal follows the thread that spawned the process: the forkserver is
started from the main thread (`warm_forkserver`, called where an executor is made).

A worker also starts quiet: its stderr goes nowhere until it is set up (`worker_started`, the
pools' initializer). A worker forked as publishkit ends (Ctrl-C while the pool starts) finds
the parent's semaphores gone and fails before it runs anything; Python would print that
failure's traceback on the caller's stderr after publishkit's last line. The parent sees such a
worker as a broken pool all the same.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
FORKSERVER = "from multiprocessing.forkserver import main"


def die_with_parent(parent: int | None = None) -> None:
    """From now on this process gets SIGKILL when its parent dies; when `parent` (its pid) is
    already gone, exit now (the signal would never come)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # refused (a sandbox without prctl): the processes outlive a SIGKILL, as before
    if parent is not None and os.getppid() != parent:
        os._exit(1)


_STDERR: int | None = None  # a worker's own stderr, kept aside while it starts


def quiet_until_started() -> None:
    """This process's stderr (fd 2) to /dev/null until `worker_started`."""
    global _STDERR
    _STDERR = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)


def worker_started() -> None:
    """The pools' initializer: the worker is set up, its stderr is its own again."""
    global _STDERR
    if _STDERR is not None:
        os.dup2(_STDERR, 2)
        os.close(_STDERR)
        _STDERR = None


def in_forkserver() -> bool:
    """This process is a multiprocessing forkserver (its command line is the one
    `multiprocessing.forkserver` starts it with)."""
    return any(arg.startswith(FORKSERVER) for arg in sys.orig_argv)


def _forkserver_and_its_children_die_with_their_parents() -> None:
    server = os.getpid()
    die_with_parent()  # the forkserver, with the publishkit process that spawned it
    os.register_at_fork(after_in_child=lambda: _each_worker(server))


def _each_worker(server: int) -> None:
    die_with_parent(server)
    quiet_until_started()


if in_forkserver():  # imported anywhere else (a test, the docs), this module does nothing
    _forkserver_and_its_children_die_with_their_parents()
