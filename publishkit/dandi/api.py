"""dandi-cli's own client (`DandiAPIClient`) for one DANDI instance, as publishkit uses it: made
without asking the network, every request with a timeout, its errors as publishkit's.

dandi-cli's client authenticates, retries (with backoff, for minutes) and knows the archive's
endpoints; publishkit adds what a release needs of it: a timeout on its session (dandi-cli sets
none, so an instance that accepts and never answers would hang), its log kept off the terminal
(publishkit says what failed, on one line), and its exceptions turned into a StorageError that
names the request and the fix. The preflight (`access`) asks through the same client's session
directly: one try each, in seconds.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter

from publishkit.errors import ConfigError, CredentialsError, StorageError, StoreUnavailable

if TYPE_CHECKING:
    import requests
    from dandi.consts import DandiInstance
    from dandi.dandiapi import DandiAPIClient

TIMEOUT_SECONDS = 60


class ArchiveRefused(StorageError):
    """The DANDI archive answered a request with an error."""

    def __init__(self, message: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.status = status
        if status >= 500:  # failed on its side: an outage
            self.exit_code = StoreUnavailable.exit_code


class _Timeout(HTTPAdapter):
    """requests' adapter, with a timeout for the requests that give none (all of dandi-cli's)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        given = self.timeout if timeout is None else timeout
        return super().send(request, stream, given, verify, cert, proxies)


def api_url(instance: str) -> str:
    """The API URL of a named instance (dandi, dandi-sandbox, ...) or of an instance URL."""
    return dandi_instance(instance).api.rstrip("/")


def dandi_instance(instance: str) -> DandiInstance:
    """dandi-cli's DandiInstance of a name or URL, without asking the instance: its own for a
    known name or URL, else one named `host:port` of the API URL, as dandi-cli names an
    instance it finds by URL (so the key is read from the same `<NAME>_API_KEY`, the same
    keyring entry)."""
    from dandi.consts import DandiInstance, known_instances, known_instances_rev

    known = known_instances_rev.get(instance.rstrip("/"), instance)
    if known in known_instances:
        return known_instances[known]
    if not instance.startswith(("http://", "https://")):
        names = ", ".join(sorted(known_instances))
        raise ConfigError(
            f"dandi.instance {instance!r} is neither a known DANDI instance nor a URL",
            hint=f"use one of {names}, or the instance's API URL (https://HOST/api)",
        )
    url = instance.rstrip("/")
    api = url if url.endswith("/api") else f"{url}/api"
    return DandiInstance(name=urlsplit(api).netloc, gui=None, api=api)


def key_variable(instance: str) -> str:
    """The environment variable dandi-cli reads the API key of `instance` from: the
    instance's name, or `host:port` of an instance given by URL, upper-cased, then _API_KEY."""
    return f"{dandi_instance(instance).name.upper().replace('-', '_')}_API_KEY"


def keyring_key(instance: str) -> str | None:
    """The key in dandi-cli's keyring entry for the instance (`dandi-api-<name>`, user `key`,
    as dandi-cli documents it), when a keyring answers without asking anything. dandi-cli's
    own lookup may prompt (for an encrypted keyring's password, or whether to make one): a
    release must refuse instead, with where to put the key."""
    try:
        import keyring
        from keyrings.alt.file import EncryptedKeyring

        backend = keyring.get_keyring()
        if isinstance(backend, EncryptedKeyring):
            return None
        return backend.get_password(f"dandi-api-{dandi_instance(instance).name}", "key")
    except Exception:  # no usable keyring: the key is simply not there
        return None


def dandi_client(
    instance: str,
    *,
    api_key: str | None = None,
    timeout: float = TIMEOUT_SECONDS,
) -> DandiAPIClient:
    """dandi-cli's client of `instance`, `api_key` sent with every request (not checked here),
    each request given up after `timeout` seconds of silence. Close it (or use it in `with`)."""
    from dandi.dandiapi import DandiAPIClient

    with quiet_dandi_log():  # its version check logs a warning when it cannot ask
        client = DandiAPIClient(dandi_instance=dandi_instance(instance))
    adapter = _Timeout(timeout)
    client.session.mount("http://", adapter)
    client.session.mount("https://", adapter)
    if api_key:
        client.session.headers["Authorization"] = f"token {api_key}"
    return client


def user_key(instance: str, api_key: str | None) -> str:
    """The user's key of `instance`: `api_key` (found where dandi-cli looks, or
    DANDI_API_KEY), else the one in dandi-cli's keyring; a CredentialsError saying where to put
    it when there is none."""
    key = api_key or keyring_key(instance)
    if not key:
        raise CredentialsError(
            f"no DANDI API key for {instance}",
            hint=f"export DANDI_API_KEY (or {key_variable(instance)}) with the key from your "
            f"account page on {instance}",
        )
    return key


def authenticated_client(instance: str, api_key: str | None) -> DandiAPIClient:
    """dandi-cli's client of `instance` with the user's key (`user_key`)."""
    return dandi_client(instance, api_key=user_key(instance, api_key))


@contextlib.contextmanager
def quiet_dandi_log() -> Iterator[None]:
    """dandi-cli's log silent for the block (its errors repeat, with tracebacks and URLs, what
    publishkit reports on one line); its level back after the block."""
    logger = logging.getLogger("dandi")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def archive_errors(instance: str, doing: str) -> Iterator[None]:
    """dandi-cli's exceptions inside the block as publishkit's, on one line: what the archive
    refused (ArchiveRefused, with its status), or that it did not answer (StoreUnavailable);
    `doing`: what was being done, for the message. dandi-cli's log is silent meanwhile."""
    import requests
    from dandi.exceptions import NotFoundError

    try:
        with quiet_dandi_log():
            yield
    except requests.HTTPError as exc:
        response = exc.response
        if response is None:
            raise _no_answer(instance, doing, exc) from None
        method, path = _request_of(response)
        raise ArchiveRefused(
            f"{instance} refused {method} {path} ({doing}): HTTP {response.status_code} "
            f"{_said(response)}",
            response.status_code,
            hint=_hint(response.status_code),
        ) from None
    except NotFoundError as exc:
        raise ArchiveRefused(
            f"{instance}: {doing}: {_one_line(str(exc))}", 404, hint=_hint(404)
        ) from None
    except requests.RequestException as exc:
        raise _no_answer(instance, doing, exc) from None


def _no_answer(instance: str, doing: str, exc: Exception) -> StoreUnavailable:
    return StoreUnavailable(
        f"dandi.instance {instance}: no answer while {doing} ({type(exc).__name__})",
        hint="check the network; running the release again resumes where it stopped",
    )


def _request_of(response: requests.Response) -> tuple[str, str]:
    """The method and path (without the query) of the request `response` answers."""
    request = response.request
    method = (request.method if request is not None else None) or "?"
    url = (request.url if request is not None else None) or response.url or ""
    return method, urlsplit(url).path or url


def _said(response: requests.Response) -> str:
    """What the archive said, on one line, shortened."""
    return _one_line(response.text)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _hint(status: int) -> str:
    if status in (401, 403):
        return "check the DANDI API key, and that your account owns the dandiset"
    if status == 404:
        return "check dandi.dandiset and dandi.instance in publishkit.yaml"
    return "see what the archive said; running the release again resumes where it stopped"
