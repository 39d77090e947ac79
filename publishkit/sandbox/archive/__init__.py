"""A small local DANDI archive: the part of the REST API that dandi-cli's upload, ls, download use.

Blobs live in an S3 bucket (the moto sandbox), uploaded by the client itself with presigned
multipart URLs; dandisets, versions, assets and pending uploads live in SQLite (`store`).
Answers follow the real archive (dandi/dandi-archive): the same paths, JSON fields, status codes
and pagination (``count``, ``next``, ``previous``, ``results``). The routes are grouped by what
they serve (`dandisets`, `assets`, `uploads`) over what they share (`base`); `app` maps URLs
to them and `server` serves the app on loopback.

Point dandi-cli at it with ``-i <api url>`` (or ``DANDI_INSTANCE=<api url>``); dandi-cli names
the instance after the API URL's ``host:port`` and reads its key from ``<HOST:PORT>_API_KEY``
(`DandiSandbox.api_key_env_var`), not from ``DANDI_API_KEY``."""

from publishkit.sandbox.archive.app import DandiApp
from publishkit.sandbox.archive.server import DandiSandbox

__all__ = ["DandiApp", "DandiSandbox"]
