"""`publishkit fetch` of many small files: each file synced before its rename, each folder and
the state store once per batch, and every file on record when the fetch ends."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.faultproxy import FaultProxy, Request

FILES = 40


def test_many_files_sync_each_folder_and_the_records_once_a_batch_not_once_a_file(
    cli, workspace: Workspace, aws_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file's name never shows a torn file (its bytes are synced before its rename), its
    folder is synced after its rename, once per batch, not per file, and every file is on
    record when the fetch ends (an os.fsync seen at the OS boundary is the only way to see the
    order without pulling the plug)."""
    workspace.set_sessions({str(n): f"session {n} ".encode() * 500 for n in range(FILES)})
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    cache = tmp_path / "cache"
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("sync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("rename", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    manifest = workspace.manifest_path("0.1.0")

    result = cli("fetch", str(manifest), "--to", str(cache), "--format", "json", cwd=tmp_path)

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["downloaded"] == FILES + 1  # and the table
    root = cache / "demo-project-0.1.0"
    renamed = [where for what, where in events if what == "rename"]
    assert len(renamed) == FILES + 1
    for n, (what, where) in enumerate(events):
        if what != "rename":
            continue
        partial_synced = [w for a, w in events[:n] if a == "sync" and ".part" in w]
        assert partial_synced, f"{where} renamed before any partial was synced"
        folder = str(Path(where).parent)
        assert ("sync", folder) in events[n + 1 :], f"{folder} not synced after {where}"
    folder_syncs = [w for a, w in events if a == "sync" and Path(w).is_dir()]
    assert len(folder_syncs) < FILES / 4  # one per folder and batch, not one per file
    with sqlite3.connect(cache / ".publishkit" / "state.sqlite") as db:
        placed = {row[0] for row in db.execute("SELECT path FROM fetch_placed")}
        intents = list(db.execute("SELECT path FROM fetch_intents"))
    assert placed == {str(p) for p in root.rglob("*") if p.is_file()}
    assert intents == []  # each intent dropped once its file was recorded as placed

    again = cli("fetch", str(manifest), "--to", str(cache), "--format", "json", cwd=tmp_path)
    assert json.loads(again.stdout)["counts"]["present"] == FILES + 1


def test_fetch_does_not_ask_the_store_for_a_checksum_it_would_hash_a_third_time(
    cli, workspace: Workspace, aws_env, s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fetch checks every body against the manifest's blake2b and sha256; botocore would also
    hash it against the store's own checksum (`x-amz-checksum-mode: ENABLED`), ~0.6 ms a MB."""
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0
    gets: list[Request] = []

    def record(request: Request) -> None:
        if request.method == "GET" and "versionId=" in request.query:
            gets.append(request)

    with FaultProxy(s3_server.endpoint_url, record) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = cli("fetch", str(workspace.manifest_path("0.1.0")), "--to", str(tmp_path / "c"))

    assert result.exit_code == 0, result.stderr
    assert len(gets) == 3  # the table and two data files
    assert all("x-amz-checksum-mode" not in request.headers for request in gets)
