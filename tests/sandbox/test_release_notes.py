"""The local archive takes a version's release notes as dandi-archive does: `releaseNotes` is a
field the archive computes (stripped from a draft's metadata), the notes come with the publish
request (`release_notes`, at most 5000 characters) and become the published version's
`releaseNotes`; the versions listing shows them. Driven over raw HTTP."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import requests

from publishkit.sandbox.archive import DandiSandbox
from publishkit.sandbox.archive.db import Database
from tests.sandbox.test_archive import dandi_etag, upload_blob
from tests.sandbox.test_validation import GOOD, ran


def test_release_notes_come_with_the_publish_and_only_the_published_version_has_them(
    archive: DandiSandbox,
) -> None:
    api, auth = archive.api_url, {"Authorization": f"token {archive.api_key}"}
    dandiset = archive.create_dandiset("Two mice")
    draft = f"{api}/dandisets/{dandiset}/versions/draft/"
    sent = {**GOOD, "releaseNotes": "set by the client"}
    requests.put(draft, json={"name": "Two mice", "metadata": sent}, headers=auth, timeout=30)
    assert "releaseNotes" not in requests.get(draft, timeout=30).json()
    data = b"two mice " * 200
    blob = upload_blob(api, auth, dandiset, data, dandi_etag(data)).json()["blob_id"]
    asset = {"schemaKey": "Asset", "encodingFormat": "application/x-nwb", "path": "sub-m1/a.nwb"}
    added = requests.post(
        f"{draft}assets/", json={"blob_id": blob, "metadata": asset}, headers=auth, timeout=30
    )
    assert added.status_code == 200
    assert ran(archive, f"{draft}info/")["status"] == "Valid"

    for notes, refusal in (("x" * 5001, "no more than 5000 characters"), (["x"], "valid string")):
        refused = requests.post(
            f"{draft}publish/", json={"release_notes": notes}, headers=auth, timeout=30
        )
        assert refused.status_code == 400 and refusal in refused.json()["release_notes"][0]
        assert requests.get(f"{draft}info/", timeout=30).json()["status"] == "Valid"

    notes = "Fixed the wheel speeds: https://example.org/study/release_notes.md"
    started = requests.post(
        f"{draft}publish/", json={"release_notes": notes}, headers=auth, timeout=30
    )
    assert started.status_code == 202
    assert ran(archive, f"{draft}info/")["status"] == "Published"
    listed = requests.get(f"{api}/dandisets/{dandiset}/versions/", timeout=30).json()["results"]
    (version,) = [v["version"] for v in listed if v["version"] != "draft"]
    assert {v["version"]: v["release_notes"] for v in listed} == {"draft": "", version: notes}
    published = requests.get(f"{api}/dandisets/{dandiset}/versions/{version}/", timeout=30)
    assert published.json()["releaseNotes"] == notes
    assert "releaseNotes" not in requests.get(draft, timeout=30).json()


def test_an_archive_file_from_before_release_notes_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE versions (dandiset_id INTEGER NOT NULL, version TEXT NOT NULL,"
            " name TEXT NOT NULL, metadata TEXT NOT NULL, status TEXT NOT NULL,"
            " created TEXT NOT NULL, modified TEXT NOT NULL,"
            " validation_errors TEXT NOT NULL DEFAULT '[]', PRIMARY KEY (dandiset_id, version))"
        )
        old.execute("INSERT INTO versions VALUES (1, 'draft', 'n', '{}', 'Valid', 't', 't', '[]')")
    old.close()
    Database(path).close()
    with sqlite3.connect(path) as reopened:
        (notes,) = reopened.execute("SELECT release_notes FROM versions").fetchone()
    reopened.close()
    assert notes == ""
