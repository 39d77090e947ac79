"""Publishing LINDI indexes: an index a dead run put is adopted, not put a second time; the plan
names the indexes a release would publish."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from msgspec.structs import replace

from publishkit.release.lindi_indexes import _put
from publishkit.s3.bucket import S3Bucket
from publishkit.sandbox.s3 import SandboxInfo
from tests.conftest import REGION


def test_an_index_put_again_gets_no_second_version(
    bucket: SandboxInfo, aws_env: dict[str, str], s3_client
) -> None:
    store = S3Bucket.connect(bucket.bucket, REGION, aws_env["AWS_ENDPOINT_URL"], write=True)
    key = "demo/lindi/data/a.nwb.lindi.json"

    first = _put(store, key, b'{"refs":{}}')
    again = _put(store, key, b'{"refs":{}}')  # the re-run of a run that died after its PUT
    changed = _put(store, key, b'{"refs":{"a":"b"}}')

    assert first == again != changed
    listed = s3_client.list_object_versions(Bucket=bucket.bucket, Prefix=key)["Versions"]
    assert len(listed) == 2


def test_only_hdf5_files_from_the_workspaces_size_get_an_index(tmp_path) -> None:
    """`lindi_index_min_mb` (16 by default): an index costs ~0.1 s a file to build, and what it
    saves a reader matters for large files; 0 indexes every HDF5 file, None none."""
    from publishkit.release.lindi_indexes import indexed
    from publishkit.workspace.config import LINDI_INDEX_MIN_MB

    small = tmp_path / "small.nwb"
    small.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 1000)
    large = tmp_path / "large.nwb"
    with large.open("wb") as handle:
        handle.write(b"\x89HDF\r\n\x1a\n")
        handle.truncate(int(LINDI_INDEX_MIN_MB * 2**20))
    zarr = tmp_path / "not-hdf5.nwb"
    with zarr.open("wb") as handle:
        handle.write(b'{"zarr_format": 2}')
        handle.truncate(int(LINDI_INDEX_MIN_MB * 2**20))
    assert [indexed(p, LINDI_INDEX_MIN_MB) for p in (small, large, zarr)] == [False, True, False]
    assert [indexed(p, 0) for p in (small, large, zarr)] == [True, True, False]
    assert [indexed(p, None) for p in (small, large, zarr)] == [False, False, False]


def test_the_plan_names_the_indexes_the_release_builds_and_keeps(
    cli, workspace, aws_env, s3_client
) -> None:
    """`release --plan` names each index the release would build (or keep from the previous
    release, its file unchanged), in its lines and its JSON; planning writes nothing."""
    from tests.reading.conftest import set_files, signal, write_session

    for path in (workspace.root / "data").glob("*.nwb"):
        path.unlink()
    set_files(workspace, {"101": (signal(1, samples=200), 2), "102": (signal(2, samples=200), 1)})
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "lindi_index_min_mb: 0\n")
    cache = workspace.root / ".publishkit" / "lindi"

    def plan(version: str) -> tuple[dict[str, str], str]:
        shown = cli("release", "--version", version, "--plan", cwd=workspace.root)
        done = cli(
            "release", "--version", version, "--plan", "--format", "json", cwd=workspace.root
        )
        assert shown.exit_code == 0 == done.exit_code, shown.stdout + shown.stderr
        planned = json.loads(done.stdout)["lindi_indexes"]
        return {p["path"]: p["action"] for p in planned}, shown.stdout

    first, text = plan("0.1.0")
    assert first == {
        "lindi/data/s101.nwb.lindi.json": "build",
        "lindi/data/s102.nwb.lindi.json": "build",
    }
    assert "build: lindi/data/s101.nwb.lindi.json" in text
    assert not list(cache.glob("*.lindi.json"))
    assert "Versions" not in s3_client.list_object_versions(
        Bucket=workspace.bucket, Prefix="demo-project/lindi/"
    )
    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0

    write_session(workspace.root / "data" / "s101.nwb", signal(3, samples=200), 2)  # s102 kept
    second, text = plan("0.2.0")
    assert second == {
        "lindi/data/s101.nwb.lindi.json": "build",
        "lindi/data/s102.nwb.lindi.json": "keep",
    }
    assert "1 to build and upload, 0 to upload (built before), 1 kept" in text


def test_a_torn_cached_index_is_built_again(cli, workspace, aws_env) -> None:
    """The cached indexes are written without an fsync: one a crash left torn is not valid
    JSON, and the release builds that index again instead of publishing the file without one."""
    from publishkit.release.lindi_build import BUILD
    from tests.reading.conftest import set_files, signal

    for path in (workspace.root / "data").glob("*.nwb"):
        path.unlink()
    set_files(workspace, {"101": (signal(1, samples=200), 2)})
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "lindi_index_min_mb: 0\n")
    content = hashlib.blake2b((workspace.root / "data" / "s101.nwb").read_bytes()).hexdigest()
    torn = workspace.root / ".publishkit" / "lindi" / f"{content[:32]}.b{BUILD}.lindi.json"
    torn.parent.mkdir(parents=True)
    torn.write_text('{"refs": {".zgroup"')

    assert cli("release", "--version", "0.1.0", cwd=workspace.root).exit_code == 0

    entry = json.loads(workspace.manifest_path("0.1.0").read_text())["data_files"]["101"]
    assert entry["lindi_index"]["path"] == "lindi/data/s101.nwb.lindi.json"
    assert json.loads(torn.read_text())["refs"][".zgroup"] == {"zarr_format": 2}


def test_indexes_are_put_without_a_head_each_and_a_dead_runs_are_adopted(
    cli, workspace, aws_env, s3_server, s3_client, monkeypatch
) -> None:
    """A release lists the index folder once instead of a HEAD before each index's PUT; the
    re-run of a run that died after putting its indexes (before its manifest) finds them there
    with the same ETag and puts none again."""
    from tests.faultproxy import FaultProxy
    from tests.reading.conftest import set_files, signal

    for path in (workspace.root / "data").glob("*.nwb"):
        path.unlink()
    set_files(workspace, {f"10{n}": (signal(n, samples=100), n) for n in range(1, 4)})
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "lindi_index_min_mb: 0\n")
    folder = f"/{workspace.bucket}/demo-project/lindi/"

    def release() -> list[tuple[str, str]]:
        with FaultProxy(s3_server.endpoint_url) as proxy:
            monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
            done = cli("release", "--version", "0.1.0", cwd=workspace.root)
            assert done.exit_code == 0, done.stdout + done.stderr
        lists = [r for r in proxy.records if "list-type=2" in r.query and "lindi" in r.query]
        on_indexes = [(r.method, r.path) for r in proxy.records if r.path.startswith(folder)]
        return [("LIST", r.path) for r in lists] + on_indexes

    first = release()
    assert sorted(method for method, _ in first) == ["LIST", "PUT", "PUT", "PUT"]
    recorded = json.loads(workspace.manifest_path("0.1.0").read_text())["data_files"]

    key = "demo-project/manifests/demo-project_project_manifest_v0.1.0.json"
    s3_client.delete_object(Bucket=workspace.bucket, Key=key)  # died before its manifest
    workspace.manifest_path("0.1.0").unlink()
    again = release()

    assert sorted(method for method, _ in again) == ["HEAD", "HEAD", "HEAD", "LIST"]
    redone = json.loads(workspace.manifest_path("0.1.0").read_text())["data_files"]
    assert [e["lindi_index"] for e in redone.values()] == [
        e["lindi_index"] for e in recorded.values()
    ]
    versions = s3_client.list_object_versions(
        Bucket=workspace.bucket, Prefix="demo-project/lindi/"
    )["Versions"]
    assert len(versions) == 3


def test_an_index_is_published_as_the_text_of_its_document_with_the_pinned_url(
    tmp_path,
) -> None:
    """The published index is the cached template with the pinned URL put in place of the
    placeholder (in the templates and in each chunk's reference): byte for byte what
    `json.dumps` writes for the document with that URL; a cached index naming another URL,
    or torn, is not used."""
    import h5py
    import numpy as np

    from publishkit.formats.lindi_index import with_urls
    from publishkit.release.lindi_build import build_from_open
    from publishkit.release.lindi_indexes import _pinned_index, _template
    from tests.reading.conftest import write_session

    url = "https://b.s3.amazonaws.com/p/data/a%20b.nwb?versionId=3%2Bq%2Fx.Y_z-1"
    for rows, units in ((4, 0), (20_000, 3), (250_000, 1)):  # inline; a URL; a template
        path = write_session(tmp_path / f"s{rows}.nwb", np.ones((rows, 3)), units=units)
        cached = tmp_path / f"s{rows}.lindi.json"
        with h5py.File(path, "r") as h5:
            build_from_open(cached, h5)
        template = _template(cached)
        assert template is not None
        expected = with_urls(json.loads(cached.read_bytes()), lambda _: url)
        published = _pinned_index(template, url)
        assert published == json.dumps(expected, sort_keys=True, separators=(",", ":")).encode()
        assert (url.encode() in published) == (rows > 4)
        assert b"publishkit.invalid" not in published
        assert (rows == 250_000) == ("templates" in expected and expected["templates"] != {})

    other = tmp_path / "other.lindi.json"
    text = cached.read_bytes()
    other.write_bytes(text.replace(b"https://publishkit.invalid/pinned", b"https://x.org/f"))
    torn = tmp_path / "torn.lindi.json"
    torn.write_bytes(text[:100])
    assert _template(other) is None and _template(torn) is None


def test_files_smaller_than_an_index_needs_are_not_looked_at(
    workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a file gets an index is decided from the size the release hashed: a release of
    files under `lindi_index_min_mb` looks at none of them for their indexes (300 files: a
    stat each, every release), builds none, and still carries over the index the previous
    release recorded for a file pinned at the same version."""
    from publishkit.release.lindi_indexes import built_while_summarizing, index_work
    from publishkit.workspace.config import load_settings
    from publishkit.workspace.inventory import ReleaseFile

    settings = load_settings(workspace.root)
    files = [
        ReleaseFile("data", n, f"data/s{n}.nwb", workspace.root / "data" / f"s{n}.nwb")
        for n in ("101", "102")
    ]
    record = {"path": "lindi/data/s101.nwb.lindi.json", "version_id": "i1", "file_hash": "ab"}
    entries = {
        item.name: {"path": item.relpath, "url": "u", "version_id": f"v{item.name}", "size": 9}
        for item in files
    }
    previous: Any = {"data_files": {"101": {**entries["101"], "lindi_index": record}}}
    document: Any = {"data_files": entries}
    looked: list[Path] = []
    real = Path.stat
    monkeypatch.setattr(Path, "stat", lambda self, **kw: looked.append(self) or real(self, **kw))
    work = index_work(settings=settings, document=document, files=files, previous=previous)
    built = built_while_summarizing(
        replace(settings, lindi_index_min_mb=1),
        files,
        {item.relpath: "0" * 128 for item in files},
        {item.relpath: 9 for item in files},
    )
    assert looked == []
    assert built == {} and work.todo == []
    assert [(item.name, kept) for item, kept in work.kept] == [("101", record)]
