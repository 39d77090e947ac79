"""`publishkit.open_release`: a release read where it lies, each file at its pinned version."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import publishkit
from publishkit.errors import CheckFailed, StorageError
from publishkit.s3.bucket import has_credentials
from publishkit.s3.pinned import ReadSettings
from publishkit.sandbox.wan import WanProxy
from tests.conftest import REGION
from tests.reading.conftest import NwbReleases

pytestmark = pytest.mark.slow  # each test cuts two releases of real NWB files (~5 s)


@pytest.mark.parametrize("index", [True, False], ids=["lindi", "remfile"])
def test_each_version_reads_its_own_bytes(nwb_releases: NwbReleases, index: bool) -> None:
    ws = nwb_releases.workspace
    for version in ("0.1.0", "0.2.0"):
        release = publishkit.open_release(ws.manifest_path(version), read=nwb_releases.read)
        assert release.version == version
        with release.open_nwb("101", index=index) as nwbfile:
            dataset = nwbfile.acquisition["signal"].data
            data = dataset[:1000, :5]
        assert type(dataset).__module__.startswith("lindi" if index else "h5py")
        assert np.array_equal(data, nwb_releases.signals[(version, "101")][:1000, :5])


def test_files_tables_and_summaries(nwb_releases: NwbReleases) -> None:
    release = publishkit.open_release(
        nwb_releases.workspace.manifest_path("0.2.0"), read=nwb_releases.read
    )
    entries = json.loads(nwb_releases.workspace.manifest_path("0.2.0").read_text())
    by_id = {f.id: f for f in release.files}
    assert set(by_id) == {"sessions", "101", "102"}
    s101 = by_id["101"]
    entry = entries["data_files"]["101"]
    assert (s101.path, s101.size, s101.hashes["blake2b"]) == (
        "data/s101.nwb",
        entry["size"],
        entry["file_hash"],
    )
    assert s101.url == f"{entry['url']}?versionId={entry['version_id']}"
    assert s101.index is not None and s101.index["path"] == "lindi/data/s101.nwb.lindi.json"
    table = release.table("sessions")
    assert list(table["file_id"]) == ["101", "102"]
    units = {file_id: s["objects"]["units"]["rows"] for file_id, s in release.summaries().items()}
    assert units == {"101": 5, "102": 400}


def test_an_index_whose_hash_differs_from_the_manifest_is_refused(
    nwb_releases: NwbReleases, tmp_path
) -> None:
    document = json.loads(nwb_releases.workspace.manifest_path("0.1.0").read_text())
    document["data_files"]["101"]["lindi_index"]["file_hash"] = "0" * 128
    edited = tmp_path / "demo-project_project_manifest_v0.1.0.json"
    edited.write_text(json.dumps(document))
    release = publishkit.open_release(edited, read=nwb_releases.read)

    with pytest.raises(CheckFailed) as refused:
        release.open_nwb("101")

    message = str(refused.value)
    assert "\n" not in message and "LINDI index" in message and "manifest says 0000" in message


def test_unchanged_files_keep_their_index_and_changed_ones_get_a_new_one(
    nwb_releases: NwbReleases, s3_client
) -> None:
    ws = nwb_releases.workspace
    old, new = (
        json.loads(ws.manifest_path(v).read_text())["data_files"] for v in ("0.1.0", "0.2.0")
    )
    assert new["102"]["lindi_index"] == old["102"]["lindi_index"]
    built = sorted(p.name[:32] for p in (ws.root / ".publishkit" / "lindi").glob("*.lindi.json"))
    contents = {old["101"]["file_hash"], old["102"]["file_hash"], new["101"]["file_hash"]}
    assert built == sorted(c[:32] for c in contents)  # one build per content
    assert new["101"]["lindi_index"]["version_id"] != old["101"]["lindi_index"]["version_id"]
    for file_id, versions in (("101", 2), ("102", 1)):
        key = f"demo-project/lindi/data/s{file_id}.nwb.lindi.json"
        listed = s3_client.list_object_versions(Bucket=ws.bucket, Prefix=key)["Versions"]
        assert len(listed) == versions
    index = s3_client.get_object(
        Bucket=ws.bucket,
        Key="demo-project/lindi/data/s101.nwb.lindi.json",
        VersionId=new["101"]["lindi_index"]["version_id"],
    )["Body"].read()
    pinned = f"{new['101']['url']}?versionId={new['101']['version_id']}"
    urls = {ref[0] for ref in json.loads(index)["refs"].values() if isinstance(ref, list)}
    assert urls == {pinned}


def test_an_index_pointing_at_another_version_is_refused(
    nwb_releases: NwbReleases, s3_client, tmp_path
) -> None:
    ws = nwb_releases.workspace
    old, new = (json.loads(ws.manifest_path(v).read_text()) for v in ("0.1.0", "0.2.0"))
    record = old["data_files"]["101"]["lindi_index"]
    index = json.loads(
        s3_client.get_object(
            Bucket=ws.bucket, Key=f"demo-project/{record['path']}", VersionId=record["version_id"]
        )["Body"].read()
    )
    elsewhere = (
        f"{new['data_files']['101']['url']}?versionId={new['data_files']['101']['version_id']}"
    )
    for ref in index["refs"].values():
        if isinstance(ref, list):
            ref[0] = elsewhere
    data = json.dumps(index).encode()
    key = "demo-project/lindi/forged.lindi.json"
    version = s3_client.put_object(Bucket=ws.bucket, Key=key, Body=data)["VersionId"]
    old["data_files"]["101"]["lindi_index"] = {
        "path": "lindi/forged.lindi.json",
        "version_id": version,
        "file_hash": hashlib.blake2b(data).hexdigest(),
    }
    edited = tmp_path / "demo-project_project_manifest_v0.1.0.json"
    edited.write_text(json.dumps(old))

    with pytest.raises(CheckFailed, match="not the pinned version"):
        publishkit.open_release(edited, read=nwb_releases.read).open_nwb("101")


@pytest.mark.parametrize("index", [True, False], ids=["lindi", "remfile"])
def test_a_deleted_or_replaced_latest_version_does_not_change_pinned_reads(
    nwb_releases: NwbReleases, s3_client, index: bool
) -> None:
    ws = nwb_releases.workspace
    s3_client.put_object(Bucket=ws.bucket, Key="demo-project/data/s101.nwb", Body=b"replaced")
    for key in ("demo-project/data/s101.nwb", "demo-project/project_metadata/sessions.csv"):
        s3_client.delete_object(Bucket=ws.bucket, Key=key)  # the latest is a delete marker

    for version in ("0.1.0", "0.2.0"):
        release = publishkit.open_release(ws.manifest_path(version), read=nwb_releases.read)
        with release.open_nwb("101", index=index) as nwbfile:
            data = nwbfile.acquisition["signal"].data[:1000, :5]
        assert np.array_equal(data, nwb_releases.signals[(version, "101")][:1000, :5])
        assert list(release.table("sessions")["file_id"]) == ["101", "102"]


def test_a_public_bucket_is_read_without_credentials(
    nwb_releases: NwbReleases, monkeypatch, s3_server
) -> None:
    ws = nwb_releases.workspace
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert not has_credentials()
    manifest_url = (
        f"{s3_server.endpoint_url}/{ws.bucket}/demo-project/manifests/"
        "demo-project_project_manifest_v0.1.0.json"
    )
    for source, version in (
        (f"s3://{ws.bucket}/demo-project", "0.1.0"),
        (manifest_url, None),
        (f"s3://{ws.bucket}/demo-project", None),  # the latest
    ):
        release = publishkit.open_release(source, version, read=nwb_releases.read)
        expected = version or "0.2.0" if source.startswith("s3") else "0.1.0"
        assert release.version == expected
        for index in (True, False):
            with release.open_nwb("102", index=index) as nwbfile:
                data = nwbfile.acquisition["signal"].data[:10]
            assert np.array_equal(data, nwb_releases.signals[(expected, "102")][:10])
        assert release.summaries()["102"]["objects"]["units"]["rows"] == 400


def test_read_ahead_can_be_turned_off(nwb_releases: NwbReleases, s3_server) -> None:
    expected = nwb_releases.signals[("0.1.0", "101")][:10, :5]
    down: dict[bool, tuple[int, int]] = {}
    with WanProxy(s3_server.endpoint_url) as wan:  # counts the bytes each way
        read = ReadSettings(region=REGION, endpoint_url=wan.endpoint_url)
        release = publishkit.open_release(nwb_releases.workspace.manifest_path("0.1.0"), read=read)
        for read_ahead in (True, False):
            wan.reset_counts()
            with release.open_nwb("101", index=False, read_ahead=read_ahead) as nwbfile:
                assert np.array_equal(nwbfile.acquisition["signal"].data[:10, :5], expected)
            down[read_ahead] = (wan.traffic().bytes_down, wan.traffic().connections)
    # without read-ahead: fewer bytes, in more (smaller) requests
    assert down[False][0] < down[True][0] and down[False][1] > down[True][1], down


def test_a_release_read_from_its_bucket_opens_an_index_on_the_manifests_connection(
    nwb_releases: NwbReleases, s3_server
) -> None:
    """S3 keeps a connection open between requests (moto closes each one: a keep-alive proxy
    in front of it stands in for S3): the listing of the manifests, the manifest and the
    LINDI index come over one connection, so opening a file costs one round trip, not two
    (a TCP connect and the GET)."""
    from tests.faultproxy import FaultProxy

    ws = nwb_releases.workspace
    with FaultProxy(s3_server.endpoint_url) as s3, WanProxy(s3.url) as wan:
        read = ReadSettings(region=REGION, endpoint_url=wan.endpoint_url)
        release = publishkit.open_release(f"s3://{ws.bucket}/demo-project", "0.2.0", read=read)
        with release.open_nwb("101") as nwbfile:
            names = {o.name for o in nwbfile.objects.values()}
        requests = [(r.method, r.path.partition("?")[0]) for r in s3.records]
    assert "units" in names and "signal" in names
    assert [method for method, _ in requests] == ["GET", "GET", "GET"], requests
    assert requests[-1][1].endswith("lindi/data/s101.nwb.lindi.json")
    assert wan.traffic().connections == 1


def test_the_index_is_on_its_way_while_the_reader_is_prepared(
    nwb_releases: NwbReleases, s3_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open_nwb sends the index's GET first, then prepares what does not need its bytes (here
    the type map of a first open): that work is done while the GET crosses the network."""
    import pynwb

    from publishkit.reading import nwb_stream
    from publishkit.s3.bucket import S3Bucket

    events: list[str] = []
    real_get, real_type_map = S3Bucket.get_bytes, pynwb.get_type_map

    def get_bytes(self: S3Bucket, key: str, version_id: str | None = None) -> bytes | None:
        events.append(f"sent {key.rpartition('.')[2]}")
        data = real_get(self, key, version_id)
        events.append(f"answered {key.rpartition('.')[2]}")
        return data

    def get_type_map(*args: object, **kwargs: object) -> object:
        events.append("type map")
        return real_type_map(*args, **kwargs)

    monkeypatch.setattr(S3Bucket, "get_bytes", get_bytes)
    monkeypatch.setattr(pynwb, "get_type_map", get_type_map)
    monkeypatch.setattr(nwb_stream, "_TYPE_MAPS", {})  # a first open: the type map is made
    with WanProxy(s3_server.endpoint_url, latency_ms=200) as wan:
        read = ReadSettings(region=REGION, endpoint_url=wan.endpoint_url)
        release = publishkit.open_release(nwb_releases.workspace.manifest_path("0.1.0"), read=read)
        with release.open_nwb("101") as nwbfile:
            data = nwbfile.acquisition["signal"].data[:10, :5]
    assert np.array_equal(data, nwb_releases.signals[("0.1.0", "101")][:10, :5])
    assert events.count("type map") == 1 and events.count("answered json") == 1, events
    assert events.index("type map") < events.index("answered json"), events  # in its shadow


def test_an_index_version_gone_from_the_bucket_is_named_in_one_line(
    nwb_releases: NwbReleases, s3_client
) -> None:
    ws = nwb_releases.workspace
    record = json.loads(ws.manifest_path("0.1.0").read_text())["data_files"]["101"]["lindi_index"]
    key = f"demo-project/{record['path']}"
    s3_client.delete_object(Bucket=ws.bucket, Key=key, VersionId=record["version_id"])
    release = publishkit.open_release(ws.manifest_path("0.1.0"), read=nwb_releases.read)

    with pytest.raises(StorageError) as gone:  # raised in the GET's thread, then here
        release.open_nwb("101")

    message = str(gone.value)
    assert "\n" not in message and key in message and "is gone from the bucket" in message
    assert "index=False" in (gone.value.hint or "")
    with release.open_nwb("101", index=False) as nwbfile:  # the way the hint gives still reads
        data = nwbfile.acquisition["signal"].data[:10, :5]
    assert np.array_equal(data, nwb_releases.signals[("0.1.0", "101")][:10, :5])
