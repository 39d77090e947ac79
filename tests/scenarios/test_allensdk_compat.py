"""A publishkit release is read unchanged by AllenSDK's real `S3CloudCache`.

AllenSDK pins old numpy/pandas, so it lives in its own venv (made by .ci/allensdk-venv.sh)
whose python is given by PUBLISHKIT_ALLENSDK_PYTHON; tests/compat/allensdk_reader.py runs
there against the sandbox S3 this test releases into.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from publishkit.sandbox.s3 import S3Sandbox

READER = Path(__file__).resolve().parents[1] / "compat" / "allensdk_reader.py"
PROJECT = "demo-project"  # also the S3 prefix: S3CloudCache lists <project>/manifests/
BUCKET = "compat-bucket"
LINDI_BUCKET = "compat-lindi"  # a bucket of its own: the sandbox's S3 outlives one test
REGION = "us-west-2"
OLD = f"{PROJECT}_project_manifest_v0.1.0.json"
NEW = f"{PROJECT}_project_manifest_v0.2.0.json"


def _allensdk_python() -> str:
    python = os.environ.get("PUBLISHKIT_ALLENSDK_PYTHON")
    if not python:
        pytest.skip(
            "PUBLISHKIT_ALLENSDK_PYTHON is unset: point it at the python of a venv made by "
            ".ci/allensdk-venv.sh to check AllenSDK compatibility"
        )
    return python


def _write_config(root: Path, tables: dict[str, bytes], bucket: str = BUCKET) -> None:
    """publishkit.yaml publishing the sessions table and `tables` (name -> content), each a
    metadata table of its own that lists no data files."""
    listed = "".join(f"  {name}: metadata/{name}.csv\n" for name in tables)
    (root / "publishkit.yaml").write_text(
        f"project: {PROJECT}\n"
        f"s3:\n  bucket: {bucket}\n  region: {REGION}\n"
        f"metadata_files:\n  sessions: metadata/sessions.csv\n{listed}"
    )
    (root / "metadata").mkdir(exist_ok=True)
    for name, content in tables.items():
        (root / "metadata" / f"{name}.csv").write_bytes(content)


def _write_sessions(root: Path, rows: dict[str, bytes]) -> None:
    lines = ["file_id,file_path,subject_id"]
    for file_id, content in rows.items():
        path = root / "data" / f"s{file_id}.nwb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        lines.append(f"{file_id},data/s{file_id}.nwb,mouse-{file_id}")
    (root / "metadata").mkdir(exist_ok=True)
    (root / "metadata" / "sessions.csv").write_text("\n".join(lines) + "\n")


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _blake2b(data: bytes) -> str:
    return hashlib.blake2b(data).hexdigest()


def _files_of(manifest: dict[str, Any], bucket: str = BUCKET) -> dict[str, str]:
    """relpath under the project prefix -> file_hash, as AllenSDK lays files out locally."""
    prefix = f"https://{bucket}.s3.{REGION}.amazonaws.com/{PROJECT}/"
    files = {}
    for group in ("metadata_files", "data_files"):
        for entry in manifest[group].values():
            assert entry["url"].startswith(prefix), entry["url"]
            files[entry["url"].removeprefix(prefix)] = entry["file_hash"]
    return files


@pytest.mark.slow
def test_allensdk_s3_cloud_cache_reads_publishkit_releases(tmp_path: Path) -> None:
    allensdk_python = _allensdk_python()
    workspace = tmp_path / "release"
    workspace.mkdir()
    # from v1 to v2, of each group: one file changed, one created, one deleted, one renamed
    log = b"note,text\n1,the rig was recalibrated\n"
    tables1 = {"notes": log, "probes": b"probe,channels\nA,64\n"}
    tables2 = {"lab_notes": log, "subjects": b"subject_id,sex\nmouse-101,F\n"}
    v1 = {
        "101": b"session 101 " * 1000,
        "102": b"session 102 " * 2000,
        "104": b"session 104 " * 700,
        "105": b"session 105 " * 300,
    }
    v2 = {
        "101": v1["101"],
        "102": b"session 102, re-sorted " * 900,
        "103": b"session 103 " * 500,
        "106": v1["105"],
    }

    with S3Sandbox() as sandbox:
        info = sandbox.create_bucket(BUCKET, REGION)
        env = {**os.environ, **info.environment()}
        publishkit = [sys.executable, "-m", "publishkit"]

        _write_config(workspace, tables1)
        _write_sessions(workspace, v1)
        _run([*publishkit, "release", "--version", "0.1.0"], workspace, env)
        _write_config(workspace, tables2)
        _write_sessions(workspace, v2)
        _run([*publishkit, "release", "--version", "0.2.0"], workspace, env)
        manifests = workspace / "manifests"
        notes = _run(
            [*publishkit, "notes", str(manifests / OLD), str(manifests / NEW), "-f", "allensdk"],
            workspace,
            env,
        )

        stdout = _read_with_allensdk(allensdk_python, BUCKET, tmp_path, env)

    read = json.loads(stdout)
    assert read["manifests"] == [OLD, NEW]
    assert read["latest"] == NEW

    new_manifest = json.loads((manifests / NEW).read_text())
    old_manifest = json.loads((manifests / OLD).read_text())
    assert read["downloaded"] == _files_of(new_manifest)
    assert read["downloaded_old"] == _files_of(old_manifest)
    # and those are the bytes that were released, each at its own version
    for release, rows in (("downloaded", v2), ("downloaded_old", v1)):
        for file_id, content in rows.items():
            assert read[release][f"data/s{file_id}.nwb"] == _blake2b(content), (release, file_id)
    assert set(read["downloaded"]) == {
        "project_metadata/sessions.csv",
        "project_metadata/lab_notes.csv",
        "project_metadata/subjects.csv",
        "data/s101.nwb",
        "data/s102.nwb",
        "data/s103.nwb",
        "data/s106.nwb",
    }

    # `publishkit notes -f allensdk` prints compare_manifests' string as print() would
    assert notes == read["compare"] + "\n"
    # and that string has every kind of change, in both groups (AllenSDK's order: by name)
    assert read["compare"] == (
        f"Changes going from\n{OLD}\nto\n{NEW}\n\n"
        "project_metadata/notes.csv renamed project_metadata/lab_notes.csv\n"
        "project_metadata/probes.csv deleted\n"
        "project_metadata/sessions.csv changed\n"
        "project_metadata/subjects.csv created\n"
        "data/s102.nwb changed\n"
        "data/s103.nwb created\n"
        "data/s104.nwb deleted\n"
        "data/s105.nwb renamed data/s106.nwb\n"
    )


@pytest.mark.slow
def test_allensdk_reads_a_release_whose_entries_hold_lindi_indexes(tmp_path: Path) -> None:
    """HDF5 NWB files, each with its LINDI index (`lindi_index` in its manifest entry, outside
    the fields AllenSDK reads): AllenSDK lists, loads, downloads and compares both versions."""
    import numpy as np

    from tests.reading.conftest import write_session

    allensdk_python = _allensdk_python()
    workspace = tmp_path / "release"
    workspace.mkdir()
    data = workspace / "data"
    with S3Sandbox() as sandbox:
        info = sandbox.create_bucket(LINDI_BUCKET, REGION)
        env = {**os.environ, **info.environment()}
        publishkit = [sys.executable, "-m", "publishkit"]
        _write_config(workspace, {}, LINDI_BUCKET)
        with (workspace / "publishkit.yaml").open("a") as config:
            config.write("lindi_index_min_mb: 0\n")  # these small files indexed all the same
        _write_sessions(workspace, {"101": b"", "102": b""})  # the table; the files follow
        write_session(data / "s101.nwb", np.ones((300, 2)), units=2)
        write_session(data / "s102.nwb", np.zeros((300, 2)), units=3)
        _run([*publishkit, "release", "--version", "0.1.0"], workspace, env)
        write_session(data / "s101.nwb", np.full((300, 2), 2.0), units=4)  # s102 unchanged
        _run([*publishkit, "release", "--version", "0.2.0"], workspace, env)
        manifests = workspace / "manifests"
        stdout = _read_with_allensdk(allensdk_python, LINDI_BUCKET, tmp_path, env)

    new_manifest = json.loads((manifests / NEW).read_text())
    old_manifest = json.loads((manifests / OLD).read_text())
    assert {"lindi_index"} <= set(new_manifest["data_files"]["101"])
    assert all(
        "lindi_index" in e for m in (new_manifest, old_manifest) for e in m["data_files"].values()
    )
    read = json.loads(stdout)
    assert read["latest"] == NEW
    assert read["downloaded"] == _files_of(new_manifest, LINDI_BUCKET)
    assert read["downloaded_old"] == _files_of(old_manifest, LINDI_BUCKET)
    assert read["compare"] == (f"Changes going from\n{OLD}\nto\n{NEW}\n\ndata/s101.nwb changed\n")


def _read_with_allensdk(
    allensdk_python: str, bucket: str, tmp_path: Path, env: dict[str, str]
) -> str:
    """What READER prints: AllenSDK's cloud cache in its own venv reading both releases as an
    anonymous public user (no keys, no dev-venv paths)."""
    reader_env = {
        key: value
        for key, value in env.items()
        if key not in {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "PUBLISHKIT_BUCKET"}
        and key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }
    return _run(
        [
            allensdk_python, str(READER),
            "--cache-dir", str(tmp_path / "allensdk-cache"),
            "--bucket", bucket,
            "--project", PROJECT,
            "--old", OLD,
            "--new", NEW,
        ],
        tmp_path,
        reader_env,
    )  # fmt: skip
