"""The site's pages: what they show, and that nothing users wrote is live in them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from publishkit.site.history import history
from publishkit.site.pages import (
    InspectionSummary,
    release_files,
    release_page,
    render_index,
    render_release,
)
from tests.site.hostile import HOSTILE, IMG, SCRIPT, entry, hostile_releases, live_parts, manifest


def test_markup_and_javascript_urls_in_names_cells_notes_and_note_are_text_not_live() -> None:
    old, new, comparison = hostile_releases()
    page = release_page(
        new,
        comparison,
        remarks=(f"--note says {SCRIPT} {IMG}", "see javascript:alert(4)"),
        inspection=InspectionSummary(3, (("CRITICAL", 1),), overridden=SCRIPT),
    )
    for html in (
        render_release(page),
        render_index(history([old, new])),
    ):
        found, text = live_parts(html)
        assert found == []
        assert "javascript:" not in " ".join(re.findall(r'href="([^"]*)"', html))
    release_html = render_release(page)
    _, text = live_parts(release_html)
    for value in HOSTILE:  # shown as written
        assert value in text
    assert f"{SCRIPT}.nwb" in text  # a file name
    assert f"--note says {SCRIPT} {IMG}" in text  # --note


def test_a_release_page_is_self_contained_and_says_what_a_reader_needs() -> None:
    old = manifest("1.0.0", {"a": entry("nwb/s1/a.nwb", "b1"), "b": entry("nwb/s2/b.nwb", "b2")})
    files = {"a": entry("nwb/s1/a.nwb", "b9", size=2_500_000), "c": entry("c.nwb", "b3")}
    files["a"]["dandi_asset_id"] = "asset-1"
    new = manifest(
        "1.1.0",
        files,
        previous_manifest_version="1.0.0",
        dandi={
            "instance": "http://127.0.0.1:8/api",
            "dandiset_id": "000001",
            "version": "0.260102.0001",
            "doi": "10.80507/dandi.000001/0.260102.0001",
        },
    )
    from publishkit.formats.comparison import compare_manifests

    page = release_page(
        new,
        compare_manifests(old, new, "old", "new"),
        inspection=InspectionSummary(
            2, (("CRITICAL", 1), ("BEST_PRACTICE_SUGGESTION", 4)), 1, "ok"
        ),
        shapes={"sessions": (12, 5)},
    )
    html = render_release(page)
    assert html.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in html
    assert "<title>proj v1.1.0</title>" in html
    assert '<time datetime="2026-01-02">' in html
    assert "@media print" in html and "@media (max-width" in html
    assert re.findall(r"<(?:link|script)\b[^>]*>", html) == ['<link rel="icon" href="data:,">']
    assert 'href="../index.html"' in html
    pinned = "http://127.0.0.1:9/bucket/pre/nwb/s1/a.nwb?versionId=vb9"
    assert f'href="{pinned}"' in html
    assert 'href="http://127.0.0.1:8/api/assets/asset-1/download/"' in html
    assert "http://127.0.0.1:9/bucket/pre/manifests/proj_project_manifest_v1.1.0.json" in html
    assert 'href="https://doi.org/10.80507/dandi.000001/0.260102.0001"' in html
    _, text = live_parts(html)
    assert "2 files inspected" in text and "BEST_PRACTICE_SUGGESTION" in text
    assert "Reason given: ok" in text
    assert "12" in re.search(r"<td>sessions</td>.*?</tr>", html, re.S).group(0)  # type: ignore[union-attr]
    assert "nwb/s1/" in text and "(top level)/" in text
    assert "2.5 MB" in text
    assert "nwb/s2/b.nwb" in text and "deleted" in text  # the notes


def test_the_index_lists_every_release_newest_first_with_charts_of_the_history() -> None:
    first = manifest("1.0.0", {"a": entry("a.nwb", "b1", size=100)})
    second = manifest("1.1.0", {"a": entry("a.nwb", "b2", size=100), "b": entry("b.nwb", "b3")})
    third = manifest("2.0.0", {"b": entry("b.nwb", "b3")})
    html = render_index(history([third, first, second]))
    versions = re.findall(r'<a href="releases/v([\d.]+)\.html">v', html)
    assert versions[-3:] == ["2.0.0", "1.1.0", "1.0.0"]
    marks = {
        c: len(re.findall(rf'id="{c}-mark-\d+"', html))
        for c in ("chart-bytes", "chart-files", "chart-changes")
    }
    assert marks == {"chart-bytes": 3, "chart-files": 3, "chart-changes": 9}
    assert html.count("<title id=") == 3 and html.count("<desc id=") == 3
    assert "v1.1.0: 1 created, 1 changed, 0 deleted" in html  # the text alternative
    assert (
        'href="http://127.0.0.1:9/bucket/pre/manifests/proj_project_manifest_v2.0.0.json"' in html
    )
    assert 'href="http://127.0.0.1:9/bucket/pre/release_notes.md"' in html


def test_a_large_release_pages_its_file_table_and_caps_the_notes_lists() -> None:
    files = {f"f{i}": entry(f"sub-{i % 3}/f{i:05d}.nwb", f"{i:04x}") for i in range(2_500)}
    new = manifest("2.0.0", files)
    from publishkit.formats.comparison import compare_manifests

    page = release_page(new, compare_manifests(None, new, None, "new"))
    pages = release_files(page)
    assert sorted(pages) == [
        "releases/v2.0.0.html",
        "releases/v2.0.0/files-001.html",
        "releases/v2.0.0/files-002.html",
        "releases/v2.0.0/files-003.html",
    ]
    main = pages["releases/v2.0.0.html"]
    assert 'class="pinned"' not in main  # no file rows on the release page itself
    assert 'href="v2.0.0/files-002.html"' in main
    assert "and 2400 more" in main  # 100 of the 2,500 created files named in the notes
    rows = {name: text.count('class="pinned"') for name, text in pages.items()}
    assert sum(rows.values()) == 2_500 and max(rows.values()) == 1_000
    second = pages["releases/v2.0.0/files-002.html"]
    assert 'href="../v2.0.0.html"' in second and 'href="../../index.html"' in second
    assert 'href="files-001.html" rel="prev"' in second
    assert 'href="files-003.html" rel="next"' in second


@pytest.mark.parametrize(
    ("instance", "link"),
    [
        ("dandi", "https://api.dandiarchive.org/api/assets/asset-1/download/"),
        ("http://127.0.0.1:8/api/", "http://127.0.0.1:8/api/assets/asset-1/download/"),
        ("no-such-instance", None),
    ],
)
def test_the_dandi_asset_link_names_the_instance_s_api(instance: str, link: str | None) -> None:
    files = {"a": {**entry("a.nwb", "b1"), "dandi_asset_id": "asset-1"}}
    dandi = {"instance": instance, "dandiset_id": "000001", "version": "0.260102.0001"}
    new = manifest("1.0.0", files, dandi=dandi)
    from publishkit.formats.comparison import compare_manifests

    html = render_release(release_page(new, compare_manifests(None, new, None, "new")))
    links = re.findall(r'href="([^"]*/assets/[^"]*)"', html)
    assert links == ([link] if link else [])


CHARTS = """
import sys
{before}
from publishkit.site.charts import history_charts
from publishkit.site.history import ReleaseFacts
facts = [
    ReleaseFacts("1.1.0", "2026-01-02", 300, 600_000_001, 0, 1, 0, None, None, None),
    ReleaseFacts("1.0.0", "2026-01-01", 300, 600_000_000, 300, 0, 0, None, None, None),
]
charts = history_charts(facts)
print("lxml" in sys.modules, "importlib_metadata" in sys.modules, file=sys.stderr)
print("".join(chart.svg for chart in charts))
"""


def test_the_charts_are_drawn_without_lxml_and_the_same_with_it_loaded() -> None:
    """pygal draws with lxml when it can import it (~0.05 s of CPU to import): the charts are
    drawn with the standard library's ElementTree, the same SVG whether lxml is loaded or not.
    Nor does pygal look for map plugins (importlib_metadata, every distribution's entry
    points: ~0.03 s): the same SVG as when it does."""
    import subprocess
    import sys

    drawn = {}
    for before, loaded in (
        ("", "False False"),
        ("import lxml.etree", "True False"),
        ("import importlib_metadata", "False True"),
    ):
        done = subprocess.run(
            [sys.executable, "-c", CHARTS.format(before=before)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        drawn[before] = done.stdout
        assert done.stderr.strip() == loaded
    assert len(set(drawn.values())) == 1 and "<svg" in drawn[""]


def test_a_new_process_renders_from_the_templates_compiled_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Compiling the layouts costs ~0.03 s of CPU a release: a process renders from jinja2's
    bytecode cache of them (its own checks: the template's source and jinja2's version), the
    same pages as when it compiles them."""
    import jinja2

    from publishkit.site import pages

    old, new, comparison = hostile_releases()
    page = release_page(new, comparison)

    def rendered() -> tuple[str, str]:
        pages._environment.cache_clear()  # as in a new process
        return render_release(page), render_index(history([old, new]))

    first = rendered()
    compiled: list[str | None] = []
    real = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, name: str | None = None, *a: Any) -> Any:
        compiled.append(name)
        return real(self, source, name, *a)

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    assert rendered() == first
    assert compiled == []
