"""`publishkit notes`: the comparison of two manifests, in three formats."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from msgspec.structs import replace

from publishkit.formats.changes import _allensdk_detect, compare, suggest_bump
from publishkit.formats.manifest import allensdk_relpath, allensdk_relpaths, entry_relpath
from publishkit.formats.notes import prepend_section

BASE = "https://b.s3.us-west-2.amazonaws.com/proj"


def entry(path: str, content: str) -> dict[str, Any]:
    digest = (content.encode().hex() * 128)[:128].ljust(128, "0")
    return {"url": f"{BASE}/{path}", "version_id": f"v-{content}", "file_hash": digest}


def manifest(version: str, metadata: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {
        "project_name": "proj",
        "manifest_version": version,
        "metadata_file_id_column_name": "file_id",
        "data_pipeline": [{"name": "publishkit", "version": "0", "comment": ""}],
        "metadata_files": metadata,
        "data_files": data,
    }


OLD = manifest(
    "0.1.0",
    {
        "units": entry("project_metadata/units.csv", "u1"),
        "sessions": entry("project_metadata/sessions.csv", "s1"),
    },
    {
        "1": entry("data/a.nwb", "a"),
        "2": entry("data/b.nwb", "b"),
        "3": entry("data/c.nwb", "c"),
        "4": entry("data/d.nwb", "d"),
    },
)
NEW = manifest(
    "0.2.0",
    {
        "units": entry("project_metadata/units.csv", "u2"),
        "sessions": entry("project_metadata/sessions.csv", "s1"),
    },
    {
        "1": entry("data/a.nwb", "a2"),
        "3": entry("data/c.nwb", "c"),
        "5": entry("data/e.nwb", "d"),
        "6": entry("data/f.nwb", "f"),
    },
)


def write(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_compare_classifies_created_deleted_changed_renamed() -> None:
    found = {(c.group, c.kind, c.path, c.new_path) for c in compare(OLD, NEW)}
    assert found == {
        ("metadata", "changed", "project_metadata/units.csv", None),
        ("data", "changed", "data/a.nwb", None),
        ("data", "deleted", "data/b.nwb", None),
        ("data", "renamed", "data/d.nwb", "data/e.nwb"),
        ("data", "created", "data/f.nwb", None),
    }


def test_suggested_bumps() -> None:
    assert suggest_bump(compare(OLD, NEW)) == "major"
    only_tables = manifest("0.1.1", NEW["metadata_files"], OLD["data_files"])
    assert suggest_bump(compare(OLD, only_tables)) == "patch"
    created = manifest(
        "0.2.0", OLD["metadata_files"], {**OLD["data_files"], "9": entry("data/z.nwb", "z")}
    )
    assert suggest_bump(compare(OLD, created)) == "minor"
    assert suggest_bump(compare(OLD, OLD)) is None


def test_allensdk_format_matches_compare_manifests(cli, tmp_path: Path) -> None:
    old = write(tmp_path, "proj_project_manifest_v0.1.0.json", OLD)
    new = write(tmp_path, "proj_project_manifest_v0.2.0.json", NEW)

    result = cli("notes", str(old), str(new), "--format", "allensdk")

    assert result.exit_code == 0
    # what `print(cache.compare_manifests(old, new))` shows
    assert result.stdout == (
        "Changes going from\n"
        "proj_project_manifest_v0.1.0.json\n"
        "to\n"
        "proj_project_manifest_v0.2.0.json\n"
        "\n"
        "project_metadata/units.csv changed\n"
        "data/a.nwb changed\n"
        "data/b.nwb deleted\n"
        "data/d.nwb renamed data/e.nwb\n"
        "data/f.nwb created\n"
        "\n"
    )


def test_allensdk_format_equivalent(cli, tmp_path: Path) -> None:
    old = write(tmp_path, "a.json", OLD)
    same = write(tmp_path, "b.json", {**OLD, "manifest_version": "0.1.1"})
    result = cli("notes", str(old), str(same), "--format", "allensdk")
    assert result.exit_code == 0
    assert result.stdout == "The two manifests are equivalent\n"


def test_markdown_groups_with_counts(cli, tmp_path: Path) -> None:
    old, new = write(tmp_path, "o.json", OLD), write(tmp_path, "n.json", NEW)
    result = cli("notes", str(old), str(new), "--files-only")
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith("## v0.2.0\n\nChanges since v0.1.0: 1 created, 2 changed, 1 renamed,")
    assert "### Metadata tables (1 changed)" in text
    assert "### Data files (1 created, 1 changed, 1 renamed, 1 deleted)" in text
    assert "- `data/d.nwb` → `data/e.nwb` renamed" in text
    assert text.index("### Metadata tables") < text.index("### Data files")


def test_json_for_scripts(cli, tmp_path: Path) -> None:
    result = cli(
        "notes",
        str(write(tmp_path, "o.json", OLD)),
        str(write(tmp_path, "n.json", NEW)),
        "--format",
        "json",
        "--files-only",
    )
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["tables"] is None and report["nwb_files"] is None  # not compared
    assert report["suggested_bump"] == "major"
    assert report["counts"]["data"] == {"created": 1, "changed": 1, "renamed": 1, "deleted": 1}
    assert report["old"] == {"manifest": "o.json", "version": "0.1.0"}


def test_bad_manifest_names_the_file_and_pointer(cli, tmp_path: Path) -> None:
    broken = dict(NEW)
    broken["data_files"] = {"1": {**NEW["data_files"]["1"], "file_hash": "xyz"}}
    result = cli(
        "notes", str(write(tmp_path, "o.json", OLD)), str(write(tmp_path, "bad.json", broken))
    )
    assert result.exit_code == 2
    assert "bad.json: at /data_files/1/file_hash:" in result.stderr
    missing = cli("notes", str(tmp_path / "nope.json"), str(tmp_path / "o.json"))
    assert missing.exit_code == 2
    assert "nope.json: no such manifest file" in missing.stderr


def test_release_notes_document_keeps_newest_on_top_and_replaces_a_rerun() -> None:
    first = prepend_section(None, "## v0.1.0\n\nFirst.\n", "0.1.0")
    second = prepend_section(first, "## v0.2.0\n\nSecond.\n", "0.2.0")
    again = prepend_section(second, "## v0.2.0\n\nSecond, again.\n", "0.2.0")
    assert second == "# Release notes\n\n## v0.2.0\n\nSecond.\n\n## v0.1.0\n\nFirst.\n"
    assert again == "# Release notes\n\n## v0.2.0\n\nSecond, again.\n\n## v0.1.0\n\nFirst.\n"


# --- the diff at scale takes shortcuts; these pin them to the plain definitions ---------------


def _plain_relpath(url: str) -> str:
    return "/".join(urlparse(url).path[1:].split("/")[1:])


def _plain_compare(old: dict[str, Any], new: dict[str, Any]) -> list[tuple[Any, ...]]:
    """compare() written plainly: every path looked at, renames matched in sorted order."""
    found = []
    for group, label in (("metadata_files", "metadata"), ("data_files", "data")):
        before, after = (
            {entry_relpath(e): e["file_hash"] for e in d[group].values()} for d in (old, new)
        )
        found += [
            (label, "changed", p, None)
            for p in before.keys() & after.keys()
            if before[p] != after[p]
        ]
        unclaimed: dict[str, list[str]] = {}
        for path in sorted(after.keys() - before.keys()):
            unclaimed.setdefault(after[path], []).append(path)
        for path in sorted(before.keys() - after.keys()):
            targets = unclaimed.get(before[path])
            found.append(
                (label, "renamed", path, targets.pop(0))
                if targets
                else (label, "deleted", path, None)
            )
        found += [(label, "created", p, None) for paths in unclaimed.values() for p in paths]
    return sorted(found, key=lambda c: (c[0] != "metadata", c[2]))


def _plain_allensdk_detect(h0: dict[str, str], h1: dict[str, str]) -> dict[str, str]:
    """AllenSDK's CloudCacheBase._detect_changes, transcribed."""
    hash_to_filename = [{h: f for f, h in h.items()} for h in (h0, h1)]
    deltas = {}
    for fname in h0.keys() | h1.keys():
        if fname in h0 and fname in h1:
            if h0[fname] != h1[fname]:
                deltas[fname] = f"{fname} changed"
        elif fname in h0:
            moved = hash_to_filename[1].get(h0[fname])
            deltas[fname] = f"{fname} renamed {moved}" if moved else f"{fname} deleted"
        elif h1[fname] not in hash_to_filename[0]:
            deltas[fname] = f"{fname} created"
    return deltas


def _random_manifest(rng: random.Random, with_path: float = 0.5) -> dict[str, Any]:
    """Entries of random names and hashes, a share `with_path` of them with a path (the URL's,
    or another), some of the others with an empty one."""
    groups: dict[str, dict[str, Any]] = {"metadata_files": {}, "data_files": {}}
    for files in groups.values():
        for n in range(rng.randint(0, 12)):
            name = f"{rng.choice('abc')}/{rng.choice('xyz')}{rng.randint(0, 3)}"
            item = entry(name, rng.choice(["h1", "h2", "h3", "h4"]))
            roll = rng.random()
            if roll < with_path:
                item["path"] = name if rng.random() < 0.8 else f"other/{name}"
            elif roll < with_path + 0.1:
                item["path"] = ""
            files[str(n)] = item
    return manifest("1.0.0", groups["metadata_files"], groups["data_files"])


def test_compare_and_allensdk_text_match_their_plain_definitions() -> None:
    rng = random.Random(11)
    for n in range(3000):  # half of them with a path in every entry (publishkit's manifests)
        share = 1.0 if n % 2 else 0.5
        old, new = _random_manifest(rng, share), _random_manifest(rng, share)
        found = [(c.group, c.kind, c.path, c.new_path) for c in compare(old, new)]
        assert found == _plain_compare(old, new), (old, new)
    for _ in range(20000):
        h0, h1 = (
            {rng.choice("abcdef"): rng.choice("wxyz") for _ in range(rng.randint(0, 6))}
            for _ in range(2)
        )
        assert _allensdk_detect(h0, h1) == _plain_allensdk_detect(h0, h1), (h0, h1)


def test_allensdk_relpath_reads_urls_as_urlparse_does() -> None:
    rng = random.Random(12)
    pieces = [
        *("http", "https", "HTTP", "://", ":", "/", "//", "a", "b.c", "é", "\u2100", "?", "#"),
        *(";", "[", "]", "[::1]", "\t", "\r", "\n", " ", "\0", "%2F", "..", ":80", "@"),
    ]

    def outcome(func: Any, url: str) -> Any:
        try:
            return func(url)
        except (ValueError, AttributeError) as exc:
            return type(exc), str(exc)

    urls = []
    for _ in range(50000):
        url = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        urls.append(rng.choice(["http://", "https://", ""]) + url)
        assert outcome(allensdk_relpath, urls[-1]) == outcome(_plain_relpath, urls[-1]), url
    urls = [url for url in urls if isinstance(outcome(_plain_relpath, url), str)]
    plain = [url for url in urls if url.startswith("http") and url.isascii()]
    for batch in (urls, plain, [url for url in plain if not set(url) & set("?#;[]\t\r\n")]):
        assert allensdk_relpaths(batch) == [_plain_relpath(url) for url in batch]
    assert outcome(allensdk_relpath, 7) == outcome(_plain_relpath, 7)


def test_a_release_and_its_candidate_are_different_sections() -> None:
    """v1.0.1's section is not v1.0.1-rc1's: writing one neither finds nor replaces the other."""
    from publishkit.formats.notes import has_section, prepend_section

    notes = prepend_section(None, "## v1.0.1-rc1 (2026-11-01)\n\nCandidate.\n", "1.0.1-rc1")
    assert has_section(notes, "1.0.1-rc1") and not has_section(notes, "1.0.1")
    both = prepend_section(notes, "## v1.0.1 (2026-11-02)\n\nFinal.\n", "1.0.1")
    assert "Candidate." in both and both.index("## v1.0.1 ") < both.index("## v1.0.1-rc1")


def test_notes_between_two_projects_are_refused(cli, tmp_path: Path) -> None:
    old = write(tmp_path, "o.json", OLD)
    other = write(tmp_path, "n.json", {**NEW, "project_name": "another"})
    for fmt in ("markdown", "allensdk"):
        result = cli("notes", str(old), str(other), "--files-only", "--format", fmt)
        assert result.exit_code == 2
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            "error: n.json: a manifest of project 'another', o.json of project 'proj': notes "
            "compare two releases of one project (fix: give two manifests of the same project)"
        ]


def test_notes_with_old_newer_than_new_warn_and_say_how_to_swap(cli, tmp_path: Path) -> None:
    old, new = write(tmp_path, "o.json", OLD), write(tmp_path, "n.json", NEW)
    result = cli("notes", str(new), str(old), "--files-only")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "warning: n.json (v0.2.0) is newer than o.json (v0.1.0): these notes go back in time; "
        "for a release's notes, give the older manifest first: publishkit notes o.json n.json"
    ]
    assert result.stdout.startswith("## v0.1.0\n")
    in_order = cli("notes", str(old), str(new), "--files-only")
    assert in_order.exit_code == 0 and in_order.stderr == ""


HOSTILE = "<img src=x onerror=alert(1)>"


def _hostile_comparison() -> Any:
    from publishkit.formats.comparison import compare_manifests
    from publishkit.formats.table_diff import diff_tables

    header = ["session_id", "note", f"col` {HOSTILE} `x"]
    old = (header, [["1", "plain", "a"], ["2", "two", "b"]])
    new = (header, [["1", f"**bold** {HOSTILE} & _em_ \\", "[link](javascript:alert(1))"]])
    table = diff_tables("sessions", "project_metadata/sessions.csv", old, new, ("session_id",))
    comparison = compare_manifests(OLD, NEW, "o.json", "n.json")
    return replace(comparison, tables=(table,), nwb_files=())


def test_markdown_notes_render_no_user_text_as_markup() -> None:
    """Cell values, column names and --note text are shown as written: nothing of theirs is
    live HTML, a link or emphasis in a Markdown viewer (markdown-it, CommonMark)."""
    from markdown_it import MarkdownIt

    from publishkit.formats.notes import render_markdown

    note = f"Re-sorted {HOSTILE}\n# not a heading\n<script>alert(1)</script>"
    text = render_markdown(_hostile_comparison(), remarks=(note,))
    page = MarkdownIt("commonmark").render(text)
    assert "<img" not in page and "<script" not in page and "<a " not in page
    assert "<strong>bold" not in page and "<em>" not in page
    assert "<h1>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # shown, as text
    assert "**bold**" in page and "_em_" in page and "[link](javascript:alert(1))" in page
    assert "Re-sorted" in page and "# not a heading" in page
    assert "onerror=alert(1)&gt; </code>" not in page  # the column's name, cut at its backtick


def test_html_and_allensdk_notes_are_unchanged_by_markdown_escaping(cli, tmp_path: Path) -> None:
    from publishkit.formats.notes_html import render_html

    page = render_html(_hostile_comparison())
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    old, new = write(tmp_path, "a.json", OLD), write(tmp_path, "b.json", NEW)
    allensdk = cli("notes", str(old), str(new), "--format", "allensdk").stdout
    assert "\\" not in allensdk


def test_an_http_autolink_stays_a_link_and_nothing_else_does() -> None:
    from markdown_it import MarkdownIt

    from publishkit.formats.notes import render_markdown

    note = "DANDI: 000001/0.1 (<https://dandiarchive.org/dandiset/000001/0.1>) <javascript:x>"
    page = MarkdownIt("commonmark").render(render_markdown(_hostile_comparison(), remarks=(note,)))
    assert '<a href="https://dandiarchive.org/dandiset/000001/0.1">' in page
    assert "&lt;javascript:x&gt;" in page and page.count("<a ") == 1
