"""The local DANDI archive, driven by the real dandi-cli (upload, ls, download) and by raw HTTP."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from dandischema.digests.dandietag import ETagHashlike

from publishkit.sandbox.archive import DandiSandbox
from tests.nwbfactory import write_nwb

REGION = "us-west-2"
_DANDI_EXE = Path(sys.executable).with_name("dandi")
DANDI = (
    [str(_DANDI_EXE)]
    if _DANDI_EXE.exists()
    else [sys.executable, "-c", "from dandi.cli.command import main; main()"]
)


def dandi_env(archive: DandiSandbox, home: Path, api_key: str | None = None) -> dict[str, str]:
    """dandi-cli reads the key of instance "127.0.0.1:<port>" from "127.0.0.1:<PORT>_API_KEY";
    DANDI_API_KEY is only for the "dandi" instance. Keyring fails loudly if ever consulted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANDI")}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        DANDI_CACHE="ignore",
        DANDI_NO_ET="1",  # no etelemetry version check over the network
        PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring",
    )
    env[archive.api_key_env_var] = archive.api_key if api_key is None else api_key
    return env


def dandi(
    env: dict[str, str], *args: str, cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*DANDI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    if check and result.returncode != 0:
        raise AssertionError(f"dandi {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def api_assets(
    archive: DandiSandbox, dandiset: str, version: str = "draft"
) -> list[dict[str, Any]]:
    url = f"{archive.api_url}/dandisets/{dandiset}/versions/{version}/assets/"
    body = requests.get(url, timeout=30).json()
    assert body["next"] is None
    return list(body["results"])


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix == ".nwb"
    }


@pytest.mark.slow
def test_dandi_cli_uploads_lists_downloads_and_replaces(
    archive: DandiSandbox, tmp_path: Path
) -> None:
    dandiset = archive.create_dandiset("Two mice")
    assert dandiset == "000001"
    api = archive.api_url
    env = dandi_env(archive, tmp_path / "home")
    work = tmp_path / "work"
    work.mkdir()

    # dandiset.yaml from the archive, then the files organised into DANDI layout
    dandi(env, "download", f"{api}/dandisets/{dandiset}/", cwd=work)
    local = work / dandiset
    assert "identifier: DANDI:000001" in (local / "dandiset.yaml").read_text()
    write_nwb(work / "raw" / "a.nwb", subject_id="mouse1", session_id="ses1")
    write_nwb(work / "raw" / "b.nwb", subject_id="mouse2", session_id="ses2")
    dandi(env, "organize", "-d", str(local), "-f", "copy", str(work / "raw"), cwd=work)
    files = tree(local)
    assert sorted(files) == [
        "sub-mouse1/sub-mouse1_ses-ses1.nwb",
        "sub-mouse2/sub-mouse2_ses-ses2.nwb",
    ]

    # upload with validation on (works offline), then list
    dandi(env, "upload", "-i", api, cwd=local)
    assets = api_assets(archive, dandiset)
    assert sorted(a["path"] for a in assets) == sorted(files)
    listing = dandi(env, "ls", "-r", "-f", "json", f"{api}/dandisets/{dandiset}/", cwd=work)
    records = json.loads(listing.stdout)
    assert records[0]["path"] == dandiset and records[0]["asset_count"] == 2
    assert sorted(r["path"] for r in records[1:]) == sorted(files)

    # download the draft elsewhere: byte-identical, same layout, digests checked by dandi-cli
    out = tmp_path / "download"
    out.mkdir()
    dandi(env, "download", "-o", str(out), f"{api}/dandisets/{dandiset}/versions/draft/", cwd=work)
    assert tree(out / dandiset) == files
    assert (out / dandiset / "dandiset.yaml").exists()

    # uploading again changes nothing
    dandi(env, "upload", "-i", api, cwd=local)
    assert api_assets(archive, dandiset) == assets

    # a changed file replaces its asset: a new asset and blob, still two assets
    changed = local / "sub-mouse1" / "sub-mouse1_ses-ses1.nwb"
    write_nwb(work / "raw" / "a2.nwb", subject_id="mouse1", session_id="ses1", samples=500)
    changed.write_bytes((work / "raw" / "a2.nwb").read_bytes())
    dandi(env, "upload", "-i", api, cwd=local)
    after = {a["path"]: a for a in api_assets(archive, dandiset)}
    before = {a["path"]: a for a in assets}
    assert sorted(after) == sorted(before)
    path = "sub-mouse1/sub-mouse1_ses-ses1.nwb"
    assert after[path]["asset_id"] != before[path]["asset_id"]
    assert after[path]["blob"] != before[path]["blob"]
    assert after[path]["size"] == changed.stat().st_size
    other = "sub-mouse2/sub-mouse2_ses-ses2.nwb"
    assert after[other] == before[other]
    out2 = tmp_path / "download2"
    out2.mkdir()
    dandi(env, "download", "-o", str(out2), f"{api}/dandisets/{dandiset}/", cwd=work)
    assert tree(out2 / dandiset) == tree(local)


def test_dandi_cli_upload_with_a_wrong_key_fails(archive: DandiSandbox, tmp_path: Path) -> None:
    dandiset = archive.create_dandiset("Locked")
    local = tmp_path / dandiset
    (local).mkdir()
    (local / "dandiset.yaml").write_text(f"identifier: DANDI:{dandiset}\n")
    write_nwb(local / "sub-m1" / "sub-m1_ses-s1.nwb", subject_id="m1", session_id="s1")
    env = dandi_env(archive, tmp_path / "home", api_key="0" * 40)
    args = ("upload", "-i", archive.api_url, "--validation", "skip")
    result = dandi(env, *args, cwd=local, check=False)
    assert result.returncode == 1
    assert "Error 401 while sending GET request" in result.stderr
    assert '/auth/token: {"detail": "Invalid token."}' in result.stderr
    assert "keyring" not in result.stderr.lower()
    # DANDI_API_KEY is not this instance's variable: dandi-cli asks the keyring (which fails)
    env = dandi_env(archive, tmp_path / "home")
    del env[archive.api_key_env_var]
    env["DANDI_API_KEY"] = archive.api_key
    result = dandi(env, *args, cwd=local, check=False)
    assert result.returncode == 1
    assert "Error: No recommended backend was available" in result.stderr  # the failing keyring
    assert "401" not in result.stderr  # no key was sent, right or wrong
    assert api_assets(archive, dandiset) == []


# -- the API without dandi-cli --------------------------------------------------------------


def upload_blob(api: str, headers: dict[str, str], dandiset: str, data: bytes, etag: str) -> Any:
    """initialize, PUT the parts to S3, complete, validate: the validate response."""
    start = requests.post(
        f"{api}/uploads/initialize/",
        json={
            "contentSize": len(data),
            "digest": {"algorithm": "dandi:dandi-etag", "value": etag},
            "dandiset": dandiset,
        },
        headers=headers,
        timeout=30,
    )
    if start.status_code != 200:
        return start
    parts = []
    for part in start.json()["parts"]:
        offset = (part["part_number"] - 1) * part["size"]
        put = requests.put(
            part["upload_url"], data=data[offset : offset + part["size"]], timeout=30
        )
        put.raise_for_status()
        parts.append({**part, "etag": put.headers["ETag"].strip('"')})
    upload_id = start.json()["upload_id"]
    complete = requests.post(
        f"{api}/uploads/{upload_id}/complete/", json={"parts": parts}, headers=headers, timeout=30
    ).json()
    requests.post(complete["complete_url"], data=complete["body"], timeout=30).raise_for_status()
    return requests.post(f"{api}/uploads/{upload_id}/validate/", headers=headers, timeout=30)


def dandi_etag(data: bytes) -> str:
    hasher = ETagHashlike(len(data))
    hasher.update(data)
    return hasher.hexdigest()


def test_api_uploads_dedups_paginates_replaces_and_redirects(archive: DandiSandbox) -> None:
    api, dandiset = archive.api_url, archive.create_dandiset("API")
    auth = {"Authorization": f"token {archive.api_key}"}
    info = requests.get(f"{api}/info/", timeout=30).json()
    assert info["services"]["api"]["url"] == api and info["schema_version"]
    assert requests.get(f"{api}/auth/token", headers=auth, timeout=30).json() == archive.api_key

    data = b"some bytes " * 1000
    etag = dandi_etag(data)
    anonymous = upload_blob(api, {}, dandiset, data, etag)
    assert anonymous.status_code == 401
    blob = upload_blob(api, auth, dandiset, data, etag)
    assert blob.status_code == 200, blob.text
    blob_id = blob.json()["blob_id"]
    assert blob.json() == {
        "blob_id": blob_id,
        "etag": etag,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    again = upload_blob(api, auth, dandiset, data, etag)
    assert again.status_code == 409 and again.headers["Location"] == blob_id
    for algorithm, value in [("dandi:dandi-etag", etag), ("dandi:sha2-256", blob.json()["sha256"])]:
        found = requests.post(
            f"{api}/blobs/digest/", json={"algorithm": algorithm, "value": value}, timeout=30
        )
        assert found.json()["blob_id"] == blob_id
    # bytes that are not what the announced dandi-etag describes are refused on validate
    lie = upload_blob(api, auth, dandiset, b"other bytes" * 1000, dandi_etag(b"x" * 11000))
    assert lie.status_code == 400 and "ETag" in lie.text

    assets_url = f"{api}/dandisets/{dandiset}/versions/draft/assets/"
    made = []
    for path in ["a/one.nwb", "a/two.nwb", "b/three.nwb"]:
        body = {"blob_id": blob_id, "metadata": {"path": path, "schemaKey": "Asset"}}
        response = requests.post(assets_url, json=body, headers=auth, timeout=30)
        assert response.status_code == 200, response.text
        made.append(response.json())
    for path in ["a/one.nwb", "a/one.nwb/x.nwb", "b"]:
        body = {"blob_id": blob_id, "metadata": {"path": path}}
        assert requests.post(assets_url, json=body, headers=auth, timeout=30).status_code == 409

    page = requests.get(assets_url, params={"page_size": 2}, timeout=30).json()
    assert page["count"] == 3 and len(page["results"]) == 2
    assert page["next"] == f"{assets_url}?page_size=2&page=2"
    last = requests.get(page["next"], timeout=30).json()
    assert [a["path"] for a in last["results"]] == ["b/three.nwb"] and last["next"] is None
    prefixed = requests.get(assets_url, params={"path": "a/"}, timeout=30).json()
    assert [a["path"] for a in prefixed["results"]] == ["a/one.nwb", "a/two.nwb"]

    first = made[0]
    metadata = requests.get(f"{assets_url}{first['asset_id']}/", timeout=30).json()
    assert metadata["digest"]["dandi:dandi-etag"] == etag
    assert metadata["contentSize"] == len(data) and metadata["path"] == "a/one.nwb"
    download = requests.get(metadata["contentUrl"][0], allow_redirects=False, timeout=30)
    assert download.status_code == 302
    assert requests.get(download.headers["Location"], timeout=30).content == data

    same = {"blob_id": blob_id, "metadata": first["metadata"]}
    unchanged = requests.put(
        f"{assets_url}{first['asset_id']}/", json=same, headers=auth, timeout=30
    )
    assert unchanged.json()["asset_id"] == first["asset_id"]
    edited = {"blob_id": blob_id, "metadata": {**first["metadata"], "keywords": ["new"]}}
    replaced = requests.put(
        f"{assets_url}{first['asset_id']}/", json=edited, headers=auth, timeout=30
    )
    assert replaced.status_code == 200 and replaced.json()["asset_id"] != first["asset_id"]
    listed = requests.get(assets_url, timeout=30).json()
    assert listed["count"] == 3
    assert first["asset_id"] not in {a["asset_id"] for a in listed["results"]}
    gone = requests.get(f"{assets_url}{first['asset_id']}/", timeout=30)
    assert gone.status_code == 404
