"""dandi-cli's client as publishkit makes it (publishkit/dandi/api.py): the instance named as
dandi-cli names it, without asking it; a timeout on every request of its session; its refusals
one line without the key, and its log kept off the terminal. Against the local archive."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests

from publishkit.dandi.api import (
    ArchiveRefused,
    api_url,
    archive_errors,
    authenticated_client,
    dandi_client,
    dandi_instance,
    key_variable,
)
from publishkit.dandi.version_publish import takes_release_notes
from publishkit.errors import ConfigError, CredentialsError
from publishkit.sandbox.archive import DandiSandbox
from tests.dandi.test_upload import as_a_dandi_user


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_instances_are_named_as_dandi_cli_names_them_without_asking_them() -> None:
    assert dandi_instance("dandi-sandbox").api == "https://api.sandbox.dandiarchive.org/api"
    by_url = dandi_instance("https://api.sandbox.dandiarchive.org/api/")
    assert by_url.name == "dandi-sandbox"
    assert key_variable("https://api.sandbox.dandiarchive.org/api") == "DANDI_SANDBOX_API_KEY"
    assert dandi_instance("http://127.0.0.1:8123").name == "127.0.0.1:8123"
    assert api_url("http://127.0.0.1:8123/") == "http://127.0.0.1:8123/api"
    assert key_variable("http://127.0.0.1:8123/api") == "127.0.0.1:8123_API_KEY"
    with pytest.raises(ConfigError, match="neither a known DANDI instance nor a URL"):
        dandi_instance("dandi-prod")


def test_every_request_of_the_clients_session_has_a_timeout(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dandi-cli gives its requests no timeout: an instance that accepts and never answers
    would hang a release. The session's own requests (dandi-cli's too) give up."""
    monkeypatch.setenv("DANDI_NO_ET", "1")
    with dandi_client(f"http://127.0.0.1:{silent_port}/api", timeout=0.5) as client:
        started = time.monotonic()
        with pytest.raises(requests.ReadTimeout):
            client.session.get(client.get_url("/info/"))
        assert time.monotonic() - started < 5


def test_a_refusal_is_one_line_without_the_key_and_dandi_cli_logs_nothing(
    archive: DandiSandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    as_a_dandi_user(archive, tmp_path / "home", monkeypatch)
    dandiset = archive.create_dandiset("refused")
    key = "not-the-key-0123456789"
    with authenticated_client(archive.api_url, key) as client:
        draft = client.get_dandiset(dandiset, "draft")
        doing = f"reading dandiset {dandiset}'s draft"
        with pytest.raises(ArchiveRefused) as refused, archive_errors(archive.api_url, doing):
            draft.get_raw_metadata()
    error = refused.value
    assert error.status == 401 and error.exit_code == 2
    assert error.message == (
        f"{archive.api_url} refused GET /api/dandisets/{dandiset}/versions/draft/ "
        f'(reading dandiset {dandiset}\'s draft): HTTP 401 {{"detail": "Invalid token."}}'
    )
    assert error.hint and "API key" in error.hint
    out, err = capfd.readouterr()
    assert key not in error.message + (error.hint or "") + out + err
    assert err == "" and out == ""
    # dandi-cli logs the failed request at ERROR, with its URL and body: silenced at the source
    assert [r.getMessage() for r in caplog.records if r.name.startswith("dandi")] == []


def test_no_key_anywhere_is_refused_before_any_request(
    archive: DandiSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_a_dandi_user(archive, tmp_path / "home", monkeypatch)  # a keyring that has nothing
    with pytest.raises(CredentialsError, match=f"no DANDI API key for {archive.api_url}"):
        authenticated_client(archive.api_url, None)


@pytest.mark.parametrize(
    ("said", "takes"),
    [({"schema_version": "0.8.0"}, True), ({"schema_version": "0.6.10"}, False), ({}, False)],
)
def test_release_notes_go_only_to_an_archive_whose_schema_has_them(
    said: dict[str, str], takes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """releaseNotes came with DANDI schema 0.7.0: an older archive's publish gets none."""
    monkeypatch.setenv("DANDI_NO_ET", "1")

    class Info(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(said).encode() if self.path == "/api/info/" else b"{}"
            self.send_response(200 if self.path == "/api/info/" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Info)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with dandi_client(f"http://127.0.0.1:{server.server_port}/api", timeout=5) as client:
            assert takes_release_notes(client) is takes
    finally:
        server.shutdown()
        server.server_close()
