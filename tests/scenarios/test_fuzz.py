"""Fuzz publishkit.yaml and the metadata tables: every outcome is a clean exit, never a crash.

Each example builds a fresh workspace inside tmp_path (into an empty bucket, or one where a
valid workspace already published 0.1.0), runs `publishkit release --plan --version V` and
`publishkit release --version V` against the moto server, and asserts: exit code 0, 1 or 2; no
"internal error" and no traceback; on exit 2 one `error:` line; the plan passes exactly when the
release does; a refused release changed no key of the bucket and wrote no manifest; and nothing
outside the workspace reached the bucket.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from publishkit.formats.keys import key_problem
from publishkit.sandbox.s3 import S3Sandbox
from tests.conftest import REGION, Result

# Written into every file outside the workspace; it must never reach the bucket.
SECRET = b"fuzz-secret-outside-the-workspace"
OUTSIDE = "@OUTSIDE@"  # stands for the absolute path of a folder outside the workspace
_examples = itertools.count()

FUZZ = settings(
    max_examples=int(os.environ.get("PUBLISHKIT_FUZZ_EXAMPLES", "12")),  # 300 for a long hunt
    deadline=None,
    database=None,  # the cli fixture changes the working folder; keep .hypothesis/ out of it
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- the workspace -----------------------------------------------------------------------------


def build(tmp_path: Path, config: str, table: bytes) -> Path:
    """A fresh workspace with data files, links inside and out, and files outside holding SECRET;
    its publishkit.yaml and sessions table are `config` and `table`."""
    n = next(_examples)
    root, outside = tmp_path / f"ws-{n}", tmp_path / f"outside-{n}"
    for folder in (root / "data", root / "links", root / "metadata", outside / "data"):
        folder.mkdir(parents=True)
    (root / "data" / "s101.nwb").write_bytes(b"session 101 " * 50)
    (root / "data" / "s102.nwb").write_bytes(b"session 102 " * 70)
    (outside / "data" / "s101.nwb").write_bytes(SECRET)
    (outside / "outside.nwb").write_bytes(SECRET)
    (outside / "outside.csv").write_bytes(b"file_id,file_path\n" + SECRET + b",data/s101.nwb\n")
    (root / "links" / "inside.nwb").symlink_to(Path("..") / "data" / "s101.nwb")
    (root / "links" / "outside.nwb").symlink_to(outside / "outside.nwb")
    (root / "links" / "loop.nwb").symlink_to(root / "links" / "loop.nwb")
    (root / "linkdir").symlink_to(outside / "data", target_is_directory=True)
    (root / "metadata" / "outside.csv").symlink_to(outside / "outside.csv")
    (root / "metadata" / "sessions.csv").write_bytes(table)
    text = config.replace(OUTSIDE, str(outside))
    (root / "publishkit.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    return root


def check(result: Result) -> None:
    """The promises every run keeps, whatever its input."""
    output = result.stdout + result.stderr
    assert result.exit_code in {0, 1, 2}, output
    assert "internal error" not in output and "Traceback" not in output, output
    if result.exit_code == 2:
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, output


def nothing_from_outside(s3_client: Any, bucket: str) -> None:
    """No file outside the workspace reached the bucket, and no object has a key that URL
    readers would read as another key."""
    listed = s3_client.list_object_versions(Bucket=bucket)
    for version in listed.get("Versions", []):
        assert key_problem(version["Key"]) is None, version["Key"]
        got = s3_client.get_object(
            Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"]
        )
        assert SECRET not in got["Body"].read(), version["Key"]


def bucket_versions(s3_client: Any, bucket: str) -> list[tuple[str, str]]:
    listed = s3_client.list_object_versions(Bucket=bucket)
    found = listed.get("Versions", []) + listed.get("DeleteMarkers", [])
    return sorted((v["Key"], v["VersionId"]) for v in found)


def run_both(
    cli: Callable[..., Result],
    root: Path,
    s3_client: Any,
    bucket: str,
    data: st.DataObject | None = None,
) -> None:
    """`--plan` and the release, with the same version: the plan's verdict is the release's;
    a refused release wrote nothing to the bucket or the workspace's manifests."""
    version = "1.0.0"
    if data is not None:  # into an empty bucket, or after release 0.1.0 of a valid workspace
        if data.draw(st.booleans(), label="released before"):
            base = build(root.parent, VALID_CONFIG.format(bucket=bucket), valid_table())
            assert cli("release", "--version", "0.1.0", cwd=base).exit_code == 0
        version = data.draw(st.sampled_from(["1.0.0", "1.0.0", "0.1.0", "0.0.1"]), label="ver")
    planned = cli("release", "--plan", "--version", version, cwd=root)
    check(planned)
    before = bucket_versions(s3_client, bucket)
    released = cli("release", "--version", version, cwd=root)
    check(released)
    event(f"plan exit {planned.exit_code}, release exit {released.exit_code}")
    assert (planned.exit_code == 0) == (released.exit_code == 0), (
        planned.stdout + planned.stderr + released.stdout + released.stderr
    )
    if released.exit_code != 0:
        assert bucket_versions(s3_client, bucket) == before
        assert not (root / "manifests").exists()
    nothing_from_outside(s3_client, bucket)


VALID_CONFIG = (
    "project: demo\ns3:\n  bucket: {bucket}\n  region: us-west-2\n"
    "metadata_files:\n  sessions: metadata/sessions.csv\n"
)


def fresh_bucket(s3_server: S3Sandbox) -> str:
    """A new versioned bucket per example, so each one starts from an empty release."""
    return s3_server.create_bucket(f"fuzz-{next(_examples)}", REGION).bucket


# --- publishkit.yaml ---------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,10}", fullmatch=True)
table_paths = st.sampled_from(
    [
        "metadata/sessions.csv",
        "metadata/outside.csv",  # a symlink to a table outside
        "../outside.csv",
        f"{OUTSIDE}/outside.csv",
        "metadata",
        "links/loop.nwb",
        "missing.csv",
        "./metadata/../metadata/sessions.csv",
        "linkdir/s101.nwb",
        "metadata/sessions\n.csv",
        "metadata/\x00.csv",
        "metadata/" + "x" * 300,
        "/",
        ".",
        "~/sessions.csv",
        "metadata/sessions.csv\u2028",
    ]
)
# a prefix of names, '.', '..' and empty parts, backslashes, control characters, long names
prefixes = st.lists(
    st.one_of(names, st.sampled_from([".", "..", "", "a\\b", "a\tb", "\x7f", "x" * 300])),
    min_size=1,
    max_size=4,
).map("/".join)
columns = st.sampled_from(["file_id", "file_path", "fileid", "subject_id", "File_Path"])


def s3_section(bucket: str) -> st.SearchStrategy[Any]:
    # endpoint_url: never a reachable-looking http(s) URL (a real host would be contacted), only
    # values the schema refuses.
    return st.one_of(
        anything,
        plausible := st.fixed_dictionaries(
            {"bucket": st.one_of(st.just(bucket), names, scalars)},
            optional={
                "prefix": st.one_of(names, st.text(max_size=10), anything, prefixes),
                "region": st.one_of(
                    st.sampled_from([REGION, "us-east-1", "us-weast-1", "US_West", ""]),
                    st.text(max_size=12),
                    scalars,
                ),
                "endpoint_url": st.one_of(
                    st.text(max_size=10).filter(lambda s: not s.startswith("http")), st.integers()
                ),
                "public_url": st.one_of(
                    st.sampled_from(
                        [
                            "https://{bucket}.s3.{region}.amazonaws.com/{key}",
                            "https://cdn.example.org/{key}",
                            "https://x.org/{region}/{bucket}/{key}?v=1",
                            "https://{bukcet}.s3.amazonaws.com/{key}",
                            "https://x.org/{key}{",
                            "https://x.org/{0}/{key}",
                            "https://x.org/{key!r}",
                            "https://x.org/{{key}}",
                        ]
                    ),
                    st.text(max_size=10).filter(lambda s: not s.startswith("http")),
                ),
                "multipart_threshold_mb": st.one_of(
                    st.integers(min_value=-1, max_value=100), scalars
                ),
            },
        ),
        plausible,
        plausible,
    )


@st.composite
def config_documents(draw: st.DrawFn, bucket: str) -> dict[str, Any]:
    """A document that would release, with each key kept, made plausible, made random or dropped.

    Left out: inspection, conversion, dandi and executor. Valid values there start nwbinspector,
    a conversion, a DANDI upload or a Dask client: slow or networked, and not this file's subject.
    """
    variants: dict[str, tuple[Any, st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
        "project": ("demo", names, scalars),
        "s3": ({"bucket": bucket, "region": REGION}, s3_section(bucket), anything),
        "metadata_files": (
            {"sessions": "metadata/sessions.csv"},
            st.dictionaries(st.one_of(names, st.text(max_size=6)), table_paths, max_size=3),
            st.dictionaries(names, st.one_of(st.text(max_size=12), anything), max_size=2),
        ),
        "data_files": (
            {},
            st.fixed_dictionaries({}, optional={"id_column": columns, "path_column": columns}),
            anything,
        ),
        "unknown_key": (None, anything, anything),
    }
    document = {}
    for key, (valid, plausible, random) in variants.items():
        how = draw(st.sampled_from(["keep", "keep", "plausible", "plausible", "random", "drop"]))
        if how == "keep" and valid is not None:
            document[key] = valid
        elif how == "plausible":
            document[key] = draw(plausible)
        elif how == "random":
            document[key] = draw(random)
    return document


yaml_noise = st.text(
    alphabet=st.sampled_from([*" \n\t:-#&*!|>'\"{}[],%@`?abcs3_/.0\\", "\x00", "\u2028"]),
    max_size=40,
)


@st.composite
def config_texts(draw: st.DrawFn, bucket: str) -> str:
    """publishkit.yaml text: a dumped document, maybe cut, spliced with YAML noise, or given an
    alias or a key twice at a random line."""
    document = draw(config_documents(bucket))
    text = yaml.safe_dump(document, allow_unicode=draw(st.booleans()), sort_keys=False)
    how = draw(
        st.sampled_from(["as-is", "as-is", "as-is", "cut", "splice", "noise", "alias", "twice"])
    )
    lines = text.splitlines()
    at = draw(st.integers(min_value=0, max_value=len(lines)))
    if how == "alias":  # an anchor on one line, an alias of it on a later one
        lines.insert(draw(st.integers(min_value=at, max_value=len(lines))), "copy: *a")
        lines.insert(at, "anchor: &a [x, y]")
        text = "\n".join(lines) + "\n"
    elif how == "twice":  # a top-level key given again
        lines.insert(at, f"{draw(st.sampled_from([*document, 'project']))}: again")
        text = "\n".join(lines) + "\n"
    elif how == "cut":
        text = text[: draw(st.integers(min_value=0, max_value=len(text)))]
    elif how == "splice":
        at = draw(st.integers(min_value=0, max_value=len(text)))
        text = text[:at] + draw(yaml_noise) + text[at:]
    elif how == "noise":
        text = draw(yaml_noise)
    return text


def valid_table() -> bytes:
    return b"file_id,file_path,subject_id\n101,data/s101.nwb,m1\n102,data/s102.nwb,m2\n"


@given(data=st.data())
@FUZZ
def test_fuzzed_config_never_crashes(
    data: st.DataObject, cli, tmp_path: Path, aws_env, s3_server: S3Sandbox, s3_client
) -> None:
    bucket = fresh_bucket(s3_server)
    text = data.draw(config_texts(bucket), label="publishkit.yaml")
    run_both(cli, build(tmp_path, text, valid_table()), s3_client, bucket, data)


# --- the tables --------------------------------------------------------------------------------

cells = st.one_of(
    st.sampled_from(
        [
            "101",
            "102",
            "",
            " 7 ",
            "1\n01",
            "data/s101.nwb",
            "data/s102.nwb",
            " data/s101.nwb ",
            "../outside.nwb",
            "data/../../outside.nwb",
            f"{OUTSIDE}/outside.nwb",
            "/etc/hostname",
            "links/inside.nwb",
            "links/outside.nwb",
            "links/loop.nwb",
            "linkdir/s101.nwb",
            "data",
            "missing.nwb",
            "manifests/x.json",
            "release_notes.md",
            "data\\s101.nwb",
            "data/a b.nwb",
            "data/./s101.nwb",
            "data//s101.nwb",
            "./data/s101.nwb",
        ]
    ),
    st.text(max_size=8),
)
headers = st.one_of(
    st.just(["file_id", "file_path"]),
    st.just(["file_path", "subject_id", "file_id"]),
    st.lists(st.one_of(columns, st.text(max_size=6)), max_size=4),
)


@st.composite
def csv_tables(draw: st.DrawFn) -> bytes:
    """A CSV table: a header from likely and random names, rows mostly as wide as the header (or
    any width), in any dialect and encoding, maybe with one byte changed."""
    header = draw(headers)
    width = draw(st.sampled_from([len(header), len(header), None]))
    row = st.lists(cells, min_size=width or 0, max_size=5 if width is None else width)
    rows = draw(st.lists(row, max_size=4))
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
    )
    writer.writerows([header, *rows])
    text = buffer.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    raw = text.encode(encoding, errors="replace")
    if draw(st.booleans()):  # flip one byte
        at = draw(st.integers(min_value=0, max_value=max(len(raw) - 1, 0)))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return raw


@given(data=st.data())
@FUZZ
def test_fuzzed_tables_never_crash_nor_publish_outside_files(
    data: st.DataObject, cli, tmp_path: Path, aws_env, s3_server: S3Sandbox, s3_client
) -> None:
    bucket = fresh_bucket(s3_server)
    table = data.draw(st.one_of(csv_tables(), st.binary(max_size=120)), label="sessions.csv")
    path = data.draw(
        st.just("metadata/sessions.csv") | table_paths, label="metadata_files.sessions"
    )
    config = yaml.safe_dump(
        {
            "project": "demo",
            "s3": {"bucket": bucket, "region": REGION},
            "metadata_files": {"sessions": path},
        }
    )
    run_both(cli, build(tmp_path, config, table), s3_client, bucket, data)
