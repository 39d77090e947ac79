"""Choosing where per-file work runs: the dask executor refused cleanly when it cannot run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]  # the publishkit the subprocess imports

# How dask's absence is caused: this program puts a finder first on sys.meta_path that fails
# every import of `dask` and `distributed` (and their submodules) as an uninstalled package
# would, then runs publishkit's command line. The test environment has dask installed.
WITHOUT_DASK = """
import sys
from importlib.abc import MetaPathFinder


class NoDask(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoDask())
from publishkit.cli.app import main

main()
"""


@pytest.mark.parametrize("command", [["convert"], ["release", "--version", "1.0.0"], ["inspect"]])
def test_dask_not_installed_is_one_line_with_the_install_command(
    cli, tmp_path: Path, command: list[str]
) -> None:
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    dask = ["--executor", "dask", "--scheduler", "tcp://127.0.0.1:1"]
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DASK, *command, *dask, "-w", str(workspace)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: the dask executor needs dask.distributed, which is not installed "
        "(fix: pip install 'publishkit[dask]')\n"
    )
    assert not (workspace / "nwb").exists()  # refused before any row was converted
