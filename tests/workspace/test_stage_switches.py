"""Which stages publishkit.yaml enables: one property per stage on the settings, the stage
names a typed value, and "metadata" a reason a run stops, not a stage."""

from __future__ import annotations

from pathlib import Path

import pytest

from publishkit.release.pipeline import STAGE_NAMES, STAGES, enabled_stages, select_stages
from publishkit.workspace.config import load_settings
from publishkit.workspace.settings import METADATA, Settings, StageName

DANDI = "dandi:\n  instance: dandi-sandbox\n  dandiset: '000123'\n"
S3 = "s3:\n  bucket: demo-release\n"


def settings_of(tmp_path: Path, text: str) -> Settings:
    (tmp_path / "publishkit.yaml").write_text("project: demo\n" + text)
    return load_settings(tmp_path)


@pytest.mark.parametrize(
    ("sections", "enabled"),
    [
        ("", set()),
        (S3, {"upload", "manifest", "notes"}),
        (DANDI, {"organize", "upload"}),
        (
            DANDI.replace("'000123'\n", "'000123'\n  publish: false\n") + S3,
            {"organize", "upload", "manifest", "notes"},
        ),
        ("inspection: {}\n", {"inspect"}),
        (
            DANDI + "  metadata: dandiset.yaml\n  publish: true\n" + S3,
            {"organize", "upload", "publish", "manifest", "notes"},
        ),
        ("dandi:\n  instance: dandi-sandbox\n", set()),  # no dandiset: DANDI is not enabled
    ],
)
def test_each_stage_is_enabled_by_its_property(
    tmp_path: Path, sections: str, enabled: set[str]
) -> None:
    settings = settings_of(tmp_path, sections)
    assert {stage for stage in StageName if settings.enables(stage)} == enabled
    assert enabled_stages(settings) == enabled  # the release asks the same properties
    assert settings.uploads == (settings.dandi_enabled or settings.s3_enabled)
    assert settings.writes_manifest == settings.writes_notes == settings.s3_enabled
    assert settings.dandi_target == (
        ("dandi-sandbox", "000123") if "dandiset" in sections else None
    )


def test_the_stages_are_the_stage_names_in_order_and_metadata_is_none_of_them() -> None:
    assert STAGE_NAMES == tuple(StageName) == tuple(stage.name for stage in STAGES)
    assert all(name == name.name.lower() for name in StageName)  # typed, and still the word
    assert METADATA not in set(StageName)
    with pytest.raises(ValueError):
        StageName(METADATA)
    assert all(type(name) is StageName for name in select_stages("inspect", "notes"))
    assert select_stages(only="convert") == (StageName.CONVERT,)
