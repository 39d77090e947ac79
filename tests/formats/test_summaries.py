"""NWB summaries: the published document, what changed between two, and how notes word it."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import zlib
from typing import Any

import pytest

from publishkit.errors import ManifestError
from publishkit.formats.content_changes import LIMIT, nwb_lines
from publishkit.formats.schemas import compiled, listed
from publishkit.formats.summaries import (
    content_key,
    diff_summaries,
    encode,
    parse_summaries,
    summaries_document,
)

OLD = {
    "session": {"identifier": "a", "session_start_time": "2024-01-02T03:04:05+00:00"},
    "subject": {"age": "P90D", "sex": "F"},
    "devices": {"probeA": {"description": "Neuropixels 1.0"}},
    "objects": {
        "units": {"type": "Units", "rows": 312, "columns": ["spike_times", "quality"]},
        "acquisition/lfp": {"type": "ElectricalSeries", "shape": [1000, 64], "dtype": "int16"},
    },
}
NEW = {
    "session": {"identifier": "a", "session_start_time": "2024-01-02T03:05:05+00:00"},
    "subject": {"age": "P91D", "sex": "F", "genotype": "wt/wt"},
    "devices": {"probeB": {"description": "Neuropixels 2.0"}},
    "objects": {
        "units": {"type": "Units", "rows": 298, "columns": ["spike_times", "snr"]},
        "acquisition/lfp": {"type": "ElectricalSeries", "shape": [1200, 64], "dtype": "int16"},
        "acquisition/running": {"type": "TimeSeries", "shape": [10], "unit": "cm/s", "rate": 60},
    },
}


def test_field_and_object_changes_in_words() -> None:
    diff = diff_summaries("data/s.nwb", OLD, NEW)
    assert nwb_lines(diff) == (
        "`session_start_time`: 2024-01-02T03:04:05+00:00 → 2024-01-02T03:05:05+00:00",
        "subject `age`: P90D → P91D",
        "subject `genotype`: (none) → wt/wt",
        "device `probeA` removed",
        "device `probeB` added",
        "`acquisition/lfp` shape: 1000 × 64 → 1200 × 64",  # noqa: RUF001
        "`acquisition/running` added (TimeSeries)",
        "`units`: 312 → 298 rows",
        "`units` columns: `snr` added, `quality` removed",
    )
    assert diff_summaries("data/s.nwb", OLD, OLD).changes == ()
    missing = diff_summaries("data/s.nwb", None, NEW)
    same = diff_summaries("x.nwb", OLD, OLD)
    assert nwb_lines(same) == (
        "only data values changed (no field, object, shape, dtype, unit, rate or row count did)",
    )
    assert nwb_lines(missing) == ("contents not compared: no summary of it in the earlier release",)
    many = {"objects": {f"o{n}": {"type": "TimeSeries"} for n in range(30)}}
    assert (
        nwb_lines(diff_summaries("x.nwb", {}, many))[-1] == f"and {30 - LIMIT} more; see the JSON"
    )


def test_the_document_round_trips_and_names_what_is_wrong() -> None:
    content = hashlib.blake2b(b"file").hexdigest()
    document = summaries_document(
        "p", "1.0.0", {"sessions": ("session_id",)}, {content_key(content): encode(NEW)}
    )
    summaries = parse_summaries(json.dumps(document).encode(), "s.json")
    assert summaries.keys == {"sessions": ("session_id",)}
    assert summaries.many([content, "0" * 128]) == {content: NEW}

    bad_key = {**document, "nwb_files": {"abc": encode(NEW)}}
    with pytest.raises(ManifestError, match=r"s\.json: at /nwb_files: 'abc' does not match"):
        parse_summaries(json.dumps(bad_key).encode(), "s.json")
    not_a_summary = base64.b64encode(zlib.compress(b'{"objects": {"x": {"shape": [1]}}}')).decode()
    wrong = parse_summaries(
        json.dumps({**document, "nwb_files": {content[:32]: not_a_summary}}).encode(), "s.json"
    )
    with pytest.raises(ManifestError, match=r"s\.json: nwb_files/.*: at /objects/x: 'type' is a"):
        wrong.many([content])
    with pytest.raises(ManifestError, match=r"s\.json: not valid JSON"):
        parse_summaries(b"{", "s.json")


VALUES: list[Any] = [
    *("", "x", 0, -1, 2.5, True, None, float("nan"), [], [1, "a"], [[1]], [{}], {}, {"a": 1}),
    *([-1], [1, 2], ["a"], [True], [1.5]),
]


def _mutated(rng: random.Random) -> Any:
    summary = json.loads(json.dumps(NEW))
    for _ in range(rng.randint(0, 3)):
        section = rng.choice([*NEW, "extra"])
        roll = rng.random()
        objects = summary.get("objects")
        if section == "objects" and roll < 0.6 and isinstance(objects, dict) and objects:
            item = objects[rng.choice(list(objects))]
            if not isinstance(item, dict):
                continue
            field = rng.choice(["type", "shape", "dtype", "unit", "rate", "rows", "columns", "x"])
            if rng.random() < 0.2:
                item.pop("type", None)
            else:
                item[field] = rng.choice(VALUES)
        elif roll < 0.8 and isinstance(summary.get(section), dict):
            summary[section][rng.choice(["age", "probeA", "new"])] = rng.choice(VALUES)
        else:
            summary[section] = rng.choice(VALUES)
    return summary


def test_the_compiled_validator_of_summaries_accepts_only_what_jsonschema_accepts() -> None:
    """Valid only when jsonschema finds nothing wrong; and valid for valid summaries (speed)."""
    check = compiled("nwb-summary")
    assert check(OLD) and check(NEW)
    rng = random.Random(15)
    for _ in range(3000):
        summary = _mutated(rng)
        if check(summary):
            assert not listed(summary, "nwb-summary"), summary


def test_the_summaries_a_document_vouches_for_are_what_jsonschema_accepts() -> None:
    """validate_document's verdict and message are jsonschema's alone, whatever the keys and
    values of nwb_files."""
    from publishkit.formats.summaries import validate_document

    keys = ["0" * 32, "a" * 32, "A" * 32, "0" * 31, "0" * 33, "0" * 32 + "\n", "é" * 32, "g" * 32]
    values: list[Any] = ["eJw=", "", 1, None, ["x"], {"a": 1}, True]
    document = summaries_document("proj", "1.0.0", {}, {})
    rng = random.Random(16)
    for _ in range(400):
        files = {
            rng.choice(keys[:2]) if rng.random() < 0.8 else rng.choice(keys): rng.choice(
                values[:2] if rng.random() < 0.8 else values
            )
            for _ in range(rng.randint(0, 4))
        }
        doc = {**document, "nwb_files": files}
        problems = listed(doc, "nwb-summaries")
        try:
            validate_document(doc, "s.json")
            found = None
        except ManifestError as exc:
            found = exc.message
        if not problems:
            assert found is None, doc
        else:
            assert found is not None and found.startswith(f"s.json: at {problems[0].pointer}")
