"""Releases whose user-written parts (file and table names, cell values, notes, --note, URLs)
are markup and javascript: URLs; and a check that none of it is live in a page."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from msgspec.structs import replace

from publishkit.formats.comparison import Comparison, compare_manifests
from publishkit.formats.table_diff import diff_tables

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
JS_URL = "javascript:alert(3)"
HOSTILE = (SCRIPT, IMG, JS_URL)


def entry(path: str, digest: str, size: int = 10, url: str | None = None) -> dict[str, Any]:
    return {
        "url": url or f"http://127.0.0.1:9/bucket/pre/{path}",
        "version_id": "v" + digest,
        "file_hash": digest * 8,
        "path": path,
        "size": size,
    }


def manifest(version: str, files: dict[str, dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "project_name": "proj",
        "manifest_version": version,
        "metadata_file_id_column_name": "file_id",
        "data_pipeline": [],
        "metadata_files": {"sessions": entry("sessions.csv", "aa")},
        "data_files": files,
        "created": "2026-01-02T03:04:05Z",
        **extra,
    }


def hostile_releases() -> tuple[dict[str, Any], dict[str, Any], Comparison]:
    """Two releases: the second adds files named with markup, one with a javascript: URL, a
    table whose cells and columns are markup, a DANDI record with a javascript: URL."""
    old = manifest("1.0.0", {"a": entry("nwb/a.nwb", "b1")})
    new = manifest(
        "1.1.0",
        {
            "a": entry("nwb/a.nwb", "b1"),
            "s": entry(f"nwb/{SCRIPT}.nwb", "b2"),
            "i": entry(f"{IMG}/x.nwb", "b3"),
            "j": entry("nwb/j.nwb", "b4", url=JS_URL),
        },
        dandi={
            "instance": JS_URL,
            "dandiset_id": "000001",
            "version": "0.260102.0001",
            "url": JS_URL,
            "doi": IMG,
        },
    )
    new["metadata_files"]["sessions"]["file_hash"] = "cc" * 8
    comparison = compare_manifests(old, new, "old.json", "new.json")
    table = diff_tables(
        "sessions",
        "sessions.csv",
        (["file_id", "note"], [["1", "fine"]]),
        (["file_id", "note", IMG], [["1", SCRIPT, JS_URL], [JS_URL, IMG, SCRIPT]]),
        ("file_id",),
    )
    return old, new, replace(comparison, tables=(table,), nwb_files=())


class LiveParts(HTMLParser):
    """What a browser would run or follow: script elements, event-handler attributes, and
    links or sources that are not http(s) or relative."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "iframe", "object", "embed", "img"}:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag} {name}=")
            if name in {"href", "src", "xlink:href", "action"} and value is not None:
                lowered = value.strip().lower()
                if (tag, value) == ("link", "data:,"):  # our empty favicon: no request for one
                    continue
                if ":" in lowered.split("/")[0] and not lowered.startswith(("http:", "https:")):
                    self.found.append(f"{tag} {name}={value}")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def live_parts(page: str) -> tuple[list[str], str]:
    """The live parts of `page`, and its text (what a reader sees)."""
    parser = LiveParts()
    parser.feed(page)
    return parser.found, "".join(parser.text)
