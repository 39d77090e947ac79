"""Clean relative S3 keys: what `key_problem` refuses, and that every clean key's manifest URL
is read back as that key by curl, requests and browsers, and by the S3 server itself."""

from __future__ import annotations

import posixpath
import random
import re
import unicodedata
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.models import PreparedRequest

from publishkit.formats.keys import MAX_KEY_BYTES, first_unclean, key_problem
from publishkit.formats.manifest import public_url
from publishkit.sandbox.s3 import S3Sandbox, SandboxInfo
from tests.conftest import REGION

DEFAULT_URL = "https://{bucket}.s3.{region}.amazonaws.com/{key}"


def as_readers_read(url: str) -> dict[str, str]:
    """The path each URL reader asks the server for, percent-decoded: curl and browsers remove
    '.' and '..' parts (a browser also reads %2e as '.' and a backslash as '/'); requests
    (urllib3) removes them too; a plain normalisation (posixpath.normpath) also folds '//'."""
    path = urlsplit(url).path
    browser = re.sub("%2e", ".", path, flags=re.IGNORECASE).replace("\\", "/")
    prepared = PreparedRequest()
    prepared.prepare_url(url, None)
    return {
        "posixpath.normpath": unquote(posixpath.normpath(path) if path else ""),
        "browser": unquote(_remove_dot_segments(browser)),
        "requests": unquote(urlsplit(prepared.url or "").path),
    }


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, as curl and browsers apply it."""
    out: list[str] = []
    parts = path.split("/")
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if part == ".":
            if last:
                out.append("")
        elif part == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(part)
    return "/".join(out)


def assert_round_trips(url: str, key: str, before_key: str = "") -> None:
    """Every reader asks for exactly `key` (after `before_key`, e.g. a path-style bucket)."""
    for reader, path in as_readers_read(url).items():
        assert path == f"/{before_key}{key}", (reader, url, key)


# --- what is refused, in words -----------------------------------------------------------------

REFUSED = {
    "a18/../../etc/passwd": "has a '..' part (URLs read it as the folder above)",
    "..": "has a '..' part",
    "a/..": "has a '..' part",
    "./a": "has a '.' part (URLs read it as the folder it is in)",
    "a/./b.nwb": "has a '.' part",
    "a//b.nwb": "has an empty part ('//')",
    "/etc/passwd": "starts with '/'",
    "a/": "ends with '/'",
    "": "is empty",
    "a\\b.nwb": "holds a backslash (URLs read it as '/')",
    "a\nb": "holds control character U+000A",
    "a\x7f": "holds control character U+007F",
    "a\x85": "holds control character U+0085",
    "a\ud800": "holds a surrogate U+D800",
    "a/" + "é" * 512: "is 1,026 UTF-8 bytes long (S3's limit: 1,024)",
}
CLEAN = [
    "a",
    "a/b.nwb",
    "a..b/c..",
    "...",
    ".hidden/.x",
    "a b/ü %25 #?+&;=@[].nwb",
    "名前/ファイル.nwb",
    "x" * MAX_KEY_BYTES,
    "é" * (MAX_KEY_BYTES // 2),
]


@pytest.mark.parametrize("key", list(REFUSED))
def test_a_key_urls_read_differently_is_refused_saying_why(key: str) -> None:
    assert REFUSED[key] in (key_problem(key) or "")
    assert first_unclean(["fine/a.nwb", key, "fine/b.nwb"]) == (1, key_problem(key))


@pytest.mark.parametrize("key", CLEAN)
def test_a_clean_key_is_accepted_and_its_url_reads_back_as_itself(key: str) -> None:
    assert key_problem(key) is None
    assert first_unclean([key, key]) is None
    assert_round_trips(public_url(DEFAULT_URL, bucket="b", region="r", key=key), key)


def _plain_problem(key: Any) -> bool:
    """The rule written plainly: parts between '/', none empty, '.' or '..'; no backslash, no
    control character or surrogate; at most 1,024 UTF-8 bytes."""
    if not isinstance(key, str):
        return True
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in key) or "\\" in key:
        return True
    if any(part in ("", ".", "..") for part in key.split("/")):
        return True
    return len(key.encode()) > MAX_KEY_BYTES


def test_key_problem_and_first_unclean_match_the_plain_rule() -> None:
    rng = random.Random(20)
    parts = ["a", "B-c", ".", "..", "", ".x", "x.", "~", "\\", "\n", "\t", "é", "\x9f", "%2e"]
    keys: list[Any] = [None, 7, b"a", "x" * 1025, "x" * 256, "/" + "x" * 300]
    for _ in range(6000):
        keys.append("/".join(rng.choice(parts) for _ in range(rng.randint(1, 4))))
    for key in keys:
        assert (key_problem(key) is not None) == _plain_problem(key), repr(key)
    for _ in range(3000):
        batch = rng.sample(keys, rng.randint(0, 5))
        found = first_unclean(batch)
        bad = [n for n, key in enumerate(batch) if _plain_problem(key)]
        assert found == ((bad[0], key_problem(batch[bad[0]])) if bad else None), batch


segments = st.one_of(
    st.sampled_from([".", "..", "", "\\", "a\\b", "%2e", "%2E%2e", "\x00", "\x1f", "a\u0085"]),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=12),
    st.text(st.sampled_from("ab.-_~ %#?+&é"), min_size=1, max_size=6),
    st.just("x" * 300),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(segments, min_size=1, max_size=5))
def test_a_key_is_refused_or_its_url_reads_back_as_itself(parts: list[str]) -> None:
    key = "/".join(parts)
    if key_problem(key) is not None:
        return
    url = public_url(DEFAULT_URL, bucket="bucket", region=REGION, key=key)
    assert_round_trips(url, key)


# --- the S3 server reads each URL as the key it names ------------------------------------------

ODD_NAMES = ["a b.nwb", "ü/名前.nwb", "100%.nwb", "a#b.nwb", "q?x=1.nwb", "a+b.nwb", "~x/.y"]


def test_the_server_returns_the_object_a_url_names(
    s3_server: S3Sandbox, bucket: SandboxInfo, s3_client: Any
) -> None:
    template = s3_server.endpoint_url + "/{bucket}/{key}"  # path style, as the sandbox serves
    for n, name in enumerate(ODD_NAMES):
        key = f"rel/{name}"
        assert key_problem(key) is None
        s3_client.put_object(Bucket=bucket.bucket, Key=key, Body=f"object {n}".encode())
        url = public_url(template, bucket=bucket.bucket, region=REGION, key=key)
        assert_round_trips(url, key, before_key=f"{bucket.bucket}/")
        got = requests.get(url, timeout=10)
        assert (got.status_code, got.content) == (200, f"object {n}".encode()), url


def test_an_unclean_key_is_another_object_to_a_url_reader(
    s3_server: S3Sandbox, bucket: SandboxInfo, s3_client: Any
) -> None:
    """Why such keys are refused: the object at `a18/../etc/x` is not what its URL fetches."""
    s3_client.put_object(Bucket=bucket.bucket, Key="a18/../etc/x", Body=b"published")
    s3_client.put_object(Bucket=bucket.bucket, Key="etc/x", Body=b"another object")
    template = s3_server.endpoint_url + "/{bucket}/{key}"
    url = public_url(template, bucket=bucket.bucket, region=REGION, key="a18/../etc/x")
    assert requests.get(url, timeout=10).content == b"another object"
    assert key_problem("a18/../etc/x") is not None
