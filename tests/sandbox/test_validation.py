"""The local archive validates and publishes as DANDI does: metadata checked with dandischema
when it arrives, an honest draft status, the archive's publish preconditions and path rule,
published versions immutable; driven over raw HTTP."""

from __future__ import annotations

from typing import Any

import requests

from publishkit.sandbox.archive import DandiSandbox
from tests.sandbox.test_archive import dandi_etag, upload_blob

GOOD = {
    "name": "Two mice",
    "description": "Running speed of two mice.",
    "license": ["spdx:CC0-1.0"],
    "contributor": [
        {
            "schemaKey": "Person",
            "name": "Doe, Jane",
            "email": "jane@example.org",
            "roleName": ["dcite:ContactPerson"],
        }
    ],
}


def ran(archive: DandiSandbox, url: str) -> dict[str, Any]:
    """The draft's info after one round of the archive's tasks."""
    archive.tasks.run_once()
    return dict(requests.get(url, timeout=30).json())


def test_the_draft_is_validated_published_with_the_archives_preconditions_and_frozen(
    archive: DandiSandbox,
) -> None:
    api, auth = archive.api_url, {"Authorization": f"token {archive.api_key}"}
    dandiset = archive.create_dandiset("Two mice")
    other = archive.create_dandiset("Deleted")
    draft = f"{api}/dandisets/{dandiset}/versions/draft/"
    info = requests.get(f"{api}/info/", timeout=30).json()
    assert info["instance_config"]["licenses"] and info["schema_version"]

    # malformed metadata is stored, refused by validation, and breaks no listing
    put = requests.put(
        draft, json={"name": "x", "metadata": {"contributor": "nobody"}}, headers=auth
    )
    assert put.status_code == 200 and put.json()["status"] == "Pending"
    assert requests.get(f"{api}/dandisets/", timeout=30).status_code == 200
    invalid = ran(archive, f"{draft}info/")
    assert invalid["status"] == "Invalid"
    assert {"field": "contributor", "message": "'nobody' is not of type 'array'"} in invalid[
        "version_validation_errors"
    ]
    empty = requests.post(f"{draft}publish/", headers=auth, timeout=30)
    assert (empty.status_code, empty.json()) == (
        400,
        "Dandiset metadata or asset metadata is not valid",
    )

    # the archive's path rule, as dandi-archive words it
    data = b"two mice " * 200
    blob = upload_blob(api, auth, dandiset, data, dandi_etag(data)).json()["blob_id"]
    # [ and ^ lie in the A-z range the archive writes; its rule means letters (dandi_paths.py)
    for path in (
        "sub-Maus-ü1/a.nwb",
        "sub-m1/a..nwb",
        "sub-m@1/a.nwb",
        "sub-m[1]/a.nwb",
        "sub-^/a",
    ):
        refused = requests.post(
            f"{draft}assets/", json={"blob_id": blob, "metadata": {"path": path}}, headers=auth
        )
        assert refused.status_code == 400
        assert refused.json() == {"non_field_errors": ["Path improperly formatted"]}
    asset_body = {"schemaKey": "Asset", "encodingFormat": "application/x-nwb"}
    made = requests.post(
        f"{draft}assets/",
        json={"blob_id": blob, "metadata": {**asset_body, "path": "sub-m1/sub-m1.nwb"}},
        headers=auth,
    ).json()
    requests.put(
        draft, json={"name": "Two mice", "metadata": GOOD}, headers=auth
    ).raise_for_status()
    waiting = requests.get(f"{draft}info/", timeout=30).json()
    assert waiting["status"] == "Pending"
    assert waiting["asset_validation_errors"] == [
        {
            "field": "",
            "message": "asset is currently being validated, please wait.",
            "path": "sub-m1/sub-m1.nwb",
        }
    ]
    pending = requests.post(f"{draft}publish/", headers=auth, timeout=30)
    assert (pending.status_code, pending.json()) == (
        409,
        "Metadata validation is pending for this dandiset, please try again later.",
    )
    valid = ran(archive, f"{draft}info/")
    assert valid["status"] == "Valid" and valid["asset_validation_errors"] == []
    validation = requests.get(f"{draft}assets/{made['asset_id']}/validation/", timeout=30)
    assert validation.json() == {"status": "Valid", "validation_errors": []}

    started = requests.post(f"{draft}publish/", headers=auth, timeout=30)
    assert started.status_code == 202
    assert requests.get(f"{draft}info/", timeout=30).json()["status"] == "Publishing"
    assert ran(archive, f"{draft}info/")["status"] == "Published"
    listed = requests.get(
        f"{api}/dandisets/{dandiset}/versions/", params={"order": "-created"}, timeout=30
    ).json()["results"]
    version = listed[0]["version"]
    assert [v["version"] for v in listed] == [version, "draft"]
    metadata = requests.get(f"{api}/dandisets/{dandiset}/versions/{version}/", timeout=30).json()
    assert metadata["datePublished"] and metadata["publishedBy"]["schemaKey"] == "PublishActivity"
    assert metadata["url"].endswith(f"/dandiset/{dandiset}/{version}")
    again = requests.post(f"{draft}publish/", headers=auth, timeout=30)
    assert again.json() == "There have been no changes to the draft version since the last publish."

    # a published version does not change; its dandiset cannot be deleted, another can
    frozen = f"{api}/dandisets/{dandiset}/versions/{version}/"
    assert (
        requests.put(frozen, json={"name": "y", "metadata": GOOD}, headers=auth).status_code == 405
    )
    new_asset = {"blob_id": blob, "metadata": {**asset_body, "path": "sub-m2/sub-m2.nwb"}}
    assert requests.post(f"{frozen}assets/", json=new_asset, headers=auth).status_code == 405
    kept = requests.delete(f"{api}/dandisets/{dandiset}/", headers=auth, timeout=30)
    assert (kept.status_code, kept.json()) == (
        403,
        "Cannot delete dandisets with published versions.",
    )
    assert requests.delete(f"{api}/dandisets/{other}/", timeout=30).status_code == 401
    assert requests.delete(f"{api}/dandisets/{other}/", headers=auth, timeout=30).status_code == 204
    assert requests.get(f"{api}/dandisets/{other}/", timeout=30).status_code == 404
