"""The requests publishing makes of a DANDI instance's API, each with a timeout, the key sent as
the archive expects it; an answer the request did not expect is a StorageError naming it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from publishkit.errors import StorageError, StoreUnavailable

TIMEOUT_SECONDS = 60


class ArchiveRefused(StorageError):
    """The DANDI archive answered a request with an error."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        if status >= 500:  # failed on its side: an outage
            self.exit_code = StoreUnavailable.exit_code


class ArchiveApi:
    """A dandiset's draft and versions on one DANDI instance."""

    def __init__(self, api_url: str, dandiset: str, api_key: str | None, instance: str) -> None:
        import requests

        self.api, self.dandiset, self.instance = api_url.rstrip("/"), dandiset, instance
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"token {api_key}"

    @property
    def draft(self) -> str:
        """The path of the dandiset's draft version."""
        return f"/dandisets/{self.dandiset}/versions/draft/"

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON answer to GET `path` (relative to the API URL)."""
        return self._send("GET", path, params=params)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        """The JSON answer to PUT `body` at `path`."""
        return self._send("PUT", path, json=body)

    def post(self, path: str) -> Any:
        """The JSON answer (None for none) to an empty POST to `path`."""
        return self._send("POST", path, json={})

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every result of a paginated listing, page after page."""
        answer = self.get(path, {**(params or {}), "page_size": 1000})
        while True:
            yield from answer["results"]
            if not answer.get("next"):
                return
            answer = self._send("GET", answer["next"])

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        import requests

        url = path if path.startswith("http") else f"{self.api}{path}"
        try:
            response = self.session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
        except requests.RequestException as exc:
            raise StoreUnavailable(
                f"dandi.instance {self.instance}: no answer to {method} {path} "
                f"({type(exc).__name__})",
                hint="check the network; running the release again resumes where it stopped",
            ) from None
        if response.status_code >= 400:
            raise ArchiveRefused(
                f"{self.instance} refused {method} {path}: HTTP {response.status_code} "
                f"{_said(response)}",
                response.status_code,
                hint=_hint(response.status_code),
            )
        return response.json() if response.content else None


def _said(response: Any) -> str:
    """What the archive said, on one line, shortened."""
    text = " ".join(response.text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _hint(status: int) -> str:
    if status in (401, 403):
        return "check the DANDI API key, and that your account owns the dandiset"
    if status == 404:
        return "check dandi.dandiset and dandi.instance in publishkit.yaml"
    return "see what the archive said; running the release again resumes where it stopped"
