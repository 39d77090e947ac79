"""`PipelineResult.as_json()`: the keys scripts read, whatever fills the result."""

from __future__ import annotations

import json

import pytest

from publishkit.release.results import PipelineResult
from publishkit.workspace.settings import METADATA, StageName, StopReason

EMPTY = {
    "ok": True,
    "stages": ["inspect", "upload"],
    "skipped": ["organize"],
    "gated_by_inspection": False,
    "stopped_by_conversion": False,
    "stopped_by_dandi": False,
    "stopped_by_metadata": False,
    "stopped_by_publish": False,
    "inspection_override": None,
    "convert": None,
    "inspect": None,
    "tables": None,
    "organize": None,
    "dandi": None,
    "dandiset_metadata": None,
    "publish": None,
    "s3_upload": None,
    "release": None,
    "notes": None,
    "seconds": {"inspect": 0.5},
    "warnings": ["w"],
}


def test_a_result_that_nothing_stopped_has_every_key_in_order() -> None:
    result = PipelineResult(
        stages=(StageName.INSPECT, StageName.UPLOAD),
        skipped=("organize",),
        seconds={"inspect": 0.5},
        warnings=("w",),
    )
    assert json.dumps(result.as_json()) == json.dumps(EMPTY)  # key order too


@pytest.mark.parametrize(
    ("stopped", "flag"),
    [
        (StageName.CONVERT, "stopped_by_conversion"),
        (StageName.INSPECT, "gated_by_inspection"),
        (StageName.UPLOAD, "stopped_by_dandi"),
        (StageName.PUBLISH, "stopped_by_publish"),
        (METADATA, "stopped_by_metadata"),
    ],
)
def test_a_stopped_result_says_which_stage_stopped_it(stopped: StopReason, flag: str) -> None:
    result = PipelineResult(
        stages=(StageName.INSPECT, StageName.UPLOAD),
        skipped=("organize",),
        seconds={"inspect": 0.5},
        warnings=("w",),
        stopped=stopped,
    )
    document = result.as_json()
    error, hint = result.failure() or ("", "")
    assert document == {
        **EMPTY,
        "ok": False,
        flag: True,
        "error": error,
        "hint": hint,
        "exit_code": 1,
    }
    assert error and hint
