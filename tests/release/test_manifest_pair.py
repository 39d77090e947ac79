"""`publishkit notes` reads OLD in a forked child while it reads NEW: the same comparison, notes
and refusals as reading both in one process; a child that dies is a clear error, not a hang.

The forks run in a fresh interpreter (`python -c`): this test process may hold other threads
(the moto server's), and the pair never forks then (nor should a test)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from publishkit.cli.app import app
from publishkit.formats import manifest
from publishkit.formats.comparison import compare_manifests
from publishkit.formats.jsonio import encode
from publishkit.formats.notes import render_markdown
from publishkit.release import manifest_pair
from tests.formats.test_notes import BASE, entry
from tests.formats.test_notes import manifest as document

REPO = Path(__file__).resolve().parents[2]

# Runs `body` in a fresh interpreter where OLD of any size is read in a child, each fork
# counted in the file argv[1] (by the parent, after the fork).
PRELUDE = """
import os, signal, sys, time
from publishkit.formats import manifest
from publishkit.release import manifest_pair
manifest_pair.FORK_FROM_BYTES = 0
_fork, _marks, PARENT = os.fork, sys.argv[1], os.getpid()
def _counted():
    pid = _fork()
    if pid:
        with open(_marks, "a") as marks:
            marks.write("fork\\n")
    return pid
os.fork = _counted
"""
CLI = "from publishkit.cli.app import main\nsys.argv = ['publishkit', *sys.argv[2:]]\nmain()\n"


def forked(tmp_path: Path, body: str, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """`body` run after PRELUDE with `args`, and how many times it forked."""
    marks = tmp_path / "forks"
    marks.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + body, str(marks), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,  # a child that never answers must not hang the parent
    )
    return done, marks.read_text().count("fork") if marks.exists() else 0


def releases(seed: int, files: int = 60) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two releases with every kind of change, files listed twice (two ids, one path), and the
    first entry changed, kept, or gone as it happens."""
    rng = random.Random(seed)
    tables = {f"t{n}": entry(f"meta/t{n}.csv", f"t{n}") for n in range(rng.randint(0, 3))}
    data = {str(n): entry(f"data/f{n}.nwb", f"c{n}") for n in range(files)}
    twice = str(rng.randrange(files))
    data["dup"] = dict(data[twice])
    new_tables = {k: entry(f"meta/{k}.csv", f"{k}x") if rng.random() < 0.5 else e
                  for k, e in tables.items()}  # fmt: skip
    if rng.random() < 0.5:
        new_tables["added"] = entry("meta/added.csv", "added")
    new_data: dict[str, Any] = {}
    for key, item in data.items():
        if key == "dup":  # follows the entry it repeats (NEW lists it once or twice)
            if twice in new_data and rng.random() < 0.7:
                new_data[key] = dict(new_data[twice])
            continue
        roll = rng.random()
        path = item["url"].removeprefix(BASE + "/")
        if roll < 0.1:
            continue  # deleted
        if roll < 0.2:
            new_data[key] = entry(path, f"{key}-changed")
        elif roll < 0.3:
            new_data[key] = {**item, "url": f"{BASE}/moved/{key}.nwb"}  # renamed
        else:
            new_data[key] = item
    new_data.update({f"n{n}": entry(f"data/new{n}.nwb", f"new{n}") for n in range(5)})
    new_data["copy"] = {**data["0"], "url": f"{BASE}/copy.nwb"}  # an old file's content again
    pair = document("1.0.0", tables, data), document("1.1.0", new_tables, new_data)
    for doc in pair:
        manifest.validate(doc, "made")  # what the checks accept (the pair reads no other)
    return pair


@pytest.mark.parametrize("seed", range(40))
def test_the_entries_that_differ_are_compared_as_the_whole_manifests_are(seed: int) -> None:
    old, new = releases(seed)
    pair = manifest_pair.paired(old, new)
    whole = compare_manifests(old, new, "old.json", "new.json")
    assert pair.compared("old.json", "new.json") == whole
    assert whole.changes or seed  # (some seeds change nothing: the others must find changes)
    # the cut OLD keeps its first entry (where its files are), and every entry NEW lacks
    first = next(iter([*old["metadata_files"].items(), *old["data_files"].items()]))
    cut = [*pair.old["metadata_files"].items(), *pair.old["data_files"].items()]
    assert cut[0] == first
    assert pair.new is new and len(cut) <= 1 + len(whole.changes)


def test_a_small_old_manifest_is_read_here(tmp_path: Path, monkeypatch) -> None:
    old, new = (tmp_path / name for name in ("old.json", "new.json"))
    for path, doc in zip((old, new), releases(1), strict=True):
        path.write_bytes(encode(doc))
    assert old.stat().st_size < manifest_pair.FORK_FROM_BYTES

    def no_fork() -> int:
        raise AssertionError("a small manifest forked a child")

    monkeypatch.setattr(os, "fork", no_fork)
    pair = manifest_pair.read_pair(old, new)
    assert pair.compared("a", "b") == compare_manifests(*releases(1), "a", "b")


def test_no_child_is_forked_while_another_thread_runs(tmp_path: Path, monkeypatch) -> None:
    old, new = (tmp_path / name for name in ("old.json", "new.json"))
    for path, doc in zip((old, new), releases(2), strict=True):
        path.write_bytes(encode(doc))
    monkeypatch.setattr(manifest_pair, "FORK_FROM_BYTES", 0)

    def no_fork() -> int:
        raise AssertionError("forked while another thread runs")

    monkeypatch.setattr(os, "fork", no_fork)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        pair = manifest_pair.read_pair(old, new)
    finally:
        stop.set()
        other.join()
    assert pair.compared("a", "b") == compare_manifests(*releases(2), "a", "b")


@pytest.fixture
def written(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    for path, doc in zip((old, new), releases(3, files=300), strict=True):
        manifest.write_local(path, doc)
    return old, new


def test_old_read_in_a_child_gives_the_notes_and_json_of_reading_both_here(
    tmp_path: Path, written: tuple[Path, Path]
) -> None:
    old, new = written
    here = [
        CliRunner().invoke(app, ["notes", str(old), str(new), "--files-only", *fmt])
        for fmt in ([], ["-f", "json"])
    ]
    for result, fmt in zip(here, ([], ["-f", "json"]), strict=True):
        assert result.exit_code == 0, result.output
        done, forks = forked(tmp_path, CLI, "notes", str(old), str(new), "--files-only", *fmt)
        assert (done.returncode, done.stderr, forks) == (0, "", 1)
        assert done.stdout == result.stdout
    assert "data/f" in here[0].stdout and json.loads(here[1].stdout)["changes"]


def test_old_read_in_a_child_is_cut_as_when_read_here(
    tmp_path: Path, written: tuple[Path, Path]
) -> None:
    old, new = written
    body = (
        "import json\n"
        "pair = manifest_pair.read_pair(*map(manifest_pair.Path, sys.argv[2:4]))\n"
        "print(json.dumps([pair.old, pair.compared('a', 'b').as_json()]))\n"
    )
    done, forks = forked(tmp_path, body, str(old), str(new))
    assert (done.returncode, done.stderr, forks) == (0, "", 1)
    here = manifest_pair.paired(manifest.load(old), manifest.load(new))
    assert json.loads(done.stdout) == [here.old, here.compared("a", "b").as_json()]
    assert render_markdown(here.compared("a", "b")).count("\n- ") > 10


BAD_OLD = ("not JSON", "a schema violation", "two contents at one path")


def _bad(kind: str, good: dict[str, Any]) -> bytes:
    doc = json.loads(json.dumps(good))
    if kind == "not JSON":
        return b'{"project_name": "proj", '
    if kind == "a schema violation":
        del doc["data_files"]["7"]["version_id"]
    else:
        doc["data_files"]["8"]["url"] = doc["data_files"]["9"]["url"]
    return json.dumps(doc).encode()


@pytest.mark.parametrize("kind", BAD_OLD)
def test_a_bad_old_manifest_read_in_the_child_is_refused_as_here(
    tmp_path: Path, written: tuple[Path, Path], kind: str
) -> None:
    old, new = written
    old.write_bytes(_bad(kind, manifest.load(old)))
    here = CliRunner().invoke(app, ["notes", str(old), str(new), "--files-only"])
    assert here.exit_code == 2 and here.stderr.startswith(f"error: {old}: ")
    assert here.stderr.count("\n") == 1
    done, forks = forked(tmp_path, CLI, "notes", str(old), str(new), "--files-only")
    assert (done.returncode, done.stderr, done.stdout, forks) == (2, here.stderr, "", 1)
    # both refused: OLD's refusal, as reading OLD first gives it
    new.write_bytes(b"[]")
    done, forks = forked(tmp_path, CLI, "notes", str(old), str(new), "--files-only")
    assert (done.returncode, done.stderr, forks) == (2, here.stderr, 1)


def test_a_bad_new_manifest_is_refused_as_here_while_the_child_reads_old(
    tmp_path: Path, written: tuple[Path, Path]
) -> None:
    old, new = written
    new.write_bytes(_bad("a schema violation", manifest.load(new)))
    here = CliRunner().invoke(app, ["notes", str(old), str(new), "--files-only"])
    assert here.exit_code == 2 and here.stderr.startswith(f"error: {new}: ")
    done, forks = forked(tmp_path, CLI, "notes", str(old), str(new), "--files-only")
    assert (done.returncode, done.stderr, forks) == (2, here.stderr, 1)


# A child that dies cannot be caused for real at a set point: it is made to kill itself (a real
# SIGKILL) or to raise as it starts reading OLD.
DIES = """
_load = manifest.load
def load(path):
    if os.getpid() != PARENT:
        {how}
    return _load(path)
manifest.load = load
"""


def test_a_killed_child_is_a_clear_error_not_a_hang(
    tmp_path: Path, written: tuple[Path, Path]
) -> None:
    old, new = written
    body = DIES.format(how="os.kill(os.getpid(), signal.SIGKILL)") + CLI
    done, forks = forked(tmp_path, body, "notes", str(old), str(new), "--files-only")
    assert (done.returncode, done.stdout, forks) == (1, "", 1)
    assert done.stderr == (
        f"error: {old}: the process reading it died before it answered (killed by SIGKILL) "
        "(fix: run the command again; if it dies again, free some memory (each manifest is "
        "read by a process of its own))\n"
    )
    assert not _children_left(tmp_path)


def test_a_child_that_fails_says_why(tmp_path: Path, written: tuple[Path, Path]) -> None:
    old, new = written
    body = DIES.format(how="raise MemoryError('no memory left')") + CLI
    done, forks = forked(tmp_path, body, "notes", str(old), str(new), "--files-only")
    assert done.returncode == 1 and forks == 1 and "Traceback" not in done.stderr
    assert "MemoryError" in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_command_interrupted_while_the_child_reads_stops_the_child(
    tmp_path: Path, written: tuple[Path, Path]
) -> None:
    old, new = written
    marks = tmp_path / "forks"
    body = DIES.format(how="time.sleep(60)") + CLI  # a read of OLD that takes long
    args = [str(marks), "notes", str(old), str(new), "--files-only"]
    with subprocess.Popen(
        [sys.executable, "-c", PRELUDE + body, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as command:
        deadline = time.monotonic() + 30
        while not marks.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _children_left(tmp_path), "no child is reading OLD"
        command.send_signal(signal.SIGTERM)
        out, err = command.communicate(timeout=30)
    assert (command.returncode, out) == (143, ""), err
    assert err.startswith("error: interrupted by SIGTERM") and err.count("\n") == 1, err
    assert not _children_left(tmp_path)  # the child did not outlive the command


# The signal lands just after the fork returns, before the parent holds the child in a `try`
# that ends it; the child's own parent-death signal is turned off, as where prctl is refused
# (a sandbox): only the parent can stop it then.
SIGNAL_AT_FORK = """
manifest_pair.die_with_parent = lambda parent=None: None
_counting = os.fork
def _signalled():
    pid = _counting()
    if pid:
        os.kill(os.getpid(), signal.SIGTERM)
    return pid
os.fork = _signalled
"""


def test_a_signal_as_the_child_is_forked_still_stops_the_child(
    tmp_path: Path, written: tuple[Path, Path]
) -> None:
    old, new = written
    body = SIGNAL_AT_FORK + DIES.format(how="time.sleep(60)") + CLI
    done, forks = forked(tmp_path, body, "notes", str(old), str(new), "--files-only")
    assert (done.returncode, done.stdout, forks) == (143, "", 1), done.stderr
    assert done.stderr.startswith("error: interrupted by SIGTERM"), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert not _children_left(tmp_path)


def _children_left(tmp_path: Path) -> list[str]:
    """Processes still running of this test's `python -c` (its folder is in their arguments)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            line = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"manifest_pair.FORK_FROM_BYTES" in line and str(tmp_path).encode() in line:
            found.append(proc.name)
    return found


def test_entries_are_told_apart_by_their_path_and_hash_themselves(monkeypatch) -> None:
    """Were an entry's fingerprint a hash of its path and file_hash, two entries whose hashes
    collide would both be left out of the comparison as unchanged; with every hash colliding,
    every change would vanish from the notes."""
    monkeypatch.setattr(manifest_pair, "hash", lambda _: 0, raising=False)
    old, new = releases(3)
    whole = compare_manifests(old, new, "old.json", "new.json")

    assert whole.changes
    assert manifest_pair.paired(old, new).compared("old.json", "new.json") == whole
