"""A DANDI instance's API URL, from its name (dandi-cli's known instances) or its URL: what
links to an asset are made of (the file manifest's archive_uri, a release page's asset links)."""

from __future__ import annotations

from publishkit.errors import UsageError


def dandi_api_url(instance: str | None) -> str | None:
    """The API base URL of a DANDI instance given by name or URL."""
    if not instance:
        return None
    if instance.startswith(("http://", "https://")):
        return instance.rstrip("/")
    from dandi.consts import known_instances

    if instance not in known_instances:
        raise UsageError(
            f"dandi.instance {instance!r} is not a known DANDI instance",
            hint=f"use one of {', '.join(known_instances)} or an API URL",
        )
    return str(known_instances[instance].api).rstrip("/")
