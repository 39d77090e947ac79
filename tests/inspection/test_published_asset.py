"""Each file's asset metadata, validated as the archive validates it before it may publish."""

from __future__ import annotations

from pathlib import Path

from dandischema.models import BareAsset

from publishkit.inspection.published_asset import published_asset_problems
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
