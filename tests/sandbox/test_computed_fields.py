"""The local archive strips exactly the fields publishing leaves to the archive: one list
(formats/dandi_computed.py), so a field publishing sends is never silently dropped by the
sandbox, and a field the sandbox recomputes is never compared by publishing."""

from __future__ import annotations

import requests

from publishkit.dandi.metadata import COMPUTED, dandiset_document
from publishkit.formats.dandi_computed import VERSION_FILLED, VERSION_STRIPPED
from publishkit.sandbox.archive import DandiSandbox
from tests.sandbox.test_validation import GOOD

SENT = "sent by a client"


def test_what_the_archive_recomputes_is_what_publishing_leaves_out(archive: DandiSandbox) -> None:
    auth = {"Authorization": f"token {archive.api_key}"}
    dandiset = archive.create_dandiset("Two mice")
    draft = f"{archive.api_url}/dandisets/{dandiset}/versions/draft/"
    sent = {**GOOD, **{key: SENT for key in (VERSION_STRIPPED | VERSION_FILLED) - {"name"}}}
    put = requests.put(draft, json={"name": "Two mice", "metadata": sent}, headers=auth, timeout=30)
    assert put.status_code == 200, put.text
    stored = requests.get(draft, timeout=30).json()

    recomputed = {key for key in sent if stored.get(key) != sent[key]}
    assert recomputed == set(COMPUTED)  # every computed field replaced, nothing else touched
    assert stored["name"] == "Two mice"  # stripped from the metadata, kept as the version's name
    assert stored["description"] == GOOD["description"]

    document = dandiset_document({**sent, "name": "Two mice"})
    assert not set(document) & set(COMPUTED)  # publishing sends none of them
    assert document["name"] == "Two mice"  # and sends the name, which the client decides
