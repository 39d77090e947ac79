"""Each release puts its page and the index beside its manifest; `site: false` puts none;
`publishkit site --out` writes them all from the bucket (real moto S3 over HTTP)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REGION, Workspace
from tests.site.hostile import IMG, JS_URL, SCRIPT, live_parts

PAGE_KEYS = [
    "demo-project/index.html",
    "demo-project/releases/history.json",
    "demo-project/releases/v0.1.0.html",
    "demo-project/releases/v0.1.0.json",
    "demo-project/releases/v0.2.0.html",
    "demo-project/releases/v0.2.0.json",
]


def versions(s3_client: Any, bucket: str, key: str) -> list[str]:
    listed = s3_client.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", [])
    return [v["VersionId"] for v in listed if v["Key"] == key]


def site_keys(s3_client: Any, bucket: str) -> list[str]:
    listed = s3_client.list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(
        o["Key"] for o in listed if o["Key"].endswith(".html") or "/releases/" in o["Key"]
    )


def two_releases(cli: Any, workspace: Workspace) -> dict[str, Any]:
    """v0.1.0, then v0.2.0 with a file added and a --note; the second's JSON report."""
    first = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert first.exit_code == 0, first.stderr
    workspace.set_sessions({"101": b"session 101 " * 1000, "102": b"x" * 10, "103": b"new"})
    second = cli(
        "release",
        "--version",
        "0.2.0",
        "--note",
        f"Fixed {SCRIPT} and {IMG}, see {JS_URL}",
        "-f",
        "json",
        cwd=workspace.root,
    )
    assert second.exit_code == 0, second.stderr
    return dict(json.loads(second.stdout))


@pytest.mark.slow
def test_each_release_puts_its_page_create_only_and_replaces_the_index(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    report = two_releases(cli, workspace)
    base = f"https://{workspace.bucket}.s3.{REGION}.amazonaws.com/demo-project"
    assert report["notes"]["page_url"] == f"{base}/releases/v0.2.0.html"
    assert site_keys(s3_client, workspace.bucket) == PAGE_KEYS
    bucket = workspace.bucket
    assert len(versions(s3_client, bucket, "demo-project/index.html")) == 2  # replaced
    assert len(versions(s3_client, bucket, "demo-project/releases/history.json")) == 2
    assert len(versions(s3_client, bucket, "demo-project/releases/v0.1.0.html")) == 1
    for key in PAGE_KEYS:
        head = s3_client.head_object(Bucket=bucket, Key=key)
        kind = "text/html" if key.endswith(".html") else "application/json"
        assert head["ContentType"] == f"{kind}; charset=utf-8"

    def body(key: str) -> str:
        data = s3_client.get_object(Bucket=bucket, Key=f"demo-project/{key}")["Body"].read()
        return str(data.decode("utf-8"))

    index = body("index.html")
    assert 'href="releases/v0.2.0.html"' in index and 'href="releases/v0.1.0.html"' in index
    page = body("releases/v0.2.0.html")
    found, text = live_parts(page)
    assert found == []
    assert f"Fixed {SCRIPT} and {IMG}, see {JS_URL}" in text  # the --note, as text
    assert "s103.nwb" in text and "created" in text
    row = re.search(r"<tr><td>sessions</td>.*?</tr>", page)
    assert row and '<td class="num">3</td><td class="num">3</td>' in row.group(0)  # rows, columns
    record = json.loads(body("releases/v0.2.0.json"))
    assert record["tables"] == {"sessions": {"columns": 3, "rows": 3}}
    assert record["remarks"][0] == f"Fixed {SCRIPT} and {IMG}, see {JS_URL}"

    history = json.loads(body("releases/history.json"))
    assert sorted(history["releases"]) == ["0.1.0", "0.2.0"]
    assert history["releases"]["0.2.0"] == record["release"]  # what the index says of it

    again = cli("release", "--version", "0.2.0", cwd=workspace.root)  # nothing changed
    assert again.exit_code == 0, again.stderr
    assert len(versions(s3_client, bucket, "demo-project/index.html")) == 2  # nothing written
    assert len(versions(s3_client, bucket, "demo-project/releases/history.json")) == 2


def test_a_workspace_with_site_false_puts_no_page(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "site: false\n")
    result = cli("release", "--version", "0.1.0", "-f", "json", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["notes"]["page_url"] is None
    assert site_keys(s3_client, workspace.bucket) == []


def test_a_site_setting_that_is_not_a_boolean_is_refused_at_its_line(
    cli, workspace: Workspace
) -> None:
    config = workspace.root / "publishkit.yaml"
    config.write_text(config.read_text() + "site: maybe\n")
    result = cli("release", "--plan", cwd=workspace.root)
    assert result.exit_code == 2
    assert "publishkit.yaml line 7: site: 'maybe' is not of type 'boolean'" in result.stderr


@pytest.mark.slow
def test_site_out_writes_every_page_from_the_bucket(
    cli, workspace: Workspace, aws_env, s3_client, tmp_path: Path
) -> None:
    two_releases(cli, workspace)
    out = tmp_path / "preview"
    result = cli("site", "--out", str(out), cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    assert "3 page(s)" in result.stdout
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html")) == [
        "index.html",
        "releases/v0.1.0.html",
        "releases/v0.2.0.html",
    ]
    for name in ("releases/v0.1.0.html", "releases/v0.2.0.html"):
        published = s3_client.get_object(Bucket=workspace.bucket, Key=f"demo-project/{name}")
        assert (out / name).read_bytes() == published["Body"].read()  # the same pages
    index = (out / "index.html").read_text()
    assert index.index("v0.2.0") < index.index("v0.1.0")  # newest first
    published = s3_client.get_object(Bucket=workspace.bucket, Key="demo-project/index.html")
    assert index == published["Body"].read().decode()  # from the manifests = from the records


@pytest.mark.slow
def test_a_release_builds_the_index_from_the_site_history_not_the_records_or_manifests(
    cli, workspace: Workspace, aws_env, s3_client
) -> None:
    two_releases(cli, workspace)
    bucket, key = workspace.bucket, "demo-project/releases/history.json"
    history = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert history["releases"]["0.1.0"]["files"] == 3
    assert history["releases"]["0.1.0"]["created"] == 3
    history["releases"]["0.1.0"]["files"] = 777  # a mark only the history carries
    s3_client.put_object(Bucket=bucket, Key=key, Body=json.dumps(history).encode())
    record_key = "demo-project/releases/v0.1.0.json"
    record = json.loads(s3_client.get_object(Bucket=bucket, Key=record_key)["Body"].read())
    record["release"]["files"] = 555  # the record is not read again
    s3_client.put_object(Bucket=bucket, Key=record_key, Body=json.dumps(record).encode())
    workspace.set_sessions({"101": b"again"})
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    index = s3_client.get_object(Bucket=bucket, Key="demo-project/index.html")
    html = index["Body"].read().decode()
    assert '<td class="num">777</td>' in html and '<td class="num">555</td>' not in html
    kept = json.loads(s3_client.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert sorted(kept["releases"]) == ["0.1.0", "0.2.0", "1.0.0"]
    assert kept["releases"]["0.1.0"]["files"] == 777


def test_site_out_before_any_release_is_refused(
    cli, workspace: Workspace, aws_env, tmp_path
) -> None:
    result = cli("site", "--out", str(tmp_path / "preview"), cwd=workspace.root)
    assert result.exit_code == 2
    assert "no release of demo-project is published yet" in result.stderr
    assert not (tmp_path / "preview").exists()


@pytest.mark.slow
def test_a_release_reads_the_site_history_once_while_it_renders_and_no_record(
    cli, workspace: Workspace, aws_env, s3_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index's history: the site's history document (one GET, whatever the count of
    releases before) and the record this release just put, from memory; the index is drawn
    once, in the background while the release's notes and page are put, and lists all three
    releases."""
    import threading

    from publishkit.s3.bucket import S3Bucket

    two_releases(cli, workspace)
    reads: list[tuple[str, str]] = []
    real = S3Bucket.get_bytes

    def spy(self: S3Bucket, key: str, version_id: str | None = None) -> bytes | None:
        reads.append((key, threading.current_thread().name))
        return real(self, key, version_id)

    monkeypatch.setattr(S3Bucket, "get_bytes", spy)
    from publishkit.site import publishing

    drawn: list[str] = []
    render = publishing.render_index

    def drawing(history: Any) -> str:
        drawn.append(threading.current_thread().name)
        return render(history)

    monkeypatch.setattr(publishing, "render_index", drawing)
    workspace.set_sessions({"101": b"again"})
    assert cli("release", "--version", "1.0.0", cwd=workspace.root).exit_code == 0
    records = [(key, thread) for key, thread in reads if "/releases/" in key]
    assert [key for key, _ in records] == ["demo-project/releases/history.json"]
    assert all(thread != "MainThread" for _, thread in records)
    assert len(drawn) == 1 and drawn[0].startswith("publishkit-site")  # once, meanwhile
    index = s3_client.get_object(Bucket=workspace.bucket, Key="demo-project/index.html")
    html = index["Body"].read().decode()
    listed = re.findall(r'<a href="releases/v([\d.]+)\.html">v', html)
    assert listed[-3:] == ["1.0.0", "0.2.0", "0.1.0"]


def test_a_new_release_puts_its_index_while_its_page_goes_up(
    cli, workspace: Workspace, aws_env, s3_server, s3_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index and the site's history, drawn ahead for the record this release puts, go up
    while the release's page does, not after it (held at a proxy: the index's PUT arrives
    while the page's is held); both end as a release leaves them, the page listed."""
    held = _second_release_holding(
        cli, workspace, s3_server, monkeypatch, "/releases/v0.2.0.html", until="/index.html"
    )

    assert held == [True]
    keys = site_keys(s3_client, workspace.bucket)
    assert "demo-project/releases/v0.2.0.html" in keys
    assert "demo-project/releases/v0.2.0.json" in keys
    index = s3_client.get_object(Bucket=workspace.bucket, Key="demo-project/index.html")
    listed = re.findall(r'<a href="releases/v([\d.]+)\.html">v', index["Body"].read().decode())
    assert listed[-2:] == ["0.2.0", "0.1.0"]


def test_a_release_puts_its_notes_while_its_page_goes_up(
    cli, workspace: Workspace, aws_env, s3_server, s3_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The release's notes and its page's record go up at once (held at a proxy: the record's
    PUT arrives while the notes' is held); both end in the bucket, and a run that cut nothing
    writes neither again."""
    held = _second_release_holding(
        cli, workspace, s3_server, monkeypatch, "/release_notes.md", until="/releases/v0.2.0.json"
    )

    assert held == [True]
    notes = s3_client.get_object(Bucket=workspace.bucket, Key="demo-project/release_notes.md")
    assert "## v0.2.0" in notes["Body"].read().decode()
    assert "demo-project/releases/v0.2.0.html" in site_keys(s3_client, workspace.bucket)
    before = versions(s3_client, workspace.bucket, "demo-project/release_notes.md")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    again = cli("release", "--bump", "minor", cwd=workspace.root)
    assert again.exit_code == 0, again.stderr
    assert versions(s3_client, workspace.bucket, "demo-project/release_notes.md") == before


def _second_release_holding(
    cli, workspace: Workspace, s3_server, monkeypatch: pytest.MonkeyPatch, held: str, until: str
) -> list[bool]:
    """Releases 0.1.0, then 0.2.0 through a proxy that holds the PUT of the key ending `held`
    until the PUT of the key ending `until` arrives (at most 10 s): for each held PUT, whether
    the other one came while it was held."""
    import threading

    from tests.faultproxy import FaultProxy, Request

    first = cli("release", "--version", "0.1.0", cwd=workspace.root)
    assert first.exit_code == 0, first.stderr
    arrived, found = threading.Event(), []

    def hold(request: Request) -> None:
        if request.method == "PUT" and request.key.endswith(until):
            arrived.set()
        if request.method == "PUT" and request.key.endswith(held):
            found.append(arrived.wait(10))
        return None

    workspace.set_sessions({"101": b"session 101, again " * 100})
    with FaultProxy(s3_server.endpoint_url, hold) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        result = cli("release", "--version", "0.2.0", cwd=workspace.root)
    assert result.exit_code == 0, result.stderr
    return found
