"""The release site in a real browser: Debian's Chromium, headless, driven by Playwright.

The pages are read from the bucket over HTTP (moto's S3 on loopback) as a reader reads them
from S3, and from the folder `publishkit site --out` writes (file://). No console error, no
request to any other host, the charts drawn with one mark per bar, every link between pages
resolving, each pinned URL downloading the bytes the manifest hashes, screenshots at desktop
and phone width in the test's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import Workspace
from tests.site.test_publishing import two_releases

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

if not Path(CHROMIUM).exists():  # .ci/run installs it: CI never skips
    if os.environ.get("CI"):
        raise RuntimeError(
            f"{CHROMIUM}: no Chromium to run the browser tests (apt-get install chromium)"
        )
    pytest.skip("no Chromium (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


class Visit:
    """A page opened at a width, recording console errors and every request it makes."""

    def __init__(self, browser: Any, viewport: dict[str, int]) -> None:
        self.page = browser.new_page(viewport=viewport)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("dialog", lambda dialog: self.errors.append(f"dialog: {dialog.message}"))

    def open(self, url: str) -> Any:
        response = self.page.goto(url, wait_until="load")
        assert response is None or response.ok, f"{url}: HTTP {response.status}"
        return self.page


def relative_links(page: Any) -> list[str]:
    """The page's links to other pages of the site, made absolute."""
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.getAttribute('href'))")
    return [urljoin(page.url, h) for h in hrefs if not urlsplit(h).scheme]


def crawl(visit: Visit, start: str) -> set[str]:
    """Every page reachable from `start` by the site's own links, each opened."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        url = todo.pop().split("#")[0]
        if url in seen:
            continue
        seen.add(url)
        todo += relative_links(visit.open(url))
    return seen


def check_charts(page: Any, releases: int) -> None:
    for chart, per_release in (("chart-bytes", 1), ("chart-files", 1), ("chart-changes", 3)):
        figure = page.locator(f"#{chart}")
        assert figure.is_visible()
        box = figure.locator("svg").bounding_box()
        assert box is not None and box["width"] > 250 and box["height"] > 100
        marks = figure.locator(f"[id^='{chart}-mark-']")
        assert marks.count() == per_release * releases
        assert figure.locator("svg title").text_content()  # a title and a text alternative
        assert "v0.1.0" in (figure.locator("svg desc").text_content() or "")


@pytest.mark.slow
def test_the_site_in_the_bucket_works_in_chromium(
    cli, workspace: Workspace, aws_env, s3_client, s3_server, browser, tmp_path: Path
) -> None:
    endpoint = s3_server.endpoint_url
    workspace.write_config(extra_s3=f"  public_url: '{endpoint}/{{bucket}}/{{key}}'\n")
    two_releases(cli, workspace)
    origin = urlsplit(endpoint).netloc
    index = f"{endpoint}/{workspace.bucket}/demo-project/index.html"

    visit = Visit(browser, DESKTOP)
    pages = crawl(visit, index)
    assert {p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1] for p in pages} == {
        "demo-project/index.html",
        "releases/v0.1.0.html",
        "releases/v0.2.0.html",
    }
    assert visit.errors == []
    assert {urlsplit(url).netloc for url in visit.requests} == {origin}  # no other host

    page = visit.open(index)
    check_charts(page, releases=2)
    page.screenshot(path=tmp_path / "index-desktop.png", full_page=True)

    release = visit.open(f"{endpoint}/{workspace.bucket}/demo-project/releases/v0.2.0.html")
    page.screenshot(path=tmp_path / "release-desktop.png", full_page=True)
    release.emulate_media(media="print")  # the print stylesheet: no navigation, URLs spelled out
    assert not release.locator("header.site nav").is_visible()
    after = release.evaluate(
        "getComputedStyle(document.querySelector('.cite a'), '::after').content"
    )
    assert "manifests/demo-project_project_manifest_v0.2.0.json" in after
    release.pdf(path=tmp_path / "release.pdf")
    release.emulate_media(media="screen")
    manifest = json.loads(workspace.manifest_path("0.2.0").read_text())
    expected = {
        e["url"] + "?versionId=" + e["version_id"]: e["sha256"]
        for e in manifest["data_files"].values()
    }
    links = release.eval_on_selector_all("a.pinned", "links => links.map(a => a.href)")
    assert sorted(links) == sorted(expected)
    for link in links:  # downloaded by the page itself, hashed in the browser
        digest = release.evaluate(
            """async url => {
                const body = await (await fetch(url)).arrayBuffer();
                const sum = await crypto.subtle.digest('SHA-256', body);
                return [...new Uint8Array(sum)].map(b => b.toString(16).padStart(2, '0')).join('');
            }""",
            link,
        )
        assert digest == expected[link]
    first = manifest["data_files"]["101"]
    old = json.loads(workspace.manifest_path("0.1.0").read_text())["data_files"]["102"]
    assert (
        hashlib.sha256((workspace.root / "data" / "s101.nwb").read_bytes()).hexdigest()
        == first["sha256"]
    )
    assert (
        old["version_id"] != manifest["data_files"]["102"]["version_id"]
    )  # 102 changed: pinned anew

    phone = Visit(browser, PHONE)
    for name in ("index", "release"):
        url = index if name == "index" else release.url
        small = phone.open(url)
        overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} is {overflow}px wider than a phone"
        small.screenshot(path=tmp_path / f"{name}-phone.png", full_page=True)
    assert phone.errors == []
    for shot in ("index-desktop", "release-desktop", "index-phone", "release-phone"):
        assert (tmp_path / f"{shot}.png").stat().st_size > 10_000


@pytest.mark.slow
def test_the_site_written_to_a_folder_works_from_file_urls(
    cli, workspace: Workspace, aws_env, browser, tmp_path: Path
) -> None:
    two_releases(cli, workspace)
    out = tmp_path / "preview"
    assert cli("site", "--out", str(out), cwd=workspace.root).exit_code == 0
    visit = Visit(browser, DESKTOP)
    pages = crawl(visit, (out / "index.html").as_uri())
    assert pages == {
        (out / p).as_uri() for p in ("index.html", "releases/v0.1.0.html", "releases/v0.2.0.html")
    }
    assert visit.errors == []
    assert {urlsplit(url).scheme for url in visit.requests} == {"file"}
    check_charts(visit.open((out / "index.html").as_uri()), releases=2)
