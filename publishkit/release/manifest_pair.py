"""Two manifest files read for `publishkit notes`, side by side: OLD in a child process forked
for it while this process reads NEW (each read is the decode and every check, ~0.5 s per
100,000 entries: two cores read both in the time of one). The child sends back what the
comparison needs and no more: each entry's path and file_hash, then the entries of OLD that NEW
does not list as they are. The comparison looks at only those (`ManifestPair.compared`); the
checks, their refusals (OLD's first) and the notes are those of reading both here."""

from __future__ import annotations

import gc
import os
import pickle
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from itertools import compress
from operator import itemgetter, not_
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from publishkit.collector import paused_gc
from publishkit.errors import ProcessDied, PublishkitError
from publishkit.formats import manifest
from publishkit.formats.comparison import Comparison, compare_manifests
from publishkit.workspace.lifeline import die_with_parent

GROUPS = manifest.GROUPS
# OLD's size from which it is read in a child: forking, two pipes and the child's pages cost
# ~10-20 ms, what reading ~3 MB of manifest costs here; from 10 MB (~18,000 entries) on, the
# child saves ~50 ms and more. (A small manifest: the fork would cost more than it saves.)
FORK_FROM_BYTES = 10_000_000
_STOPPING = {signal.SIGINT, signal.SIGTERM}

Fingerprints = dict[str, list[str]]  # per group, each entry's fingerprint, in order


class ManifestPair(msgspec.Struct, frozen=True):
    """OLD and NEW, each read and checked. `old`: OLD's keys, its entries only those NEW does
    not list with the same path and file_hash, and its first entry (where its files are:
    `published_readback.place_of`); `new`: NEW whole."""

    old: dict[str, Any]
    new: dict[str, Any]
    _new_differing: dict[str, Any]  # NEW's keys; its entries OLD does not list as they are

    def compared(self, old_name: str, new_name: str) -> Comparison:
        """`compare_manifests` of OLD and NEW: an entry both list with one path and file_hash
        changes nothing, so only the others are looked at."""
        return compare_manifests(self.old, self._new_differing, old_name, new_name)


def fingerprints(document: dict[str, Any]) -> Fingerprints:
    """Per group, each entry's path and file_hash, what `changes.compare` reads, as one string
    (`path NUL file_hash`: a checked manifest's paths and hashes hold no NUL). Exact, not a
    hash of them: two entries share a fingerprint only when they are the same file, so the
    entries left out of the comparison are exactly those that change nothing."""
    found = {}
    for group in GROUPS:
        entries = list(document[group].values())
        hashes = map(itemgetter("file_hash"), entries)
        pairs = zip(manifest.entry_relpaths(entries), hashes, strict=True)
        found[group] = list(map("\0".join, pairs))
    return found


def read_pair(old: Path, new: Path) -> ManifestPair:
    """OLD and NEW read and checked (`manifest.load`), OLD in a child process when it has
    FORK_FROM_BYTES or more and this process may fork; a refusal is `manifest.load`'s, OLD's
    when both are refused."""
    with paused_gc():  # the entries are a dict each, and no cycle
        if not _may_fork(old, new):
            return paired(manifest.load(old), manifest.load(new))
        return _read_beside(old, new)


def _read_beside(old: Path, new: Path) -> ManifestPair:
    """OLD read in a child while NEW is read here; then each cuts its own manifest, at once."""
    with _child_reading(old) as child:
        try:
            new_doc = manifest.load(new)
        except PublishkitError:
            with suppress(ProcessDied):
                child.fingerprints()  # OLD's refusal first, as when OLD is read first
            raise
        new_prints = fingerprints(new_doc)
        head, old_prints = child.fingerprints()
        child.ask(new_prints)  # the child cuts OLD meanwhile
        new_cut = _cut(new_doc, new_prints, old_prints, _first(old_prints))
        old_cut = head | child.entries()
    return ManifestPair(old_cut, new_doc, new_cut)


def paired(old: dict[str, Any], new: dict[str, Any]) -> ManifestPair:
    """Two manifests read (and checked) in this process, paired."""
    old_prints, new_prints = fingerprints(old), fingerprints(new)
    first = _first(old_prints)
    old_cut = _cut(old, old_prints, new_prints, first)
    return ManifestPair(old_cut, new, _cut(new, new_prints, old_prints, first))


def _first(prints: Fingerprints) -> tuple[str, str] | None:
    """The group and fingerprint of a manifest's first entry (metadata tables first)."""
    return next(((group, prints[group][0]) for group in GROUPS if prints[group]), None)


def _cut(
    document: dict[str, Any],
    prints: Fingerprints,
    others: Fingerprints,
    first: tuple[str, str] | None,
) -> dict[str, Any]:
    """`document` with only the entries the other manifest does not list as they are, and
    those as OLD's `first` is, in order: the cut OLD starts with its first entry (a reader of
    it finds its files there), and the comparison of the cuts finds that entry unchanged when
    it is."""
    cut = dict(document)
    for group in GROUPS:
        theirs = set(others[group])
        if first is not None and first[0] == group:
            theirs.discard(first[1])
        kept = map(not_, map(theirs.__contains__, prints[group]))
        cut[group] = dict(compress(document[group].items(), kept))
    return cut


def _may_fork(old: Path, new: Path) -> bool:
    """Whether OLD is read in a child: it is that large, both files are there (else reading
    both here says what is wrong), and no other thread runs (a fork copies the locks other
    threads hold, never released in the child)."""
    try:
        large = old.stat().st_size >= FORK_FROM_BYTES and new.is_file() and old.is_file()
    except OSError:
        return False
    return large and hasattr(os, "fork") and threading.active_count() == 1


class _Child:
    """The child reading OLD, as this process talks to it."""

    def __init__(self, old: Path, pid: int, answers: BinaryIO, asks: BinaryIO) -> None:
        self.old, self.pid, self._answers, self._asks = old, pid, answers, asks
        self._read: tuple[dict[str, Any], Fingerprints] | None = None

    def fingerprints(self) -> tuple[dict[str, Any], Fingerprints]:
        """OLD's keys but its entries, and its fingerprints; OLD's refusal raised."""
        if self._read is None:
            self._read = self._answer()
        return self._read

    def ask(self, prints: Fingerprints) -> None:
        """Send NEW's fingerprints: the child cuts OLD by them."""
        try:
            pickle.dump(prints, self._asks, protocol=pickle.HIGHEST_PROTOCOL)
            self._asks.flush()
        except OSError:  # (a broken pipe: not the CLI's reader gone, but the child)
            raise self._died() from None

    def entries(self) -> dict[str, dict[str, Any]]:
        """Per group, OLD's entries NEW does not list as they are, and its first, in order."""
        found: dict[str, dict[str, Any]] = self._answer()
        return found

    def _answer(self) -> Any:
        try:
            kind, value = pickle.load(self._answers)
        except (EOFError, OSError, pickle.UnpicklingError):
            raise self._died() from None
        if kind == "raised":
            raise value
        return value

    def _died(self) -> ProcessDied:
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        if os.WIFSIGNALED(status):
            how = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            how = f"exit status {os.waitstatus_to_exitcode(status)}"
        return ProcessDied(
            f"{self.old}: the process reading it died before it answered ({how})",
            hint="run the command again; if it dies again, free some memory (each manifest "
            "is read by a process of its own)",
        )

    def end(self) -> None:
        """The child stopped (it is done, or no longer needed) and reaped."""
        self._answers.close()
        with suppress(OSError):  # what is left unsent when the child is gone
            self._asks.close()
        if self.pid:
            with suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)


@contextmanager
def _child_reading(old: Path) -> Iterator[_Child]:
    """A child forked to read OLD; stopped and reaped on the way out, whatever happens.

    SIGINT and SIGTERM are held from before the fork until the child is in hand: Ctrl-C raises
    KeyboardInterrupt where it lands, and landing between the fork and the `try` that ends the
    child would leave it running (and holding the command's stdout and stderr) after the
    command exits. Held, the signal is raised as the `try` starts."""
    parent = os.getpid()
    answers_in, answers_out = os.pipe()
    asks_in, asks_out = os.pipe()
    held, pid = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPPING), 0
    try:
        pid = os.fork()
        if pid == 0:  # the child: it never returns
            os.close(answers_in)
            os.close(asks_out)
            _serve(old, parent, held, os.fdopen(answers_out, "wb"), os.fdopen(asks_in, "rb"))
        os.close(answers_out)
        os.close(asks_in)
        child = _Child(old, pid, os.fdopen(answers_in, "rb"), os.fdopen(asks_out, "wb"))
    except BaseException:  # the fork or the pipes failed: no child left, the signals let go
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        for fd in (answers_in, answers_out, asks_in, asks_out):
            with suppress(OSError):
                os.close(fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        raise
    try:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)  # a signal held is raised here
        yield child
    finally:
        child.end()


def _serve(
    old: Path, parent: int, held: set[int | signal.Signals], answers: BinaryIO, asks: BinaryIO
) -> None:
    """The child: OLD read and checked, its fingerprints sent, then the entries asked for; it
    ends with os._exit (nothing of the parent's is flushed or run twice). `held`: the signal
    mask the parent had before it held SIGINT and SIGTERM for the fork."""
    code = 0
    try:
        for each in _STOPPING:  # Ctrl-C ends it with the parent
            signal.signal(each, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
        die_with_parent(parent)
        gc.disable()  # it ends within the second: no cycle is worth looking for
        try:
            document = manifest.load(old)
        except Exception as exc:
            _send(answers, "raised", exc)
            return
        prints = fingerprints(document)
        _send(answers, "read", ({k: v for k, v in document.items() if k not in GROUPS}, prints))
        new_prints: Fingerprints = pickle.load(asks)
        cut = _cut(document, prints, new_prints, _first(prints))
        found = {group: cut[group] for group in GROUPS}
        _send(answers, "entries", found)
    except BaseException:
        code = 1  # the parent reads the end of the pipe, and says so
    finally:
        os._exit(code)


def _send(answers: BinaryIO, kind: str, value: Any) -> None:
    try:
        data = pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an exception that does not pickle: its words
        error = RuntimeError(f"{type(value).__name__}: {value}")
        data = pickle.dumps(("raised", error), protocol=pickle.HIGHEST_PROTOCOL)
    answers.write(data)
    answers.flush()
