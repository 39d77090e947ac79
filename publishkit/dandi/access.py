"""Can a release reach its DANDI dandiset? Asked before any stage writes anything.

dandi-cli finds out only while uploading, after its retries (minutes offline) and with a
traceback per file. This asks the instance three short questions first, the way dandi-cli
would: its server info, the dandiset, and whether the API key is accepted (`/auth/token/`,
dandi-cli's own check), each with a short timeout and no retries, and answers with the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from publishkit.errors import ConfigError, CredentialsError, StoreUnavailable
from publishkit.workspace.config import CONFIG_NAME, Settings

if TYPE_CHECKING:
    import requests

TIMEOUT_SECONDS = 10


class DandiUnreachable(StoreUnavailable):
    """The DANDI instance did not answer, or answered something other than DANDI's API."""


@dataclass(frozen=True)
class DandiAccess:
    """What the check found: the instance's API, the dandiset, that the key works, and what
    the instance says of itself (/api/info/: its schema version, licenses, ...)."""

    api_url: str
    dandiset: str
    info: dict[str, Any] = field(default_factory=dict)


def api_url(instance: str) -> str:
    """The API URL of a named instance (dandi, dandi-sandbox, ...) or of an instance URL."""
    from dandi.consts import known_instances

    if instance in known_instances:
        return known_instances[instance].api.rstrip("/")
    if not instance.startswith(("http://", "https://")):
        names = ", ".join(sorted(known_instances))
        raise ConfigError(
            f"dandi.instance {instance!r} is neither a known DANDI instance nor a URL",
            hint=f"use one of {names}, or the instance's API URL (https://HOST/api)",
        )
    url = instance.rstrip("/")
    return url if url.endswith("/api") else f"{url}/api"


def key_variable(instance: str) -> str:
    """The environment variable dandi-cli reads the API key of `instance` from: the
    instance's name, or `host:port` of an instance given by URL, upper-cased, then _API_KEY."""
    return f"{_instance_name(instance).upper().replace('-', '_')}_API_KEY"


def _instance_name(instance: str) -> str:
    """dandi-cli's name of an instance: its own, or `host:port` of its API URL."""
    from dandi.consts import known_instances

    return instance if instance in known_instances else urlsplit(api_url(instance)).netloc


def require_target(settings: Settings) -> tuple[str, str]:
    """The DANDI instance and dandiset publishkit.yaml uploads to; a ConfigError when it does
    not name both."""
    dandi = settings.dandi
    if not dandi.instance or not dandi.dandiset:
        raise ConfigError(
            f"{settings.workspace / CONFIG_NAME}: dandi.instance and dandi.dandiset are "
            "needed to upload to DANDI",
            hint="e.g. dandi: {instance: dandi-sandbox, dandiset: '000123'}",
        )
    return dandi.instance, dandi.dandiset


def check_dandi_access(*, settings: Settings, api_key: str | None) -> DandiAccess:
    """Refuse, in seconds and with the fix, a DANDI upload that cannot succeed: an instance that
    does not answer, a dandiset it does not have, no API key or one it does not accept.
    `api_key`: the key the caller found where dandi-cli looks (else dandi-cli's keyring)."""
    import requests

    instance, dandiset = require_target(settings)
    api = api_url(instance)
    session = requests.Session()
    info = _get(session, f"{api}/info/", instance, "its server info")
    found = _get(session, f"{api}/dandisets/{dandiset}/", instance, "the dandiset")
    if found.status_code == 404:
        raise ConfigError(
            f"dandi.dandiset {dandiset}: {instance} has no such dandiset",
            hint=f"check the number, or create the dandiset on {instance} first",
        )
    key = api_key or _keyring_key(instance)
    variable = key_variable(instance)
    if not key:
        raise CredentialsError(
            f"no DANDI API key for {instance}",
            hint=f"export DANDI_API_KEY (or {variable}) with the key from your account "
            f"page on {instance}",
        )
    auth = {"Authorization": f"token {key}"}
    answer = _get(session, f"{api}/auth/token/", instance, "the API key", auth)
    if answer.status_code in (401, 403):
        raise CredentialsError(
            f"{instance} refused the DANDI API key (HTTP {answer.status_code})",
            hint=f"check DANDI_API_KEY (or {variable}): copy the key again from your account "
            f"page on {instance}",
        )
    return DandiAccess(api, dandiset, _json(info))


def _get(
    session: requests.Session,
    url: str,
    instance: str,
    what: str,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    import requests

    try:
        response = session.get(url, headers=headers or {}, timeout=TIMEOUT_SECONDS)
    except requests.RequestException as exc:
        raise DandiUnreachable(
            f"dandi.instance {instance}: no answer asking for {what} ({type(exc).__name__})",
            hint="check the network and dandi.instance in publishkit.yaml (for the local "
            "archive: is `publishkit sandbox` still running?)",
        ) from None
    if response.status_code >= 400 and response.status_code not in (401, 403, 404):
        raise DandiUnreachable(
            f"dandi.instance {instance}: HTTP {response.status_code} asking for {what}",
            hint="the instance may be down; try again later, or check dandi.instance",
        )
    return response


def server_info(instance: str) -> dict[str, Any]:
    """What the instance's /api/info/ says of itself; a DandiUnreachable when it does not
    answer."""
    import requests

    return _json(_get(requests.Session(), f"{api_url(instance)}/info/", instance, "its info"))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _keyring_key(instance: str) -> str | None:
    """dandi-cli's keyring entry for the instance (its other place for API keys), when a
    keyring answers without asking anything: an encrypted file keyring would prompt."""
    try:
        import keyring
        from keyrings.alt.file import EncryptedKeyring

        backend = keyring.get_keyring()
        if isinstance(backend, EncryptedKeyring):
            return None
        return backend.get_password(f"dandi-api-{_instance_name(instance)}", "key")
    except Exception:  # no usable keyring: the key is simply not there
        return None
