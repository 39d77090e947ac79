"""A small fault-injecting HTTP reverse proxy on 127.0.0.1, for resilience tests against moto.

Every request is forwarded to the upstream (method, path and query, headers, body) unless the
fault plan picks it; then the proxy answers `503 SlowDown` with an S3 XML error body before
forwarding ("slowdown"), resets the connection before forwarding ("reset"), or forwards it and
resets the connection instead of relaying the answer ("reset_after": the upstream applied the
request, the client cannot know), or answers `404 NoSuchUpload` without forwarding
("no_such_upload": real S3's answer to a CompleteMultipartUpload retried after its first attempt
completed the upload, which moto answers with success). Bodies are read exactly: by
Content-Length, or chunk by chunk with their trailers for `Transfer-Encoding: chunked`
(aws-chunked uploads) and forwarded as received, with the same headers. `Expect: 100-continue`
is answered as S3 does: `100 Continue`, or the 503 straight away (the client then never sends
the body).

Stdlib only: `http.server.ThreadingHTTPServer` in, `http.client` out. It serves one test: it
stops after `max_requests`, times idle connections out, and `stop()` closes every connection and
joins every thread.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

Fault = Literal["slowdown", "reset", "reset_after", "no_such_upload"]
FAULTS: tuple[Fault, ...] = ("slowdown", "reset", "reset_after")
# Hop-by-hop headers are the proxy's own business on each side; Transfer-Encoding is kept on
# requests (the body is forwarded chunked, as received) and dropped on answers (re-framed).
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te"}
_HOP_BY_HOP |= {"upgrade", "expect"}

# What real S3 answers a CompleteMultipartUpload retried after its first attempt completed the
# upload; moto answers such a retry with success, so this fault stands in for real S3's answer.
NO_SUCH_UPLOAD_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist. The upload "
    b"ID may be invalid, or the upload may have been aborted or completed.</Message>"
    b"<RequestId>FAULTPROXY</RequestId><HostId>faultproxy</HostId></Error>"
)
SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>"
    b"<RequestId>FAULTPROXY</RequestId><HostId>faultproxy</HostId></Error>"
)


@dataclass(frozen=True)
class Request:
    """What a fault plan sees of one request (its body is not read yet)."""

    number: int  # 1-based, in order of arrival
    method: str
    path: str  # path and query, as sent
    headers: dict[str, str]  # lower-case names

    @property
    def query(self) -> str:
        return urlsplit(self.path).query

    @property
    def key(self) -> str:
        """The request's path without the query: /bucket/key for path-style S3."""
        return urlsplit(self.path).path


@dataclass(frozen=True)
class Record:
    number: int
    method: str
    path: str
    fault: Fault | None
    status: int | None  # the upstream's status, when the request was forwarded

    @property
    def query(self) -> str:
        return urlsplit(self.path).query


Plan = Callable[[Request], Fault | None]


def no_faults(request: Request) -> Fault | None:
    return None


def every_nth(
    n: int, kinds: tuple[Fault, ...] = ("slowdown", "reset"), *, max_in_a_row: int = 2
) -> Plan:
    """Fail every n-th request, cycling through `kinds`; the same request (method and path with
    query) is never failed more than `max_in_a_row` times running, so a client retrying it
    `max_in_a_row + 1` times always gets through."""
    lock = threading.Lock()
    streak: Counter[tuple[str, str]] = Counter()
    fired = [0]

    def plan(request: Request) -> Fault | None:
        same = (request.method, request.path)
        with lock:
            if request.number % n or streak[same] >= max_in_a_row:
                streak[same] = 0
                return None
            streak[same] += 1
            kind = kinds[fired[0] % len(kinds)]
            fired[0] += 1
            return kind

    return plan


def first_match(
    rules: list[tuple[Callable[[Request], bool], Fault]], then: Plan = no_faults
) -> Plan:
    """Each rule fires once, on the first request it matches; other requests go to `then`."""
    lock = threading.Lock()
    pending = list(rules)

    def plan(request: Request) -> Fault | None:
        with lock:
            for index, (matches, fault) in enumerate(pending):
                if matches(request):
                    del pending[index]
                    return fault
        return then(request)

    return plan


class FaultProxy:
    """The proxy; a context manager. `url` is its endpoint, `counts` what it did so far."""

    def __init__(
        self,
        upstream: str,
        plan: Plan = no_faults,
        *,
        max_requests: int = 5000,
        idle_timeout: float = 20.0,
        upstream_timeout: float = 30.0,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or parts.port is None:
            raise ValueError(f"upstream must be http://HOST:PORT, not {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.plan = plan
        self.max_requests = max_requests
        self.upstream_timeout = upstream_timeout
        self.records: list[Record] = []
        self.errors: list[str] = []  # handler failures other than a client hanging up
        self._lock = threading.Lock()
        self._numbers = iter(range(1, max_requests + 1))
        self._connections: set[socket.socket] = set()
        self._spawned: list[threading.Thread] = []  # one thread per connection
        handler = type("_TimedHandler", (_Handler,), {"timeout": idle_timeout})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.proxy = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def counts(self) -> Counter[str]:
        """forwarded (answered by the upstream), and one count per fault kind."""
        with self._lock:
            found: Counter[str] = Counter()
            for record in self.records:
                if record.fault is None or record.fault == "reset_after":
                    found["forwarded"] += 1
                if record.fault is not None:
                    found[record.fault] += 1
            return found

    def alive_threads(self) -> list[threading.Thread]:
        """The proxy's threads still running: none once `stop()` returned."""
        threads = [*self._spawned, *([self._thread] if self._thread else [])]
        return [t for t in threads if t.is_alive()]

    def failed(self) -> list[Record]:
        with self._lock:
            return [r for r in self.records if r.fault is not None]

    def start(self) -> str:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="faultproxy", daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.shutdown()
        self._thread.join(timeout=10)
        with self._lock:
            live = list(self._connections)
        for conn in live:  # wake handlers idling on keep-alive connections
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the handler threads (block_on_close)
        self._thread = None

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- used by the handler ---------------------------------------------------------------

    def _next_number(self) -> int | None:
        with self._lock:
            return next(self._numbers, None)

    def _record(self, record: Record) -> None:
        with self._lock:
            self.records.append(record)

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def _error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    proxy: FaultProxy

    def process_request(self, request: Any, client_address: Any) -> None:
        super().process_request(request, client_address)
        self.proxy._spawned.append(self._threads[-1])  # type: ignore[attr-defined]

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        exc = sys.exc_info()[1]
        if not isinstance(exc, ConnectionError | TimeoutError):
            self.proxy._error(f"{type(exc).__name__}: {exc}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and 100-continue, as botocore expects
    server: _Server
    _fault: Fault | None
    _number: int | None

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self.connection, True)

    def finish(self) -> None:
        self.server.proxy._track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def parse_request(self) -> bool:
        self._number = self._fault = None
        self._decided = False
        return super().parse_request()

    def _decide(self) -> None:
        if self._decided:
            return
        self._decided = True
        proxy = self.server.proxy
        self._number = proxy._next_number()
        if self._number is None:
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._fault = proxy.plan(Request(self._number, self.command, self.path, headers))

    def handle_expect_100(self) -> bool:
        """S3 answers an error instead of `100 Continue`; the client then skips the body."""
        self._decide()
        if self._fault == "slowdown":
            self._record(None)
            self._send_slowdown()
            self.close_connection = True  # the body, if sent anyway, is never read
            return False
        return super().handle_expect_100()

    def _any(self) -> None:
        self._decide()
        if self._number is None:  # over max_requests: the test went wrong, stop serving it
            self._record(None)
            self.send_error(500, "faultproxy: too many requests")
            self.close_connection = True
            return
        body = self._read_body()
        if self._fault == "slowdown":
            self._record(None)
            self._send_slowdown()
            return
        if self._fault == "reset":
            self._record(None)
            self._reset()
            return
        if self._fault == "no_such_upload":
            self._record(None)
            self._send_error(404, "Not Found", NO_SUCH_UPLOAD_BODY)
            return
        status, reason, headers, data = self._forward(body)
        self._record(status)
        if self._fault == "reset_after":
            self._reset()
            return
        self.send_response_only(status, reason)
        for name, value in headers:
            if name.lower() in _HOP_BY_HOP | {"transfer-encoding", "content-length"}:
                continue
            self.send_header(name, value)
        if self.command == "HEAD":
            length = next((v for k, v in headers if k.lower() == "content-length"), None)
            if length is not None:
                self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_PATCH = _any

    def _record(self, status: int | None) -> None:
        self.server.proxy._record(
            Record(self._number or 0, self.command, self.path, self._fault, status)
        )

    def _read_body(self) -> bytes:
        """The body exactly as sent: chunked framing and trailers included."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return b"".join(self._read_chunks())
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:  # the client gave up mid-body: nothing reaches the upstream
            raise ConnectionError("client closed inside the body")
        return body

    def _read_chunks(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline(65537)
            if not line:
                raise ConnectionError("client closed inside a chunked body")
            yield line
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while True:  # trailers (x-amz-checksum-*), then the empty line
                    trailer = self.rfile.readline(65537)
                    if not trailer:
                        raise ConnectionError("client closed inside chunked trailers")
                    yield trailer
                    if trailer in (b"\r\n", b"\n"):
                        return
            data = self.rfile.read(size + 2)  # the chunk and its CRLF
            if len(data) != size + 2:
                raise ConnectionError("client closed inside a chunk")
            yield data

    def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
        proxy = self.server.proxy
        conn = http.client.HTTPConnection(*proxy.upstream, timeout=proxy.upstream_timeout)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.endheaders(body or None)
            response = conn.getresponse()
            data = response.read()
            return response.status, response.reason, response.getheaders(), data
        finally:
            conn.close()

    def _send_slowdown(self) -> None:
        self._send_error(503, "Slow Down", SLOWDOWN_BODY)

    def _send_error(self, status: int, reason: str, body: bytes) -> None:
        self.send_response_only(status, reason)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", "FAULTPROXY")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0), not FIN: the client sees `connection reset by peer`."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()  # the makefile() reference would keep the socket open
        self.connection.close()
