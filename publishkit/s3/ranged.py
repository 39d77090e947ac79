"""Byte ranges of one pinned version of an object, each read with `Range: bytes=a-b` and its
VersionId, checked, and retried on its own.

Each range is checked: the version that answered is the pinned one, the range is the one asked
for, the object's total size is the one expected, and exactly that many bytes arrived. A
transient failure (a reset or a timeout, a 5xx, SlowDown, RequestTimeout) is retried from the
byte where the range stopped, with exponential backoff and full jitter; `attempts` failures in a
row that brought no byte give up. A permanent one (403, 404, NoSuchBucket, a wrong size) is not
retried. The reader counts the retries it made, for the reports.
"""

from __future__ import annotations

import http.client
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import msgspec
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, IncompleteReadError
from botocore.exceptions import ConnectionError as BotoConnectionError
from urllib3.exceptions import HTTPError as Urllib3Error

from publishkit.errors import StorageError

_TRANSIENT_CODES = {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"}
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchBucket"}
_DENIED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_TRANSIENT_ERRORS = (
    BotoConnectionError,  # botocore's: refused, connect timeouts
    HTTPClientError,  # closed connections, read timeouts, a body cut short
    IncompleteReadError,
    Urllib3Error,
    http.client.HTTPException,
    OSError,
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
CHUNK = 256 * 1024


class RetryPolicy(msgspec.Struct, frozen=True):
    """How a range is retried: `attempts` failures in a row without a byte of progress give up;
    the n-th waits a random time up to min(cap, base * 2**n) (full jitter)."""

    attempts: int = 8
    base: float = 0.1
    cap: float = 5.0

    def delay(self, failures: int) -> float:
        """The wait before the next attempt, after `failures` failures in a row."""
        return random.uniform(0, min(self.cap, self.base * 2 ** (failures - 1)))


class VersionGone(StorageError):
    """The pinned version (or its bucket) does not exist."""


class GaveUp(StorageError):
    """A range failed, transiently, too many times in a row: trying again later may do."""


class RangedReader:
    """Ranges of `key` at `version_id` in `bucket`, an object of `size` bytes, through `client`
    (one made with `make_client(pool=...)`, that does not retry on its own)."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        version_id: str,
        size: int,
        *,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._client = client
        self.where = f"s3://{bucket}/{key}"
        self._args = {"Bucket": bucket, "Key": key, "VersionId": version_id}
        self.version_id = version_id
        self.size = size
        self._policy = policy
        self._sleep = sleep
        self._lock = threading.Lock()
        self.retries = 0
        self.stopped = threading.Event()  # set: give up waiting between attempts

    def read(
        self, start: int, end: int, on_bytes: Callable[[bytearray, int], None] | None = None
    ) -> bytearray:
        """The bytes [start, end) of the pinned version. `on_bytes(data, got)` is called as
        they arrive: the first `got` bytes of `data` are in."""
        data = bytearray(end - start)
        got, failures = 0, 0
        while got < len(data):
            before = got
            try:
                got = self._read_into(data, start, got, on_bytes)
            except _Partial as partial:
                got = partial.got
                failures = 0 if got > before else failures + 1
                if failures >= self._policy.attempts or self.stopped.is_set():
                    raise GaveUp(
                        f"{self.where}: bytes {start}-{end - 1} of version {self.version_id} "
                        f"failed {failures} times in a row ({partial.reason})",
                        hint="check the network and the endpoint, then fetch again: what "
                        "arrived is kept",
                    ) from None
                with self._lock:
                    self.retries += 1
                self._sleep(self._policy.delay(max(failures, 1)))
        return data

    def _read_into(
        self,
        data: bytearray,
        start: int,
        got: int,
        on_bytes: Callable[[bytearray, int], None] | None,
    ) -> int:
        first, last = start + got, start + len(data) - 1
        try:
            response = self._client.get_object(**self._args, Range=f"bytes={first}-{last}")
        except ClientError as exc:
            raise self._client_error(exc, got) from None
        except _TRANSIENT_ERRORS as exc:
            raise _Partial(got, _reason(exc)) from None
        except BotoCoreError as exc:
            raise StorageError(f"{self.where}: {_reason(exc)}") from None
        self._check(response, first, last)
        body = response["Body"]
        try:
            for chunk in body.iter_chunks(CHUNK):
                if got + len(chunk) > len(data):
                    raise StorageError(f"{self.where}: S3 sent more bytes than the range asked")
                data[got : got + len(chunk)] = chunk
                got += len(chunk)
                if on_bytes is not None:
                    on_bytes(data, got)
        except _TRANSIENT_ERRORS as exc:
            raise _Partial(got, _reason(exc)) from None
        finally:
            body.close()
        if got < len(data):
            raise _Partial(got, f"the answer ended after {got} of {len(data)} bytes")
        return got

    def _check(self, response: dict[str, Any], first: int, last: int) -> None:
        answered = response.get("VersionId")
        if answered and answered != self.version_id:
            raise StorageError(
                f"{self.where}: asked for version {self.version_id}, S3 answered {answered}"
            )
        found = _CONTENT_RANGE.fullmatch(str(response.get("ContentRange", "")))
        if found is None:
            raise StorageError(f"{self.where}: S3 did not answer with the range asked for")
        a, b, total = (int(n) for n in found.groups())
        if total != self.size:
            raise StorageError(
                f"{self.where}: version {self.version_id} is {total} bytes, the manifest says "
                f"{self.size}",
                hint="the manifest and the bucket disagree; do not use this release",
            )
        if (a, b) != (first, last):
            raise StorageError(f"{self.where}: asked for bytes {first}-{last}, got {a}-{b}")

    def _client_error(self, exc: ClientError, got: int) -> Exception:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _TRANSIENT_CODES or status >= 500:
            return _Partial(got, f"S3 answered {code or status}")
        if code in _MISSING:
            return VersionGone(f"{self.where}: version {self.version_id} does not exist")
        if code in _DENIED:
            return StorageError(
                f"{self.where}: access denied ({code})",
                hint="check that your credentials (or anonymous access) may read this bucket",
            )
        message = exc.response.get("Error", {}).get("Message", "")
        return StorageError(f"{self.where}: S3 answered {code}: {message}".rstrip(": "))


class _Partial(Exception):
    """A transient failure, after `got` bytes of the range had arrived."""

    def __init__(self, got: int, reason: str) -> None:
        super().__init__(reason)
        self.got = got
        self.reason = reason


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
