"""What the object store's refusals and failures mean, in one line with the fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from publishkit.errors import StorageError, StoreUnavailable

_SANDBOX = "for the sandbox, export the lines `publishkit sandbox` prints"
_CREDENTIALS = {
    "InvalidAccessKeyId": (
        "the store knows no such access key",
        f"check AWS_ACCESS_KEY_ID (or AWS_PROFILE); {_SANDBOX}",
    ),
    "SignatureDoesNotMatch": (
        "the secret key does not match the access key",
        f"check AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); {_SANDBOX}",
    ),
}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def refusal_code(client: Any, bucket: str) -> str:
    """The code of the refusal a HEAD could not carry: GetBucketVersioning's, if refused."""
    try:
        client.get_bucket_versioning(Bucket=bucket)
    except ClientError as exc:
        return error_code(exc)
    except BotoCoreError:
        pass
    return ""


def storage_error(exc: Exception, where: str, why_forbidden: Callable[[], str]) -> StorageError:
    """The StorageError for a failed request on `where` (s3://bucket[/key]). A HEAD's bare 403
    says nothing more: `why_forbidden` asks the store again, with a request that has a body."""
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code == "403":
            code = why_forbidden() or code
        if code in _CREDENTIALS:
            what, fix = _CREDENTIALS[code]
            return StorageError(f"{where}: S3 refused the credentials ({code}): {what}", hint=fix)
        if code in {"AccessDenied", "403"}:
            return StorageError(
                f"{where}: access denied ({code})",
                hint="check that your credentials may read and write this bucket",
            )
        message = exc.response.get("Error", {}).get("Message", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        failed = StoreUnavailable if status >= 500 else StorageError  # 5xx: its side, an outage
        return failed(f"{where}: S3 answered {code}: {message}".rstrip(": "))
    return StoreUnavailable(
        f"{where}: {type(exc).__name__}: {exc}",
        hint="check s3.endpoint_url / AWS_ENDPOINT_URL and that the server is running",
    )
