"""Progress on stderr: files counted as files, bytes as bytes; without a terminal (CI logs), a
plain line at least every few seconds while a stage runs, so a long stage is never silent."""

from __future__ import annotations

import threading
import time

import pytest

from publishkit.cli import render


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_without_a_terminal_a_stage_prints_a_line_every_interval(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with render.Bars(True, every=0.2) as bars:
        bars("Hashing", 1, 30)
        time.sleep(0.75)  # no progress meanwhile: a long file, say; the line comes anyway
        bars("Hashing", 1, 30)
        time.sleep(0.3)
    lines = _lines(capsys)
    assert len(lines) >= 3, lines
    assert lines[0] == "Hashing 1/30 files"
    assert lines[-1] == "Hashing 2/30 files"


def test_bytes_are_counted_as_bytes_and_files_as_files(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with render.Bars(True, every=0.1) as bars:
        bars("Hashing", 30, 30)
        bars("Uploading", 1500, 3000)
        time.sleep(0.25)
    last = _lines(capsys)[-1]
    assert last == "Uploading 1.5/3.0 kB"  # Hashing is done: only what still runs is shown


def test_a_second_pass_of_a_task_counts_from_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """A release hashes the NWB files for the inspection, then every file for the upload: the
    second pass is not added to the first ("Hashing 63/30")."""
    with render.Bars(True, every=0.1) as bars:
        for _ in range(30):
            bars("Hashing", 1, 30)
        bars("Hashing", 1, 33)
        time.sleep(0.25)
    assert _lines(capsys)[-1] == "Hashing 1/33 files"


def test_no_progress_lines_when_a_format_for_scripts_is_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with render.Bars(False, every=0.05) as bars:
        bars("Hashing", 1, 30)
        time.sleep(0.2)
    assert capsys.readouterr().err == ""


def test_a_stage_that_reports_nothing_yet_still_shows_life(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with render.Bars(True, every=0.1):
        time.sleep(0.25)  # e.g. dandi-cli at work before its first file is done
    assert _lines(capsys)[0].startswith("still working (")


def test_without_a_terminal_each_file_a_transfer_finishes_gets_a_line(
    cli, workspace, aws_env, tmp_path
) -> None:
    """A CI log shows every file of a long release or fetch as it is done (issue 21)."""
    released = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert released.exit_code == 0, released.stderr
    uploaded = [line for line in released.stderr.splitlines() if line.startswith("Uploading: ")]
    assert sorted(uploaded) == [
        "Uploading: data/s101.nwb done",
        "Uploading: data/s102.nwb done",
        "Uploading: project_metadata/sessions.csv done",
    ]
    manifest = workspace.root / "manifests" / "demo-project_project_manifest_v0.1.0.json"
    fetched = cli("fetch", str(manifest), "--to", str(tmp_path / "cache"))
    assert fetched.exit_code == 0, fetched.stderr
    lines = [line for line in fetched.stderr.splitlines() if line.startswith("Fetching: ")]
    assert sorted(lines) == [
        "Fetching: demo-project-0.1.0/data/s101.nwb done",
        "Fetching: demo-project-0.1.0/data/s102.nwb done",
        "Fetching: demo-project-0.1.0/project_metadata/sessions.csv done",
    ]


def test_without_a_terminal_a_done_line_is_written_without_rich(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line for each file done does not go through rich's Console, even once the bars made
    it: 64 threads of a fetch of 2,000 small files queued behind rich's lock and rendering,
    one line at a time (a spy on rich's print, our own console: no fault is faked)."""
    from publishkit.cli.consoles import err

    with render.Bars(True, every=60) as bars:
        through_rich: list[object] = []
        monkeypatch.setattr(err.rich, "print", lambda *a, **k: through_rich.append(a))
        threads = [
            threading.Thread(target=bars, args=("Fetching", 1, 200), kwargs={"done": f"f{n}"})
            for n in range(200)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert through_rich == []
    done = sorted(line for line in _lines(capsys) if line.endswith(" done"))
    assert done == sorted(f"Fetching: f{n} done" for n in range(200))
