"""Conversion, inspection and digests on a Dask cluster (a real `LocalCluster`: a scheduler and
two worker processes with nannies, on loopback)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.studies import release_to_s3, repeat_first_session

distributed = pytest.importorskip("distributed")  # the test extra installs it

pytestmark = pytest.mark.slow
SESSIONS = 8


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as local:
        yield local.scheduler_address


@pytest.fixture
def study(cli, tmp_path: Path, bucket) -> Path:
    """The timeseries template with eight sessions, releasing to S3."""
    workspace = tmp_path / "study"
    assert cli("init", str(workspace), "--template", "timeseries").exit_code == 0
    repeat_first_session(workspace, SESSIONS)
    release_to_s3(workspace, bucket.bucket)
    return workspace


def test_a_release_on_the_cluster_lands_in_the_workspace_state(
    cli, study: Path, cluster: str, aws_env
) -> None:
    released = cli(
        "release", "--version", "1.0.0", "--scheduler", cluster, "-w", str(study), "-f", "json"
    )
    assert released.exit_code == 0, released.stdout + released.stderr
    summary = json.loads(released.stdout)
    assert summary["convert"]["counts"]["converted"] == SESSIONS
    assert summary["inspect"]["files"] == SESSIONS and summary["inspect"]["files_from_cache"] == 0
    assert len(summary["release"]["uploaded"]) == SESSIONS + 1  # and the files table
    ran = distributed.Client(cluster, set_as_default=False)
    try:  # how many tasks of each function the scheduler saw through
        done = ran.run_on_scheduler(
            lambda dask_scheduler: {
                name: prefix.state_counts.get("released", 0)
                + prefix.state_counts.get("forgotten", 0)
                for name, prefix in dask_scheduler.task_prefixes.items()
            }
        )
    finally:
        ran.close()
    assert done.get("write_row", 0) >= SESSIONS
    assert done.get("inspect_path", 0) >= SESSIONS
    assert done.get("digest_unchanged", 0) >= SESSIONS  # dask drops the leading underscore

    # the results were recorded here: run locally, nothing is converted, inspected or uploaded
    again = cli("release", "--bump", "patch", "--executor", "local", "-w", str(study), "-f", "json")
    repeat = json.loads(again.stdout)
    assert repeat["convert"]["counts"]["unchanged"] == SESSIONS
    assert repeat["release"]["status"] == "unchanged"
    inspected = cli("inspect", "-w", str(study), "-f", "json")
    local = json.loads(inspected.stdout)
    on_cluster = json.loads(
        cli("inspect", "-w", str(study), "-f", "json", "--scheduler", cluster).stdout
    )
    assert local["messages"] == on_cluster["messages"]


def test_findings_on_the_cluster_are_those_found_here(cli, study: Path, cluster: str) -> None:
    assert cli("convert", "-w", str(study)).exit_code == 0
    here = cli("inspect", "-w", str(study), "-f", "json")
    for state in (study / ".publishkit").iterdir():  # nothing cached: all on the cluster
        if state.is_file():
            state.unlink()
    there = cli(
        "inspect", "-w", str(study), "-f", "json", "--executor", "dask", "--scheduler", cluster
    )
    assert there.exit_code == here.exit_code
    assert json.loads(there.stdout)["messages"] == json.loads(here.stdout)["messages"]


def test_a_worker_lost_mid_task_is_retried_without_losing_or_duplicating_work(
    study: Path, cluster: str
) -> None:
    """SIGKILL a worker process while it converts a row: the nanny restarts it, the scheduler
    runs the row again, and every row ends converted once."""
    client = distributed.Client(cluster, set_as_default=False)
    try:
        converting = subprocess.Popen(
            [sys.executable, "-m", "publishkit", "convert", "--scheduler", cluster, "-f", "json"],
            cwd=study,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        busy: list[str] = []
        while not busy and time.monotonic() < deadline:
            busy = [worker for worker, tasks in client.processing().items() if tasks]
            time.sleep(0.01)
        assert busy, "no task reached a worker"
        pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        stdout, stderr = converting.communicate(timeout=300)
    finally:
        client.close()
    assert converting.returncode == 0, stdout + stderr
    report = json.loads(stdout)
    assert report["counts"] == {"converted": SESSIONS, "unchanged": 0, "failed": 0}
    outputs = sorted((study / "nwb").glob("*.nwb"))
    assert len(outputs) == SESSIONS
    assert not list(study.rglob("*.part"))
    rows = list(csv.DictReader((study / "nwb_files.csv").open()))
    assert len(rows) == SESSIONS


def test_a_scheduler_that_does_not_answer_is_bad_input(cli, study: Path) -> None:
    result = cli("convert", "-w", str(study), "--scheduler", "tcp://127.0.0.1:9")
    assert result.exit_code == 2
    assert "tcp://127.0.0.1:9: no Dask scheduler answered" in result.stderr
    assert not (study / "nwb").exists() or not list((study / "nwb").glob("*.nwb"))


def test_the_workspace_can_name_the_cluster(cli, study: Path, cluster: str) -> None:
    """`executor:` in publishkit.yaml sends the work to the cluster; --executor local, here."""
    config = study / "publishkit.yaml"
    plain = config.read_text()
    config.write_text(plain + "executor:\n  kind: dask\n")
    refused = cli("convert", "-w", str(study))
    assert (
        refused.exit_code == 2 and "executor: 'scheduler' is a required property" in refused.stderr
    )
    config.write_text(plain + f"executor:\n  kind: dask\n  scheduler: {cluster}\n")
    client = distributed.Client(cluster, set_as_default=False)
    try:
        before = client.run_on_scheduler(_rows_converted)
        assert cli("convert", "-w", str(study)).exit_code == 0
        deadline = time.monotonic() + 10  # the scheduler forgets the tasks once they are let go
        while client.run_on_scheduler(_rows_converted) < before + SESSIONS:
            assert time.monotonic() < deadline, "the rows did not run on the cluster"
            time.sleep(0.1)
        (study / "sessions.csv").write_text((study / "sessions.csv").read_text() + "\n")
        local = cli("convert", "--executor", "local", "-w", str(study), "-f", "json")
        assert json.loads(local.stdout)["counts"]["unchanged"] == SESSIONS
    finally:
        client.close()


def _rows_converted(dask_scheduler) -> int:
    prefix = dask_scheduler.task_prefixes.get("write_row")
    return 0 if prefix is None else prefix.state_counts["forgotten"]


def test_dask_without_a_scheduler_is_refused(cli, study: Path) -> None:
    result = cli("release", "--executor", "dask", "--plan", "-w", str(study))
    assert result.exit_code == 2
    assert "--executor dask needs the scheduler's address" in result.stderr
