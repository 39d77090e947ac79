"""Fuzzed prefixes, table names and data paths: publishkit.yaml and the inventory either refuse
them (exit 2, one line) or publish each file at exactly the key written, `<prefix>/<path>`,
which every URL reader reads back from its manifest URL."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path, PurePosixPath

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from publishkit.errors import PublishkitError
from publishkit.formats.keys import key_problem
from publishkit.formats.manifest import public_url
from publishkit.workspace.config import load_settings
from publishkit.workspace.inventory import collect
from tests.formats.test_keys import assert_round_trips

_examples = itertools.count()
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
segment = st.one_of(
    st.sampled_from([".", "..", "", "\\", "a\\b", "\t", "\x00", "\x7f", "x" * 300, "%2e", " "]),
    st.sampled_from(["a", "b.nwb", "x-1_~", ".hidden", "a..b", "..."]),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=6),
)
plain = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._~-]{0,8}", fullmatch=True)
keys = st.one_of(
    st.lists(plain, min_size=1, max_size=4).map("/".join),  # often clean, so often published
    st.lists(segment, min_size=1, max_size=4).map("/".join),
)


def _workspace(tmp_path: Path, prefix: str, table: str, data_path: str) -> Path:
    root = tmp_path / f"ws-{next(_examples)}"
    (root / "metadata").mkdir(parents=True)
    config = {
        "project": "demo",
        "s3": {"bucket": "demo-release", "prefix": prefix},
        "metadata_files": {table: "metadata/sessions.csv"},
    }
    (root / "publishkit.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    rows = io.StringIO()
    csv.writer(rows).writerows([["file_id", "file_path"], ["1", data_path]])
    (root / "metadata" / "sessions.csv").write_text(rows.getvalue(), encoding="utf-8")
    pure = PurePosixPath(data_path.strip())
    if ".." not in pure.parts and not pure.is_absolute() and "\0" not in data_path:
        try:  # the file it names, where that can be inside the workspace
            (root / pure).parent.mkdir(parents=True, exist_ok=True)
            (root / pure).write_bytes(b"data")
        except OSError:
            pass
    return root


@FUZZ
@given(prefix=keys, table=keys, data_path=keys)
def test_a_key_is_refused_in_one_line_or_published_as_written(
    tmp_path: Path, prefix: str, table: str, data_path: str
) -> None:
    root = _workspace(tmp_path, prefix, table, data_path)
    try:
        found = collect(load_settings(root))
    except PublishkitError as exc:
        assert exc.exit_code == 2 and "\n" not in exc.message and exc.hint, exc.message
        event(f"refused: {type(exc).__name__}")
        return
    event("published")
    s3 = load_settings(root).s3
    written = {f"{prefix}/project_metadata/{table}.csv"}
    if data_path.strip():  # a row without a path publishes no data file
        written.add(f"{prefix}/{data_path.strip()}")
    assert {s3.key(f.relpath) for f in found} == written
    for key in written:
        assert key_problem(key) is None
        assert_round_trips(public_url(s3.public_url, bucket=s3.bucket, region="r", key=key), key)
