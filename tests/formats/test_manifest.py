"""`publishkit manifest validate FILE` against schemas/manifest.schema.json."""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publishkit.errors import ManifestError
from publishkit.formats import jsonio, manifest, manifest_decoder, patterns
from publishkit.formats import urls as urls_module
from publishkit.formats.jsonio import dumps
from publishkit.formats.keys import first_unclean
from publishkit.formats.schemas import listed
from tests.formats.test_notes import NEW, entry


def test_valid(cli, tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(NEW))
    result = cli("manifest", "validate", str(path))
    assert result.exit_code == 0
    assert "valid manifest v0.2.0 of proj (2 metadata, 4 data files)" in result.stdout


def test_presigned_query_string_in_url_is_invalid(cli, tmp_path: Path) -> None:
    doc = json.loads(json.dumps(NEW))
    doc["data_files"]["1"]["url"] += "?X-Amz-Signature=abc"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    result = cli("manifest", "validate", str(path), "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    assert "at /data_files/1/url" in report["error"]


def test_missing_required_key_and_not_json(cli, tmp_path: Path) -> None:
    doc = dict(NEW)
    del doc["manifest_version"]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    result = cli("manifest", "validate", str(path))
    assert result.exit_code == 1
    assert "'manifest_version' is a required property" in result.stderr

    path.write_text("{not json")
    garbled = cli("manifest", "validate", str(path))
    assert garbled.exit_code == 1
    assert "not valid JSON" in garbled.stderr


def test_missing_file_is_bad_usage(cli, tmp_path: Path) -> None:
    result = cli("manifest", "validate", str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    assert "absent.json: no such file" in result.stderr


# --- validation at scale: quick checks vouch for entries, jsonschema judges the rest ---------

LINDI = {"path": "lindi/data/a.nwb.lindi.json", "version_id": "v", "file_hash": "a" * 128}
FIELD_VALUES: dict[str, list[Any]] = {
    "url": [
        *("https://b/p/x", "http://b/p/x", "https://x", "http://x", "HTTPS://b/p", "ftp://b/p"),
        *("https://", "http://", "https://b/p?v=1", "https://b/p#f", "https://b/p\n", ""),
        *("https://b/\np", "https://b/é", 7, None),
    ],
    "file_hash": [
        *("a" * 128, "0123456789abcdef" * 8, "A" * 128, "a" * 127, "a" * 129),
        *("a" * 128 + "\n", "\n" + "a" * 128, "g" * 128, "é" * 128, "a" * 64 + "\0" + "a" * 63),
        *(12, None),
    ],
    "sha256": ["0" * 64, "0" * 64 + "\n", "0" * 63, "F" * 64, []],
    "version_id": ["v", "", None, 3],
    "path": [
        *("a/b.nwb", "a..b/c.nwb", "a/b..", "../a", "a/..", "a/../b", "..", "/a", "a\n", "a\nb"),
        *("", "a/..\n", "é/ü", 5),
    ],
    "size": [0, 5, -1, 1.0, 2.5, True, "5", None, 10**30],
    "previous_version_id": [None, "v", 3],
    "created": ["2026-01-01T00:00:00Z", "not a date", 1],
    "dandiset_id": ["000123", "12345", "000123\n", "abcdef", "\uff10" * 6],
    "dandi_asset_path": ["x", 1],
    "dandi_asset_id": ["x", None],
    "lindi_index": [
        *(
            LINDI,
            {**LINDI, "path": "lindi/a.lindi.json\n"},
            {**LINDI, "path": "lindi/../a.lindi.json"},
        ),
        *({**LINDI, "path": "a.nwb.lindi.json"}, {**LINDI, "file_hash": "A" * 128}, []),
        *({**LINDI, "version_id": ""}, {"path": LINDI["path"]}, {**LINDI, "file_hash": 1}, None),
    ],
    "extra": ["anything", {"nested": [1]}],
}


def _full_pass_error(document: Any) -> str | None:
    """What validate says with jsonschema alone over the whole document (as before quick checks
    and compiled validators), then the check of the paths the entries share."""
    problems = listed(document, "manifest")
    if not problems:
        try:
            manifest._check_paths(document, "src")
        except ManifestError as exc:
            return exc.message
        return None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"src: at {problems[0].pointer or '/'}: {problems[0].message}{more}"


def _error(document: Any) -> str | None:
    try:
        manifest.validate(document, "src")
    except ManifestError as exc:
        return exc.message
    return None


def _big(entries: int) -> dict[str, Any]:
    doc = json.loads(json.dumps(NEW))
    doc["created"] = "2026-01-01T00:00:00Z"
    doc["previous_manifest_version"] = "0.1.0"
    doc["dandi"] = {"instance": "dandi", "dandiset_id": "000123", "version": "0.260101.0001"}
    doc["data_files"] = {
        str(n): {
            **entry(f"data/s{n}.nwb", f"c{n}"),
            **{"path": f"data/s{n}.nwb", "size": n, "sha256": "0" * 64, "dandiset_id": "000123"},
        }
        for n in range(entries)
    }
    return doc


def _mutate(doc: dict[str, Any], rng: random.Random) -> None:
    group = rng.choice(["metadata_files", "data_files"])
    key = rng.choice(list(doc[group]))
    choice = rng.random() if isinstance(doc[group][key], dict) else 0.95
    if choice < 0.7:
        field = rng.choice(list(FIELD_VALUES))
        doc[group][key][field] = rng.choice(FIELD_VALUES[field])
    elif choice < 0.8:
        del doc[group][key][rng.choice(["url", "version_id", "file_hash"])]
    elif choice < 0.9:
        doc[group][key] = rng.choice([[], "entry", None, 3])
    else:
        doc[group][rng.choice(["a/b", "", "x", 7])] = doc[group].pop(key)


def _parsed(document: Any) -> tuple[str | None, Any]:
    """What parse_manifest says of the document's JSON text: its error, or the document."""
    try:
        return None, manifest.parse_manifest(json.dumps(document), "src")
    except ManifestError as exc:
        return exc.message, None


def _same_verdicts(document: Any) -> None:
    """validate, and parse_manifest's typed decoder, say what the schema alone says; an
    accepted document is read as jsonio.loads reads it."""
    expected = _full_pass_error(document)
    assert _error(document) == expected, document
    error, parsed = _parsed(document)
    assert error == expected, document
    if error is None:
        assert parsed == jsonio.loads(json.dumps(document))


def test_validation_and_the_typed_decoder_accept_and_refuse_exactly_as_jsonschema() -> None:
    """Same verdict and message (first problem by pointer, how many more) on documents with up
    to three random faults among their entries."""
    rng = random.Random(32)
    for field, values in FIELD_VALUES.items():
        for value in values:
            doc = _big(40)
            doc["data_files"]["17"][field] = value
            if field != "extra":  # (keys the schema does not name are not kept)
                _same_verdicts(doc)
            else:
                assert _error(doc) is None and _parsed(doc)[0] is None
    for _ in range(120):
        doc = _big(40)
        for _ in range(rng.randint(0, 3)):
            _mutate(doc, rng)
        entries = [e for g in manifest.GROUPS for e in doc[g].values() if type(e) is dict]
        if not any("extra" in e for e in entries):
            _same_verdicts(doc)
        else:
            assert _error(doc) == _parsed(doc)[0] == _full_pass_error(doc)


def test_whole_groups_and_top_level_faults_are_left_to_jsonschema() -> None:
    for fault in (
        {"data_files": []},
        {"metadata_files": None},
        {"manifest_version": "1"},
        {"data_pipeline": [{"name": 1}]},
    ):
        doc = {**_big(40), **fault}
        assert _error(doc) == _parsed(doc)[0] == _full_pass_error(doc) is not None
    assert _error([]) == _parsed([])[0] == _full_pass_error([])


def test_valid_entries_never_reach_jsonschema() -> None:
    """The speed: a valid manifest is read by the typed decoder alone, and validate leaves
    jsonschema only the entries it cannot vouch for."""
    doc = _big(500)
    for name, table in doc["metadata_files"].items():
        table["path"] = f"project_metadata/{name}.csv"
    paths = [
        *(e["path"] for e in doc["metadata_files"].values()),
        *(f"data/s{n}.nwb" for n in range(500)),
    ]
    assert manifest_decoder.decode(json.dumps(doc)) == (doc, paths)
    left = manifest_decoder.unvouched(doc)
    assert left["data_files"] == {} and left["metadata_files"] == {}
    doc["data_files"]["250"]["file_hash"] = "x"
    assert manifest_decoder.decode(json.dumps(doc)) is None
    left = manifest_decoder.unvouched(doc)
    assert list(left["data_files"]) == ["250"]
    assert "at /data_files/250/file_hash: 'x' does not match" in (_error(doc) or "")


def _bare(schema: Any) -> Any:
    """The schema without its descriptions (what validates, not what explains)."""
    if isinstance(schema, dict):
        return {k: _bare(v) for k, v in schema.items() if k != "description"}
    return schema


DECODED_SCHEMA = {  # what manifest_decoder's types mirror, keyword for keyword
    "metadata_files": {
        "type": "object",
        "propertyNames": {"pattern": "^[^/]+$"},
        "additionalProperties": {"$ref": "#/$defs/entry"},
    },
    "data_files": {
        "type": "object",
        "propertyNames": {"minLength": 1},
        "additionalProperties": {"$ref": "#/$defs/entry"},
    },
    "entry": {
        "type": "object",
        "required": ["url", "version_id", "file_hash"],
        "properties": {
            "url": {"type": "string", "pattern": "^https?://[^?#]+$"},
            "version_id": {"type": "string", "minLength": 1},
            "file_hash": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
            "path": {"type": "string", "pattern": r"^(?!/)(?!.*(^|/)\.\.(/|$)).+$"},
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "created": {"type": "string"},
            "previous_version_id": {"type": ["string", "null"]},
            "dandiset_id": {"type": "string", "pattern": "^[0-9]{6}$"},
            "dandi_asset_path": {"type": "string"},
            "dandi_asset_id": {"type": "string"},
            "lindi_index": {
                "type": "object",
                "required": ["path", "version_id", "file_hash"],
                "properties": {
                    "path": {
                        "type": "string",
                        "pattern": r"^lindi/(?!.*(^|/)\.\.(/|$)).+\.lindi\.json$",
                    },
                    "version_id": {"type": "string", "minLength": 1},
                    "file_hash": {"type": "string", "pattern": "^[0-9a-f]{128}$"},
                },
            },
        },
    },
}


def test_the_typed_decoder_mirrors_the_schema_keyword_for_keyword() -> None:
    """A schema edit to what the typed decoder checks itself (the groups and their entries)
    fails here until manifest_decoder follows it; the other keys the schema judges itself."""
    schema = manifest_decoder.load_schema("manifest")
    found = {group: _bare(schema["properties"][group]) for group in manifest.GROUPS}
    assert found | {"entry": _bare(schema["$defs"]["entry"])} == DECODED_SCHEMA
    assert set(manifest_decoder._Entry.__annotations__) == set(
        DECODED_SCHEMA["entry"]["properties"]
    )
    assert set(manifest_decoder._Manifest.__annotations__) == set(schema["properties"])
    patterned = {n for n, f in DECODED_SCHEMA["entry"]["properties"].items() if "pattern" in f}
    assert set(manifest_decoder.PATTERNED) == patterned - {"lindi_index"}


TRICKY = [
    *("", "\n", "a", "a\n", "\na", "/", "..", "a..b", "a/../b", "a/..", "../", "/a", "a\nb"),
    *("https://", "http://", "https://x", "http://x", "https://x?", "https://x#", "https://\n"),
    *("0" * 64, "0" * 64 + "\n", "0" * 63, "0" * 65, "A" * 64, "f" * 128, "f" * 128 + "\n"),
    *("000000", "00000\n", "0000000", "é" * 6, "\uff10" * 6, "\0" * 6),
]


@pytest.mark.parametrize("pattern", list(patterns._QUICK))
def test_quick_pattern_tests_never_pass_what_the_pattern_refuses(pattern: str) -> None:
    quick = patterns._QUICK[pattern]
    rng = random.Random(pattern)
    alphabet = "0af/.\n?#:hpst\0é"
    strings = TRICKY + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(3000)
    ]
    strings += [
        prefix + s for prefix in ("https://", "http://", "0" * 58, "f" * 122) for s in strings
    ]
    for string in strings:
        if quick([string]):
            assert re.search(pattern, string), (pattern, string)


# --- manifests are written by jsonio.dumps: the text of json.dumps(indent=2, sort_keys) -------


def _outcome(func: Callable[[Any], str], document: Any) -> Any:
    try:
        return func(document)
    except Exception as exc:
        return type(exc), str(exc), exc.__context__ is None


def test_dumps_writes_what_json_dumps_writes() -> None:
    def reference(document: Any) -> str:
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    rng = random.Random(3)
    text = 'ab"\\\n\t}{,[]: é€😀\0\x1f/'

    def string() -> str:
        return "".join(rng.choice(text) for _ in range(rng.randint(0, 6)))

    def key() -> Any:
        return string() if rng.random() < 0.97 else rng.choice([1, 2.5, True, None, (1,)])

    def scalar() -> Any:
        odd = [object()] if rng.random() < 0.01 else []
        values = [string(), rng.randint(-(10**20), 10**20), rng.random() * 1e300, -0.0, 1.0]
        return rng.choice([*values, math.nan, math.inf, True, False, None, (1, "a"), *odd])

    def value(depth: int) -> Any:
        roll = rng.random()
        if depth > 3 or roll < 0.3:
            return scalar()
        if roll < 0.6:
            return {key(): value(depth + 1) for _ in range(rng.randint(0, 4))}
        if roll < 0.75:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        entries = [{key(): scalar() for _ in range(rng.randint(0, 3))} for _ in range(4)]
        return entries if roll < 0.85 else {string(): item for item in entries}

    for _ in range(3000):
        document = value(0)
        assert _outcome(dumps, document) == _outcome(reference, document), document
    looped: dict[str, Any] = {}
    looped["a"] = {"b": looped}
    deep: list[Any] = []
    for _ in range(300):
        deep = [deep]
    for document in (
        *(_big(50), looped, {"a": {"b": {1: 1, "x": 2}}}, [{"a": [1]}, {"b": 2}], deep),
        *({"\ud800": 1}, {"a": "\udfff"}, {"b": 1, "a": 2, "é": 3, "😀": 4, "z": 5, "\uffff": 6}),
        *([2**63, -(2**63) - 1, 2**64], {"a": 1e-05, "b": 2.5e-07, "c": math.nan}),
    ):
        assert _outcome(dumps, document) == _outcome(reference, document)


def test_a_manifest_is_written_by_orjson_as_json_dumps_wrote_it(monkeypatch) -> None:
    """Byte for byte (AllenSDK reads manifests): non-ASCII paths and keys, escapes, sizes."""
    doc = _big(2000)
    doc["data_files"]["é/ü"] = {**doc["data_files"].pop("7"), "path": "data/é ü😀\u2028.nwb"}
    doc["data_files"]["5"]["created"] = 'a "quoted" \\ \t\x1f\x7f\0 value'
    doc["data_files"]["6"]["size"] = 2**63 - 1
    doc["previous_manifest_version"] = None
    expected = json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def never(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("json.dumps wrote the manifest")

    monkeypatch.setattr(jsonio.json, "dumps", never)
    assert jsonio.encode(doc) == expected.encode("utf-8")
    assert dumps(doc) == expected


def test_public_url_is_the_template_formatted_with_the_quoted_key() -> None:
    rng = random.Random(4)
    alphabet = "aZ09/-_.~ %?#é😀+=&:;@!*'()[]{}\\\"\n\0"
    templates = [
        *("https://{bucket}.s3.{region}.amazonaws.com/{key}", "{key}", "x{{key}}y{key}"),
        *("{{key}}", "{{{key}}}", "{bucket:{key}}", "{key!r}", "{key:>9}", "{key}{key}"),
        *("{key[0]}", "{0}{key}", "{keyx}{key}", "{region!s}-{key}", "{key}\0", "{bucket}{key}"),
    ]

    def outcome(func: Callable[[], str]) -> Any:
        try:
            return func()
        except Exception as exc:
            return type(exc), str(exc)

    for _ in range(20000):
        template, bucket = rng.choice(templates), rng.choice(["bk", "b\0k", "", "{x}"])
        key = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        want = outcome(
            partial(template.format, bucket=bucket, region="r", key=quote(key, safe="/-_.~"))
        )
        got = outcome(partial(manifest.public_url, template, bucket=bucket, region="r", key=key))
        assert got == want, (template, bucket, key)


# --- entries that no folder can hold together: every reader refuses the manifest ------------

BLAKE_OTHER = "f" * 128


def _two_at(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(NEW))
    doc["data_files"]["1"].update(first)
    doc["data_files"]["6"].update(second)
    return doc


URL = "https://b.s3.us-west-2.amazonaws.com/proj/"
CLASHES = {
    "same path": (
        _two_at({"path": "data/a.nwb"}, {"path": "data/a.nwb"}),
        "data_files/1 and data_files/6 both have path 'data/a.nwb' but different content",
    ),
    "same URL, no path": (
        _two_at({"url": URL + "data/a.nwb"}, {"url": URL + "data/a.nwb"}),
        "data_files/1 and data_files/6 both have path 'data/a.nwb' but different content",
    ),
    "a path and a URL": (
        _two_at({"path": "data/x.nwb"}, {"url": URL + "data/x.nwb"}),
        "data_files/1 and data_files/6 both have path 'data/x.nwb' but different content",
    ),
    "spelled differently": (  # one file to a folder, two keys to S3: refused
        _two_at({"path": "data/a.nwb"}, {"path": "./data/a.nwb"}),
        "data_files/6: path './data/a.nwb' has a '.' part (URLs read it as the folder it is in)",
    ),
    "an empty part": (
        _two_at({"path": "data//a.nwb"}, {}),
        "data_files/1: path 'data//a.nwb' has an empty part ('//')",
    ),
    "a table and a data file": (
        _two_at({"path": "project_metadata/units.csv"}, {}),
        "metadata_files/units and data_files/1 both have path 'project_metadata/units.csv'",
    ),
    "a file and a folder": (
        _two_at({"path": "data/a"}, {"path": "data/a/b.nwb"}),
        "data_files/1 has path 'data/a', and data_files/6 has path 'data/a/b.nwb' inside it",
    ),
    "a file and a folder, apart when sorted": (
        _two_at({"path": "data/a/b/c.nwb"}, {"path": "data/a"}),  # data/a.nwb, data/a-x between
        "data_files/6 has path 'data/a', and data_files/1 has path 'data/a/b/c.nwb' inside it",
    ),
    "a URL that leaves the release folder": (
        _two_at({"url": URL + "data/../../x.nwb"}, {}),
        "data_files/1: path 'data/../../x.nwb' has a '..' part (URLs read it as the folder above)",
    ),
    "an absolute path read from a URL": (
        _two_at({"url": URL + "/etc/passwd"}, {}),
        "data_files/1: path '/etc/passwd' starts with '/'",
    ),
    "a URL without a file": (
        _two_at({"url": "https://b.s3.us-west-2.amazonaws.com/proj"}, {}),
        "data_files/1: path '' is empty",
    ),
    "a URL urllib cannot split": (
        _two_at({"url": "https://[b/proj/data/x.nwb"}, {}),
        "data_files/1: url 'https://[b/proj/data/x.nwb' cannot be read as a URL (Invalid IPv6",
    ),
    "a NUL": (
        _two_at({"path": "data/a\0.nwb"}, {}),
        "data_files/1: path 'data/a\\x00.nwb' holds control character U+0000",
    ),
}
CLASHES["a file and a folder, apart when sorted"][0]["data_files"]["9"] = {
    **entry("data/a-x.nwb", "x"),
    "path": "data/a-x.nwb",
}


@pytest.mark.parametrize("case", list(CLASHES))
@pytest.mark.parametrize("command", ["manifest validate", "notes", "verify", "fetch"])
def test_entries_no_folder_can_hold_are_refused_by_every_reader(
    cli, tmp_path: Path, case: str, command: str
) -> None:
    document, expected = CLASHES[case]
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    args = {
        "manifest validate": ["manifest", "validate", str(path)],
        "notes": ["notes", str(path), str(path)],
        "verify": ["verify", str(path), "--deep"],
        "fetch": ["fetch", str(path), "--to", str(tmp_path / "cache")],
    }[command]

    result = cli(*args, cwd=tmp_path)

    assert result.exit_code == (1 if command == "manifest validate" else 2)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), result.stderr
    assert expected in lines[0]
    assert "use the one the release published" in lines[0]
    assert not (tmp_path / "cache").exists()  # fetch refused before creating anything


def test_entries_at_one_path_with_the_same_content_are_fine(cli, tmp_path: Path) -> None:
    """A release lists a file twice when two ids of its table name it: that is no clash."""
    twice = {**entry("data/z.nwb", "z"), "path": "data/z.nwb", "size": 3, "sha256": "0" * 64}
    document = _two_at(twice, twice)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    assert cli("manifest", "validate", str(path)).exit_code == 0
    document["data_files"]["6"]["sha256"] = "1" * 64  # one digest differs: a clash
    path.write_text(json.dumps(document))
    refused = cli("manifest", "validate", str(path))
    assert refused.exit_code == 1
    assert "data_files/1 and data_files/6 both have path 'data/z.nwb'" in refused.stderr


@pytest.mark.parametrize("name", ["../../etc", "a/b", "..", ".hidden", "/abs", "a\0b", ""])
def test_a_project_name_that_is_not_a_plain_name_is_refused(cli, tmp_path: Path, name: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**NEW, "project_name": name}))
    result = cli("manifest", "validate", str(path))
    assert result.exit_code == 1
    assert "at /project_name: " in result.stderr
    for plain in ("visual-behavior-neuropixels", "proj_2.v1"):
        path.write_text(json.dumps({**NEW, "project_name": plain}))
        assert cli("manifest", "validate", str(path)).exit_code == 0


def _plain_clash(paths: list[str], contents: list[str]) -> str | None:
    """The paths rule written plainly: each path names parts of a folder, none of them empty,
    '.' or '..' or with a NUL; none may repeat with other content, or be a folder of another."""
    places = []
    for path in paths:
        parts = path.split("/")
        if any(part in ("", ".", "..") or "\0" in part for part in parts):
            return "not a file"
        places.append(path)
    for n, place in enumerate(places):
        for m, other in enumerate(places):
            if n != m and other == place and contents[n] != contents[m]:
                return "clash"
            if other.startswith(place + "/"):
                return "folder"
    return None


def test_the_paths_rule_matches_its_plain_definition() -> None:
    rng = random.Random(13)
    parts = ["a", "b", "a-b", "a.b", ".", "..", "", ".x", "a\0"]
    for _ in range(4000):
        paths = [
            ("/" if rng.random() < 0.05 else "")
            + "/".join(rng.choice(parts) for _ in range(rng.randint(1, 3)))
            for _ in range(rng.randint(1, 6))
        ]
        contents = [rng.choice("xy") for _ in paths]
        doc = json.loads(json.dumps(NEW))
        doc["metadata_files"] = {}
        doc["data_files"] = {
            str(n): {**entry("x", content), "url": URL + path}
            for n, (path, content) in enumerate(zip(paths, contents, strict=True))
        }
        want = _plain_clash(paths, contents)
        try:
            manifest._check_paths(doc, "src")
            got = None
        except ManifestError as exc:
            got = (
                "not a file"
                if "not a clean relative key" in exc.message or "the key it names" in exc.message
                else "clash"
                if "different content" in exc.message
                else "folder"
            )
        assert (got is None) == (want is None), (paths, contents, got, want)
        if want == "not a file":
            assert got == want, (paths, contents)


def test_loads_reads_what_json_loads_reads() -> None:
    """orjson's document, or json.loads's verdict and error where orjson refuses the text."""

    def outcome(func: Callable[[Any], Any], data: Any) -> Any:
        try:
            return ("ok", func(data))
        except Exception as exc:
            return type(exc), str(exc)

    texts = [
        *(b'{"a": 1, "a": 2}', b"[1.5e-7, -0.0, 1e300, 0.1]", b"NaN", b"[Infinity]", b"1E400"),
        *(b"\xef\xbb\xbf{}", '"\\ud800"', b'"\xff"', b"{not json", b"", "[" * 2000 + "]" * 2000),
        *('{"é": "😀\\u2028"}'.encode(), '{"a": [1, "x"]}'.encode("utf-16"), b"[2]x"),
    ]
    for data in texts:
        assert outcome(jsonio.loads, data) == outcome(json.loads, data), data
    doc = _big(100)
    assert jsonio.loads(jsonio.encode(doc)) == doc
    assert jsonio.loads(b"[123456789012345678901234567890]") == [1.2345678901234568e29]


def test_one_head_says_only_what_reading_each_url_says() -> None:
    """When one_head vouches for the URLs, each URL's key, AllenSDK's path and the schema's
    patterns are what reading each URL on its own finds: the prefix, '/' and a clean path."""
    rng = random.Random(23)
    heads = [
        *("https://b.s3.us-west-2.amazonaws.com/proj/", "http://h/p/", "https:///p/", "https://b/"),
        *("https://b/a/b/", "https://b/./", "https://b/%41/", "https://b/p?/", "ftp://b/p/", ""),
        *("https://b/p", "https://[b/p/", "https://bé/p/", "https://b/p\n/"),
    ]
    parts = ["a", "b.nwb", "c-d_e~f", "..", ".", "", "é", "%41", "a?b", "a#b", "x;y", "a\\b"]
    parts += ["a\nb", "a..b", ".x", "a/"] + ["a", "b.nwb"] * 12
    vouched = 0
    for _ in range(6000):
        head = rng.choice(heads[:3]) if rng.random() < 0.5 else rng.choice(heads)
        paths = [
            "/".join(rng.choice(parts) for _ in range(rng.randint(1, 3)))
            for _ in range(rng.randint(1, 4))
        ]
        urls = [head + path for path in paths]
        if rng.random() < 0.1:
            urls[-1] = rng.choice(heads) + paths[-1]
        found = urls_module.one_head(urls, paths)
        if found is None:
            continue
        vouched += 1
        assert all(url == found + path for url, path in zip(urls, paths, strict=True))
        keys = manifest.url_keys(urls)
        assert keys == [found.split("/")[3] + "/" + path for path in paths]
        assert manifest.allensdk_relpaths(urls) == paths
        assert first_unclean(paths) is None and first_unclean(cast("list[str]", keys)) is None
        for url, path in zip(urls, paths, strict=True):
            assert re.search(manifest_decoder._entry_pattern("url"), url), url
            assert re.search(manifest_decoder._entry_pattern("path"), path), path
    assert vouched > 500


# --- the typed decoder against the schema: the corpus, and documents hypothesis makes --------

CORPUS = sorted((Path(__file__).parent.parent / "data").glob("*/*manifest*.json"))


def _reference(data: bytes) -> str | None:
    """What parse_manifest said before the typed decoder: jsonio's document, the schema alone
    over all of it, then the paths' check."""
    try:
        document = jsonio.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "not valid JSON"
    return _full_pass_error(document)


def _message(data: bytes) -> str | None:
    try:
        manifest.parse_manifest(data, "src")
    except ManifestError as exc:
        return "not valid JSON" if "not valid JSON" in exc.message else exc.message
    return None


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_the_corpus_is_judged_by_the_typed_decoder_as_by_the_schema(path: Path) -> None:
    assert _message(path.read_bytes()) == _reference(path.read_bytes())
    if path.parent.name == "good":
        assert manifest_decoder.decode(path.read_bytes()) is not None  # read in one pass


_text = st.one_of(
    st.sampled_from(["", "a", "0" * 6, "a" * 128, "f" * 64, "data/a.nwb", "a/../b", "/a", "é"]),
    st.sampled_from([URL + "data/a.nwb", URL + "d/b?x", "http://x", "a\n", "0" * 6 + "\n"]),
    st.text(st.sampled_from("0af/.\n?#:hps é\0"), max_size=10),
)
_value = st.one_of(
    _text,
    st.integers(min_value=-2, max_value=2**64),
    st.sampled_from([None, True, 1.0, 2.5, [], {}]),
    st.fixed_dictionaries({}, optional={"path": _text, "version_id": _text, "file_hash": _text}),
)
_fields = st.sampled_from([*FIELD_VALUES, "extra"])


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    faults=st.lists(
        st.tuples(st.sampled_from(manifest.GROUPS), st.integers(0, 7), _fields, _value),
        max_size=4,
    ),
    top=st.dictionaries(
        st.sampled_from(["created", "previous_manifest_version", "dandi", "project_name", "x"]),
        st.one_of(_value, st.just("1.0.0")),
        max_size=2,
    ),
)
def test_the_typed_decoder_judges_any_document_as_the_schema_does(
    faults: list[tuple[str, int, str, Any]], top: dict[str, Any]
) -> None:
    """Random values in random entries and top-level keys: parse_manifest's verdict and message
    are the schema's (then the paths' check's); an accepted document is jsonio's, but for the
    keys the schema does not name inside an entry."""
    doc = {**_big(8), **top}
    for group, index, field, value in faults:
        key = list(doc[group])[index % len(doc[group])]
        doc[group][key][field] = value
    data = json.dumps(doc).encode()
    assert _message(data) == _reference(data)
    decoded = manifest_decoder.decode(data)
    if decoded is not None:
        expected = jsonio.loads(data)
        for group in manifest.GROUPS:
            for entry in expected[group].values():
                entry.pop("extra", None)
        assert decoded.document == expected


def test_a_key_given_twice_is_read_as_jsonio_reads_it_the_last_one() -> None:
    """Top level, a group, an entry: the typed decoder keeps the last value, as jsonio does."""
    good = json.dumps(_big(3))
    for twice in (
        good[:-1] + ', "data_files": {"1": ' + json.dumps(entry("data/x.nwb", "x")) + "}}",
        good[:-1] + ', "project_name": "../x"}',
        good.replace('"data_files": {', '"data_files": {"2": {"url": 5}, ', 1),
        good.replace('"data_files": {"0": {', '"data_files": {"0": {"url": "https://b/p/a?x", ', 1),
        good.replace('"data_files": {"0": {"url": ', '"data_files": {"0": {"url": "a", "url": ', 1),
    ):
        data = twice.encode()
        assert _message(data) == _reference(data), twice
