"""The sandbox's S3 refuses credentials it was not started with, as S3 does.

moto's server accepts any access key and any signature, so a wrong key could never be
rehearsed. `CredentialCheck` wraps moto's WSGI app: a request signed with an unknown access key
gets S3's 403 InvalidAccessKeyId, one whose Signature V4 does not match the secret gets 403
SignatureDoesNotMatch; unsigned requests pass (the release bucket is public-read, and moto's
bucket policy decides). The signature of a header-signed request is recomputed with botocore's
own signer over the request as received (raw path and query, the signed headers, the payload
hash the client sent in X-Amz-Content-SHA256); a presigned URL's access key is checked, its
signature is not (moto checks neither; the sandbox's own archive is what presigns).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_MESSAGES = {
    "InvalidAccessKeyId": "The AWS Access Key Id you provided does not exist in our records.",
    "SignatureDoesNotMatch": "The request signature we calculated does not match the signature "
    "you provided. Check your key and signing method.",
}


class CredentialCheck:
    """A WSGI middleware: requests signed with other credentials than `keys` (access key ->
    secret) are refused with S3's own 403 errors."""

    def __init__(self, app: Callable[..., Iterable[bytes]], keys: Mapping[str, str]) -> None:
        self.app = app
        self.keys = keys

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        code = self.refusal(environ)
        if code is None:
            return self.app(environ, start_response)
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{code}</Code><Message>{escape(_MESSAGES[code])}</Message>"
            "<RequestId>publishkit-sandbox</RequestId></Error>"
        ).encode()
        start_response(
            "403 Forbidden",
            [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def refusal(self, environ: dict[str, Any]) -> str | None:
        """The S3 error code refusing this request, or None to let it through."""
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        query = parse_qs(environ.get("QUERY_STRING", ""))
        if authorization.startswith("AWS4-HMAC-SHA256 "):
            fields = dict(
                part.strip().split("=", 1) for part in authorization[17:].split(",") if "=" in part
            )
            scope = fields.get("Credential", "").split("/")
            secret = self.keys.get(scope[0])
            if secret is None:
                return "InvalidAccessKeyId"
            if len(scope) != 5 or not _signature_matches(environ, fields, scope, secret):
                return "SignatureDoesNotMatch"
            return None
        if authorization.startswith("AWS "):  # Signature V2: the key only
            key = authorization[4:].split(":", 1)[0]
            return None if key in self.keys else "InvalidAccessKeyId"
        presigned = query.get("X-Amz-Credential", query.get("AWSAccessKeyId", [""]))[0]
        if presigned:
            return None if presigned.split("/")[0] in self.keys else "InvalidAccessKeyId"
        return None


def _signature_matches(
    environ: dict[str, Any], fields: dict[str, str], scope: list[str], secret: str
) -> bool:
    headers = _headers(environ)
    signed = fields.get("SignedHeaders", "").split(";")
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    request = AWSRequest(
        method=environ["REQUEST_METHOD"],
        url=f"http://{headers.get('host', 'localhost')}{raw}",
        headers={name: value for name, value in headers.items() if name in signed},
    )
    request.context["timestamp"] = headers.get("x-amz-date", "")
    if "x-amz-content-sha256" not in headers:
        return True  # the payload's hash was not sent: checking it would mean reading the body
    auth = S3SigV4Auth(Credentials(scope[0], secret), scope[3], scope[2])
    canonical = auth.canonical_request(request)
    expected = auth.signature(auth.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, fields.get("Signature", ""))


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers, lower-case names, as the client sent them."""
    headers = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH", "CONTENT_MD5"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers
