"""SIGINT and SIGTERM stop a release before its next write, exit 130 or 143 and say that a
re-run resumes, even when the KeyboardInterrupt the signal raised was swallowed (issue 20,
item 3: "Exception ignored in: <function WeakValueDictionary...> KeyboardInterrupt", then the
release went on and published)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import pytest

from publishkit.cli.signals import Signals
from publishkit.errors import Interrupted
from tests.conftest import Workspace

# The release, with a signal that arrives as the S3 upload starts or ends and whose
# KeyboardInterrupt Python cannot raise: the handler runs inside a __del__, where it is printed
# as "Exception ignored in" and dropped, as it was inside a weakref callback in the run.
SWALLOWED = """
import os, signal, sys
from publishkit.release import s3_upload

upload_release = s3_upload.upload_release


class Dropped:
    def __del__(self):
        os.kill(os.getpid(), signal.{name})
        for _ in range(1000):  # the handler runs here, inside __del__
            pass


def signalled_as_the_upload_{when}s(**kwargs):
    if "{when}" == "start":
        Dropped()
    uploaded = upload_release(**kwargs)
    if "{when}" == "end":
        Dropped()
    return uploaded


s3_upload.upload_release = signalled_as_the_upload_{when}s
from publishkit.cli.app import main

sys.argv = ["publishkit", *sys.argv[1:]]
main()
"""


def keys(s3_client: Any, bucket: str) -> list[str]:
    listed = s3_client.list_object_versions(Bucket=bucket).get("Versions", [])
    return sorted(v["Key"] for v in listed)


MANIFEST = "demo-project/manifests/demo-project_project_manifest_v0.1.0.json"
DATA = ["demo-project/data/s101.nwb", "demo-project/data/s102.nwb"]
TABLE = "demo-project/project_metadata/sessions.csv"
RESUMES = (
    "; nothing more was written (fix: run the same command again: it resumes where this run "
    "stopped)"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, code, when, before, uploaded",
    [
        ("SIGINT", 130, "end", "the manifest stage", [*DATA, TABLE]),
        ("SIGTERM", 143, "start", "the upload of ", []),  # of whichever file comes first
    ],
)
def test_a_swallowed_interrupt_still_stops_the_release_before_its_next_write(
    cli,
    workspace: Workspace,
    aws_env,
    s3_client,
    name: str,
    code: int,
    when: str,
    before: str,
    uploaded: list[str],
) -> None:
    program = SWALLOWED.format(name=name, when=when)
    run = subprocess.run(
        [sys.executable, "-c", program, "release", "--version", "0.1.0"],
        cwd=workspace.root,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == code, run.stderr  # the KeyboardInterrupt was swallowed...
    last = run.stderr.splitlines()[-1]
    assert last.startswith(f"error: interrupted by {name} before {before}"), last  # ...yet
    # the run stopped at its next check, and Python's report of it is not printed
    assert "Exception ignored in" not in run.stderr, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    said = [line for line in run.stderr.splitlines() if not line.endswith(" done")]
    assert said == [last], run.stderr  # the files uploaded, each on its line, then the error
    assert last.endswith(RESUMES), last
    assert keys(s3_client, workspace.bucket) == uploaded  # no manifest, no notes
    assert not (workspace.root / "manifests").exists()
    assert not (workspace.root / "release_notes.md").exists()

    again = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert again.exit_code == 0, again.stderr
    assert MANIFEST in keys(s3_client, workspace.bucket)


def test_a_signal_is_recorded_then_raised_and_after_the_command_only_recorded() -> None:
    signals = Signals()
    signals("the upload stage")  # nothing received: nothing happens
    signals._raising = True
    with pytest.raises(KeyboardInterrupt):
        signals._handle(signal.SIGTERM, None)
    signals.finished()
    signals._handle(signal.SIGINT, None)  # the first signal is the one that counts
    assert signals.exit_code == 143
    with pytest.raises(Interrupted) as raised:
        signals("the manifest stage")
    assert raised.value.exit_code == 143
    assert raised.value.message == (
        "interrupted by SIGTERM before the manifest stage; nothing more was written"
    )
