"""The README's main job, `bash examples/rehearse.sh`, runs as a new user would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_rehearsal_script_cuts_verifies_and_fetches_two_releases(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["HOME"] = str(tmp_path)  # nothing from the developer's home
    done = subprocess.run(
        ["bash", str(ROOT / "examples" / "rehearse.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Released v0.1.0: uploaded 4 file(s), 0 unchanged." in out
    assert "the changes suggest --bump patch" in done.stderr
    assert "Released v0.1.1: uploaded 1 file(s), 3 unchanged." in out
    assert "project_metadata/subjects.csv changed" in out
    assert "v0.1.1: all 4 file(s) present, sizes and hashes match" in out
    assert "1 downloaded, 3 linked" in out
