"""Each file's asset metadata, validated as the archive validates it before it may publish."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from dandischema.models import BareAsset
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from publishkit.inspection import published_asset
from publishkit.inspection.published_asset import (
    asset_problems,
    dandischema_problems,
    published_asset_problems,
)
from publishkit.upstream import asset_model, dandi_metadata_reader, quiet_dandi
from tests.corpus import real_nwb_corpus
from tests.nwbfactory import write_nwb


def test_metadata_dandi_cli_uploads_can_still_be_refused_at_publish(tmp_path: Path) -> None:
    nwb = write_nwb(tmp_path / "m1.nwb", subject_id="m1", session_id="s1")
    session = {
        "schemaKey": "Session",
        "id": "urn:uuid:0b1f6b3a-9d39-4d6a-8a4e-6f4b1d2c3e4f",
        "name": "s1",
        "startDate": "2024-01-02T03:04:05",  # no time zone
    }
    metadata = {
        "schemaKey": "BareAsset",
        "schemaVersion": BareAsset.model_fields["schemaVersion"].default,
        "encodingFormat": "application/x-nwb",
        "path": "m1.nwb",
        "contentSize": nwb.stat().st_size,
        "digest": {"dandi:dandi-etag": "d" * 32 + "-1"},
        "wasGeneratedBy": [session],
    }
    BareAsset(**metadata)  # what dandi-cli checks before it uploads: it passes
    assert published_asset_problems(metadata, str(nwb)) == [
        "DANDI would refuse to publish this asset: wasGeneratedBy.0.startDate: "
        "'2024-01-02T03:04:05' is not a 'date-time'"
    ]
    session["startDate"] = "2024-01-02T03:04:05+00:00"
    assert published_asset_problems(metadata, str(nwb)) == []


# --- the compiled PublishedAsset check gives dandischema's own verdicts ----------------------


@pytest.fixture(scope="module")
def corpus_assets() -> list[dict[str, Any]]:
    """The PublishedAsset document of each file of the real corpus dandi-cli can describe."""
    documents = []
    for path in sorted(real_nwb_corpus().rglob("*.nwb")):
        try:
            with quiet_dandi():
                asset = asset_model(str(path), dandi_metadata_reader()(str(path)))
        except Exception:  # a file of the corpus dandi-cli cannot read
            continue
        metadata = asset.model_dump(mode="json", exclude_none=True)
        documents.append(published_asset._as_published(metadata, str(path)))
    return documents


@pytest.mark.slow
def test_the_compiled_check_gives_dandischemas_verdict_on_the_corpus(
    corpus_assets: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(corpus_assets) >= 10
    published_asset._compiled()  # dandischema's schema compiles (it raises if not)
    for document in corpus_assets:
        assert asset_problems(document) == dandischema_problems(document)

    def never(document: dict[str, Any]) -> list[str]:
        raise AssertionError("dandischema asked about a valid asset")

    valid = [d for d in corpus_assets if not dandischema_problems(d)]
    assert valid  # the speed: a valid asset is judged by the compiled check and the model
    monkeypatch.setattr(published_asset, "dandischema_problems", never)
    for document in valid:
        assert asset_problems(document) == []


# values that the archive's schema reads closely: dates without a zone, URIs, e-mails, ids
ODD = st.sampled_from(
    [
        "2024-01-02T03:04:05",
        "2024-01-02T03:04:05+00:00",
        "2024-01-02",
        "not a uri",
        "https://example.org/x",
        "someone@example.org",
        "someone@",
        "urn:uuid:0b1f6b3a-9d39-4d6a-8a4e-6f4b1d2c3e4f",
        "dandiasset:x",
        "0" * 64,
        "",
        "P1D",
    ]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | ODD | st.text(),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=4,
)


def _places(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _places(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _places(item, (*at, index))
    return found


@pytest.mark.slow
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_compiled_check_gives_dandischemas_verdict_on_fuzzed_assets(
    corpus_assets: list[dict[str, Any]], data: st.DataObject
) -> None:
    document = copy.deepcopy(data.draw(st.sampled_from(corpus_assets)))
    for _ in range(data.draw(st.integers(0, 3))):
        place = data.draw(st.sampled_from(_places(document)[1:]))
        *parent_at, last = place
        parent = document
        for part in parent_at:
            parent = parent[part]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[last]
        else:
            parent[last] = data.draw(JSON)
    verdict = dandischema_problems(document)
    event("valid" if not verdict else "invalid")
    assert asset_problems(document) == verdict


def test_another_schema_version_is_left_to_dandischema() -> None:
    document = {"schemaVersion": "0.0.1", "schemaKey": "Asset"}
    assert asset_problems(document) == dandischema_problems(document) != []
