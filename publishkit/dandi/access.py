"""Can a release reach its DANDI dandiset? Asked before any stage writes anything.

dandi-cli finds out only while uploading, after its retries (minutes offline) and with a
traceback per file. This asks the instance three short questions first, the way dandi-cli
would and through dandi-cli's own client (its session: its headers, the instance as dandi-cli
names it): its server info, the dandiset, and whether the API key is accepted (`/auth/token/`,
dandi-cli's own check). Each is one request on the client's session, not through its
retrying `request`: a short timeout, no retries, no log, so an instance that is down is
refused in seconds, with the fix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from publishkit.dandi.api import dandi_client, key_variable, user_key
from publishkit.errors import ConfigError, CredentialsError, StoreUnavailable
from publishkit.workspace.config import CONFIG_NAME, Settings

if TYPE_CHECKING:
    import requests
    from dandi.dandiapi import DandiAPIClient

TIMEOUT_SECONDS = 5  # per question: a DANDI instance answers these in well under a second
# key_variable: where the CLI looks for the key, as dandi-cli does (it lives beside the client)
__all__ = ["DandiAccess", "DandiUnreachable", "check_dandi_access", "key_variable", "server_info"]


class DandiUnreachable(StoreUnavailable):
    """The DANDI instance did not answer, or answered something other than DANDI's API."""


class DandiAccess(msgspec.Struct, frozen=True):
    """What the check found: the instance's API, the dandiset, that the key works, and what
    the instance says of itself (/api/info/: its schema version, licenses, ...)."""

    api_url: str
    dandiset: str
    info: dict[str, Any] = msgspec.field(default_factory=dict)


def require_target(settings: Settings) -> tuple[str, str]:
    """The DANDI instance and dandiset publishkit.yaml uploads to; a ConfigError when it does
    not name both."""
    target = settings.dandi_target
    if target is None:
        raise ConfigError(
            f"{settings.workspace / CONFIG_NAME}: dandi.instance and dandi.dandiset are "
            "needed to upload to DANDI",
            hint="e.g. dandi: {instance: dandi-sandbox, dandiset: '000123'}",
        )
    return target


def check_dandi_access(*, settings: Settings, api_key: str | None) -> DandiAccess:
    """Refuse, in seconds and with the fix, a DANDI upload that cannot succeed: an instance that
    does not answer, a dandiset it does not have, no API key or one it does not accept.
    `api_key`: the key the caller found where dandi-cli looks (else dandi-cli's keyring)."""
    instance, dandiset = require_target(settings)
    with _preflight_client(instance) as client:
        info = _get(client, "/info/", instance, "its server info")
        found = _get(client, f"/dandisets/{dandiset}/", instance, "the dandiset")
        if found.status_code == 404:
            raise ConfigError(
                f"dandi.dandiset {dandiset}: {instance} has no such dandiset",
                hint=f"check the number, or create the dandiset on {instance} first",
            )
        auth = {"Authorization": f"token {user_key(instance, api_key)}"}
        answer = _get(client, "/auth/token/", instance, "the API key", auth)
    if answer.status_code in (401, 403):
        raise CredentialsError(
            f"{instance} refused the DANDI API key (HTTP {answer.status_code})",
            hint=f"check DANDI_API_KEY (or {key_variable(instance)}): copy the key again from "
            f"your account page on {instance}",
        )
    return DandiAccess(client.api_url.rstrip("/"), dandiset, _json(info))


def _preflight_client(instance: str) -> DandiAPIClient:
    """dandi-cli's client of the instance, for one-try questions with a short timeout."""
    return dandi_client(instance, timeout=TIMEOUT_SECONDS)


def _get(
    client: DandiAPIClient,
    path: str,
    instance: str,
    what: str,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """One GET of `path` on the client's session: no retries, the session's short timeout."""
    import requests

    try:
        response = client.session.get(client.get_url(path), headers=headers or {})
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
    with _preflight_client(instance) as client:
        return _json(_get(client, "/info/", instance, "its info"))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}
