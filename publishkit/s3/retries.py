"""Retries a long transfer needs: a transient error (a connection reset or timed out, a 5xx,
SlowDown, RequestTimeout) is tried again after an exponential backoff with full jitter; a
permanent one (403, 404, NoSuchBucket, a precondition) is raised at once, and so is an error a
body raised while it was being sent (botocore wraps it as a failed send: it is a file that
changed, never the network's fault). Retries are counted, so a report can say how rough the
link was."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import msgspec
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from publishkit.errors import PublishkitError

T = TypeVar("T")

TRANSIENT_CODES = {
    "SlowDown",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
}


def transient(exc: BaseException) -> bool:
    """The error may pass if the request is sent again."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in TRANSIENT_CODES or status in (500, 502, 503, 504)
    return isinstance(exc, BotoConnectionError | HTTPClientError)


class Backoff(msgspec.Struct):
    """How often and how patiently a request is tried: attempt n waits a uniform draw from
    [0, min(cap, base * 2**n)] seconds (full jitter), so retries of many parts spread out."""

    attempts: int = 10
    base: float = 0.25
    cap: float = 20.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = msgspec.field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        return self.rng.uniform(0, min(self.cap, self.base * 2**attempt))


class RetryCount:
    """A count of retries, safe to add to from many threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0

    def add(self, n: int = 1) -> None:
        with self._lock:
            self.value += n


def retried(call: Callable[[], T], *, backoff: Backoff, count: RetryCount) -> T:
    """call(), again after a backoff while it fails with a transient error and attempts are
    left; each retry counted. Anything else (a permanent error, a file that changed, Ctrl-C)
    passes through at once."""
    for attempt in range(backoff.attempts):
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            inner = getattr(exc, "kwargs", {}).get("error")
            if isinstance(inner, PublishkitError):  # raised by the body as it was sent
                raise inner from None
            if not transient(exc) or attempt == backoff.attempts - 1:
                raise
        count.add()
        backoff.sleep(backoff.delay(attempt))
    raise AssertionError("unreachable: the last attempt returns or raises")
