"""What an S3-only release costs beyond the work it must do: no module it does not use, each
table read once, no upload clients or threads when nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from publishkit.s3.bucket import S3Bucket
from publishkit.workspace import inventory
from tests.conftest import Workspace

HEAVY = ("h5py", "pynwb", "hdmf", "dandi", "dandischema", "numpy", "nwbinspector", "jsonschema")
HEAVY += ("pydantic", "lxml")  # typer converts option values with pydantic; pygal, with lxml
HEAVY += ("rich",)  # --quiet prints plain lines: no table, markup or progress bar
HEAVY += ("boto3", "s3transfer")  # botocore alone makes the S3 clients (~40 ms less CPU)
HEAVY += ("multiprocessing",)  # no worker process: the digests' threads, the rest here
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['publishkit', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('publishkit', run_name='__main__')\n"
    "finally:\n"
    "    loaded = {m.split('.')[0] for m in sys.modules} | set(sys.modules)\n"
    "    print('LOADED', sorted(m for m in loaded if m in {heavy}), file=sys.stderr)\n"
)


@pytest.mark.slow
def test_an_s3_only_release_imports_no_nwb_or_dandi_module(
    workspace: Workspace, aws_env: dict[str, str]
) -> None:
    """A release of files that are not HDF5 (the workspace's data are plain bytes named .nwb)
    imports neither h5py, pynwb, numpy nor dandi, nor jsonschema (a refusal's explainer) or
    pydantic, nor rich (--quiet prints only plain lines), nor boto3 (botocore's clients are
    what it uses) or multiprocessing (it starts no worker process): the first release, one
    after a change, and one with nothing changed, and one with --format json (no inspection
    report to render); nor the command groups it does not run."""
    probe = PROBE.replace("{heavy}", repr({*HEAVY, "publishkit.cli.consumer_commands"}))
    env = {**os.environ, **aws_env}
    # the release site is published too (its charts by pygal, without lxml)
    for args, change in (
        (["--version", "1.0.0"], None),
        (["--bump", "minor"], b"session 101, again " * 500),
        (["--bump", "minor"], None),
        (["--bump", "minor", "--format", "json"], b"session 101, third " * 500),
    ):
        if change is not None:
            workspace.set_sessions({"101": change, "102": b"session 102 " * 2000})
        done = subprocess.run(
            [sys.executable, "-c", probe, "release", *args]
            + ([] if "--format" in args else ["--quiet"]),
            cwd=workspace.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "LOADED []" in done.stderr, done.stderr


def _counted(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[object]:
    """Calls of owner.name counted (each still made for real)."""
    calls: list[object] = []
    real = getattr(owner, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def test_a_release_reads_its_tables_once_and_makes_no_upload_clients_when_nothing_changed(
    cli, workspace: Workspace, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preflight's check of the workspace's files is the list the release stages (one read
    of the sessions table, not two); a release with nothing to upload makes no upload clients
    (each costs a botocore client); one with a file to upload makes them and uploads it."""
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    tables = _counted(monkeypatch, inventory, "read_table")
    clients = _counted(monkeypatch, S3Bucket, "tuned")
    result = cli("release", "--bump", "minor", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert "nothing changed" in (result.stdout + result.stderr).lower()
    assert len(tables) == 1
    assert clients == []
    workspace.set_sessions({"101": b"session 101, again " * 500, "102": b"session 102 " * 2000})
    result = cli("release", "--bump", "minor", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert len(tables) == 2 and len(clients) >= 1
    assert Path(workspace.manifest_path("1.1.0")).is_file()


@pytest.mark.slow
def test_a_release_that_inspects_reads_no_nwb_file_again_for_its_summaries(
    cli, workspace: Workspace, aws_env: dict[str, str], tmp_path: Path, monkeypatch, s3_client
) -> None:
    """The release is settled while its files are inspected; the summaries it publishes are
    the ones inspection read from its one open of each file, not a second read of every file
    by the release itself (300 files: seconds, beside the workers)."""
    from publishkit.workspace import nwb_summaries
    from tests.nwbfactory import write_nwb

    rows = {}
    for n in ("101", "102", "103"):
        made = write_nwb(tmp_path / f"{n}.nwb", subject_id=f"mouse-{n}", session_id=f"s{n}")
        rows[n] = made.read_bytes()
    workspace.set_sessions(rows)
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "inspection:\n  config: dandi\n")
    read = _counted(monkeypatch, nwb_summaries, "summarize_path")
    result = cli("release", "--version", "1.0.0", "-f", "json", cwd=workspace.root)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert read == []
    assert json.loads(result.stdout)["warnings"] == []  # none said unreadable
    key = f"summaries/{workspace.project}_summaries_v1.0.0.json"
    listed = s3_client.list_objects_v2(Bucket=workspace.bucket)["Contents"]
    (found,) = [o["Key"] for o in listed if o["Key"].endswith(key)]
    document = json.loads(s3_client.get_object(Bucket=workspace.bucket, Key=found)["Body"].read())
    assert len(document["nwb_files"]) == 3  # every file's summary, from inspection's read


@pytest.mark.slow
def test_a_release_that_inspects_hashes_its_files_while_the_workers_inspect(
    cli, workspace: Workspace, aws_env: dict[str, str], tmp_path: Path, monkeypatch
) -> None:
    """The S3 release is staged (every file hashed: hours for terabytes) after the inspection's
    workers started and before their verdict is awaited, not in the preflight before them."""
    from publishkit.inspection import inspect_files
    from publishkit.release import s3_staging
    from tests.nwbfactory import write_nwb

    made = write_nwb(tmp_path / "101.nwb", subject_id="mouse-101", session_id="s101")
    workspace.set_sessions({"101": made.read_bytes()})
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "inspection:\n  config: dandi\n")
    events: list[str] = []
    start, stage = inspect_files.start_inspection, s3_staging.stage_release
    finish = inspect_files.PendingInspection.finish

    def started(*args: Any, **kwargs: Any) -> Any:
        pending = start(*args, **kwargs)
        events.append("inspection started")
        return pending

    def finished(self: inspect_files.PendingInspection) -> Any:
        events.append("verdict awaited")
        return finish(self)

    def staged(*args: Any, **kwargs: Any) -> Any:
        events.append("staged")
        return stage(*args, **kwargs)

    monkeypatch.setattr(inspect_files, "start_inspection", started)
    monkeypatch.setattr(inspect_files.PendingInspection, "finish", finished)
    monkeypatch.setattr(s3_staging, "stage_release", staged)
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert events == ["inspection started", "staged", "verdict awaited"]


@pytest.mark.parametrize("earlier", [1, 4])
def test_a_one_change_release_sends_only_the_requests_it_needs(
    cli, workspace: Workspace, aws_env: dict[str, str], s3_server, monkeypatch, earlier: int
) -> None:
    """After one data file changed, the release (its site too) sends, counted at a proxy in
    front of the S3 server: the preflight's four (versioning, location, the notes, the list of
    manifests; the latest manifest is the workspace's copy, which the listing's ETag vouches
    for), the previous summaries (an NWB file changed), a HEAD and a PUT of the file, the
    summaries and the manifest, the notes, and the site's history (a GET), then the release's
    record, page, the history (a PUT) and the index: 15, whatever the count of releases
    before (not one GET per earlier release's record). Not the manifests listed a second
    time, nor the unchanged table read back at its pinned version: the run knows both
    (issue 23)."""
    from tests.faultproxy import FaultProxy

    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    for n in range(1, earlier):
        (workspace.root / "data" / "s102.nwb").write_bytes(b"session 102, take %d " % n * 500)
        assert cli("release", "--bump", "minor", cwd=workspace.root).exit_code == 0
    (workspace.root / "data" / "s101.nwb").write_bytes(b"session 101, again " * 500)
    with FaultProxy(s3_server.endpoint_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = cli("release", "--bump", "minor", cwd=workspace.root)
        sent = sorted(f"{r.method} {r.path.split('/', 2)[-1]}" for r in proxy.records)
    assert result.exit_code == 0, result.stderr
    assert f"1.{earlier}.0" in result.stdout + result.stderr
    listed = [line for line in sent if "list-type=2" in line]
    assert len(listed) == 1, sent
    assert not [line for line in sent if "versionId=" in line], sent
    site = [line.split("?")[0] for line in sent if "/releases/" in line]
    version = f"1.{earlier}.0"
    assert site == sorted(
        [
            "GET demo-project/releases/history.json",
            "PUT demo-project/releases/history.json",
            f"PUT demo-project/releases/v{version}.html",
            f"PUT demo-project/releases/v{version}.json",
        ]
    ), sent
    assert not [line for line in sent if line.startswith("GET") and "/manifests/" in line], sent
    assert len(sent) == 15, "\n".join(sent)


def test_the_latest_manifest_is_read_from_the_bucket_unless_the_local_copy_is_its_bytes(
    cli, workspace: Workspace, aws_env: dict[str, str], s3_server, monkeypatch, s3_client
) -> None:
    """The preflight reads the latest manifest from the workspace's copy only when its MD5 is
    the ETag the bucket lists for it: a copy edited (here: an unchanged file's version ID
    altered) or missing is not trusted, the bucket's is read (a GET), and the release pins
    what the bucket's manifest pins."""
    from tests.faultproxy import FaultProxy

    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    local = workspace.manifest_path("1.0.0")
    published = json.loads(local.read_text())
    (unchanged,) = [e for e in published["data_files"].values() if e["path"].endswith("102.nwb")]
    edited = json.loads(local.read_text())
    for entry in edited["data_files"].values():
        if entry["path"] == unchanged["path"]:
            entry["version_id"] = "not-the-pinned-version"
    local.write_text(json.dumps(edited, indent=2, sort_keys=True) + "\n")
    (workspace.root / "data" / "s101.nwb").write_bytes(b"session 101, again " * 500)
    name = local.name
    with FaultProxy(s3_server.endpoint_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = cli("release", "--bump", "minor", cwd=workspace.root)
        read = [r for r in proxy.records if r.method == "GET" and r.path.endswith(name)]
    assert result.exit_code == 0, result.stderr
    assert len(read) == 1  # the edited copy was not trusted
    pinned = json.loads(workspace.manifest_path("1.1.0").read_text())["data_files"]
    assert [e["version_id"] for e in pinned.values() if e["path"] == unchanged["path"]] == [
        unchanged["version_id"]
    ]
    workspace.manifest_path("1.1.0").unlink()  # a missing copy: the bucket's, restored
    (workspace.root / "data" / "s101.nwb").write_bytes(b"session 101, third " * 500)
    with FaultProxy(s3_server.endpoint_url) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = cli("release", "--bump", "minor", cwd=workspace.root)
        read = [r for r in proxy.records if r.method == "GET" and "/manifests/" in r.path]
    assert result.exit_code == 0, result.stderr
    assert len(read) == 1 and workspace.manifest_path("1.1.0").is_file()
    assert workspace.manifest_path("1.2.0").is_file()


def test_a_release_draws_its_site_index_while_it_uploads_and_not_when_nothing_changed(
    cli, workspace: Workspace, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3-only release that cuts a version draws its site's index (the history read, the
    charts and the page drawn) in a thread while its upload runs, not after it, and the notes
    stage puts that drawing (not drawn again); a release with nothing to cut draws nothing."""
    import threading

    from publishkit.release import s3_upload
    from publishkit.site import publishing

    drawn, calls = threading.Event(), []
    real_draw, real_upload = publishing.draft_index, s3_upload.upload_release

    def draw(*args: Any) -> Any:
        calls.append(threading.current_thread().name)
        try:
            return real_draw(*args)
        finally:
            drawn.set()

    def upload(**kwargs: Any) -> Any:
        seen.append(drawn.wait(10) if not seen else None)  # the first: under way meanwhile
        return real_upload(**kwargs)

    seen: list[bool | None] = []
    monkeypatch.setattr(publishing, "draft_index", draw)
    monkeypatch.setattr(s3_upload, "upload_release", upload)
    result = cli("release", "--version", "1.0.0", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert seen == [True] and calls == ["publishkit-site-draft"]
    workspace.set_sessions({"101": b"session 101, again " * 500, "102": b"session 102 " * 2000})
    result = cli("release", "--bump", "minor", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert calls == ["publishkit-site-draft"] * 2
    result = cli("release", "--bump", "minor", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert "nothing changed" in (result.stdout + result.stderr).lower()
    assert calls == ["publishkit-site-draft"] * 2  # not again


def test_the_previous_summaries_are_read_while_this_releases_are_found(
    cli, workspace: Workspace, aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After an NWB file changed, the previous release's summaries (a GET) are read while the
    release finds its own files' summaries (the state store, the files), not after."""
    import threading

    from publishkit.release import manifest_and_notes
    from publishkit.release.published_readback import Place

    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    asked, seen = threading.Event(), []
    real_read, real_find = Place.summaries, manifest_and_notes.release_summaries

    def read(self: Place, project: str, version: str) -> Any:
        asked.set()
        return real_read(self, project, version)

    def find(*args: Any, **kwargs: Any) -> Any:
        seen.append(asked.wait(10))  # released by the GET under way, else at 10 s
        return real_find(*args, **kwargs)

    monkeypatch.setattr(Place, "summaries", read)
    monkeypatch.setattr(manifest_and_notes, "release_summaries", find)
    workspace.set_sessions({"101": b"session 101, again " * 500, "102": b"session 102 " * 2000})
    result = cli("release", "--bump", "minor", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert seen == [True]


_OPENED: list[str] = []  # what this process opened while a test listened (`_listening`)
_LISTENING: list[bool] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _LISTENING and isinstance(args[0], str | bytes | os.PathLike):
        _OPENED.append(os.fsdecode(args[0]))


@pytest.fixture
def opened() -> Any:
    """The paths this process opens (open(), os.open(): Python's audit event) while the test
    runs; an audit hook cannot be removed, so one hook per process listens when asked."""
    if not getattr(sys, "_publishkit_audit", False):
        sys.addaudithook(_audit)
        sys._publishkit_audit = True  # type: ignore[attr-defined]
    _OPENED.clear()
    _LISTENING.append(True)
    yield _OPENED
    _LISTENING.clear()


def test_a_release_judges_an_unchanged_file_that_is_not_nwb_without_opening_it(
    cli, workspace: Workspace, aws_env: dict[str, str], opened: list[str]
) -> None:
    """Why a .nwb file cannot be read as NWB (its warning) is kept with its content's summary:
    the next release names it without opening the file again (300 files of 2 MB that are not
    HDF5: 3,900 reads a release); a file that changed is judged again, by its new content."""
    import h5py

    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    changed = workspace.root / "data" / "s101.nwb"
    with h5py.File(changed, "w") as h5:  # HDF5 now, but not NWB
        h5["x"] = [1, 2, 3]
    opened.clear()
    result = cli("release", "--bump", "minor", "--format", "json", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    unchanged = str(workspace.root / "data" / "s102.nwb")
    assert [path for path in opened if path == unchanged] == []
    assert str(changed) in opened  # hashed, uploaded and judged: it changed
    warned = json.loads(result.stdout)["warnings"]
    assert [w for w in warned if "not compared" in w] == [
        "data/s101.nwb: an HDF5 file but not NWB (no neurodata_type); its contents are not "
        "compared in the release notes",
        "data/s102.nwb: not an HDF5 file; its contents are not compared in the release notes",
    ]


def test_a_release_keeps_the_state_database_open_from_its_start_to_its_end(
    cli, workspace: Workspace, aws_env: dict[str, str], monkeypatch
) -> None:
    """SQLite moves the write-ahead log into the database, and syncs both, as the last
    connection to it closes (~5-10 ms): a release holds one connection for the whole run, so
    the stages' own connections close without it and that happens once."""
    from publishkit.workspace.state import store as state_store

    events: list[tuple[str, int]] = []
    opened, closed = state_store.StateStore.__init__, state_store.StateStore.close

    def open_(self: Any, path: Path) -> None:
        opened(self, path)
        events.append(("open", id(self)))

    def close(self: Any) -> None:
        events.append(("close", id(self)))
        closed(self)

    monkeypatch.setattr(state_store.StateStore, "__init__", open_)
    monkeypatch.setattr(state_store.StateStore, "close", close)
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    (workspace.root / "data" / "s101.nwb").write_bytes(b"session 101, again " * 500)
    events.clear()
    assert cli("release", "--bump", "minor", cwd=workspace.root).exit_code == 0
    assert len(events) >= 4, events  # the run's own, and the stages'
    assert events[0] == ("open", events[-1][1]) and events[-1][0] == "close", events
