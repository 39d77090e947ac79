"""A wide-area network on loopback: a TCP proxy that slows, delays and cuts connections.

`WanProxy` listens on 127.0.0.1 and relays every connection, byte for byte, to an upstream
host and port (the local S3). Each connection is shaped on its own, as a long-distance link
shapes each TCP stream: its rate is capped in each direction (a token bucket, `rate` bytes per
second), a round trip costs `latency_ms` (once to connect, then half of it each time the talk
turns from one side to the other: a request, then its answer), and it can be cut (a reset to
both sides) after `cut_after` bytes in either direction. `cut_every` drops the link itself
every N bytes relayed (all connections together): the connection that crosses the mark is cut.
(A server that closes each connection after one answer, as moto's does, never carries a
connection past one request: there `cut_every` is the drop that hits long transfers.) It
counts the bytes it relays upstream and down, the connections and the cuts, so a test or a
benchmark can say how many bytes a run really sent.

Stdlib only: a thread accepts, two threads pump each connection. At most `max_connections`
are relayed at once (others wait to be accepted); connections idle for `idle_timeout` seconds
(no byte either way: a long download keeps its request side quiet) are closed; `stop()`
closes every socket and joins every thread, and the threads are daemons, so a forgotten proxy
never holds a process open.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from urllib.parse import urlsplit

import msgspec

_CHUNK = 64 * 1024
_UP, _DOWN = 0, 1


class Traffic(msgspec.Struct, frozen=True):
    """What the proxy relayed since it started (or since `reset_counts`)."""

    bytes_up: int  # client to upstream: what an upload sent
    bytes_down: int  # upstream to client: what a download received
    connections: int
    cuts: int
    peak_connections: int  # the most connections open at once


class WanProxy:
    """A shaping TCP proxy in front of `upstream` ("http://host:port" or "host:port"); a
    context manager. `rate` is bytes per second per connection and direction (None: no cap)."""

    def __init__(
        self,
        upstream: str,
        *,
        rate: float | None = None,
        latency_ms: float = 0.0,
        cut_after: int | None = None,
        cut_every: int | None = None,
        max_connections: int = 128,
        idle_timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(upstream if "//" in upstream else f"//{upstream}")
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream {upstream!r}: expected host:port")
        self.upstream = (parts.hostname, parts.port)
        self.rate = rate
        self.latency = latency_ms / 1000
        self.cut_after = cut_after
        self.cut_every = cut_every
        self._link_left = cut_every
        self.idle_timeout = idle_timeout
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._counts = [0, 0]
        self._connections = 0
        self._cuts = 0
        self._active = self._peak = 0
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def endpoint_url(self) -> str:
        if self._listener is None:
            raise RuntimeError("the WAN proxy is not running")
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def traffic(self) -> Traffic:
        with self._lock:
            return Traffic(
                self._counts[_UP], self._counts[_DOWN], self._connections, self._cuts, self._peak
            )

    def reset_counts(self) -> None:
        with self._lock:
            self._counts = [0, 0]
            self._connections = self._cuts = 0
            self._peak = self._active

    def start(self, port: int = 0) -> str:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        listener.settimeout(0.2)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, name="wan-accept", daemon=True)
        self._acceptor.start()
        return self.endpoint_url

    def stop(self) -> None:
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.join(timeout=10)
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            _close(sock)
        for thread in threads:
            thread.join(timeout=10)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> WanProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                self._slots.release()
                continue
            thread = threading.Thread(
                target=self._serve, args=(client,), name="wan-conn", daemon=True
            )
            with self._lock:
                self._threads.add(thread)
                self._sockets.add(client)
                self._connections += 1
                self._active += 1
                self._peak = max(self._peak, self._active)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            if self.latency:
                time.sleep(self.latency)  # the handshake's round trip
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                return
            with self._lock:
                self._sockets.add(upstream)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.settimeout(self.idle_timeout)
            link = _Link(self, client, upstream)
            down = threading.Thread(
                target=link.pump, args=(upstream, client, _DOWN), name="wan-down", daemon=True
            )
            down.start()
            link.pump(client, upstream, _UP)
            down.join()
        finally:
            for end in (client, upstream):
                if end is not None:
                    _close(end)
                    with self._lock:
                        self._sockets.discard(end)
            with self._lock:
                self._threads.discard(threading.current_thread())
                self._active -= 1
            self._slots.release()

    def _relayed(self, direction: int, count: int) -> None:
        with self._lock:
            self._counts[direction] += count

    def _cut(self) -> None:
        with self._lock:
            self._cuts += 1

    def _link_budget(self, wanted: int) -> tuple[int, bool]:
        """How many of `wanted` bytes the link relays before it drops, and whether it drops."""
        with self._lock:
            if self._link_left is None or self.cut_every is None:
                return wanted, False
            allowed = min(wanted, self._link_left)
            self._link_left -= allowed
            if self._link_left > 0:
                return allowed, False
            self._link_left = self.cut_every
            return allowed, True


class _Link:
    """One connection's shaping: its byte budget before a cut, whose turn it is to talk."""

    def __init__(self, proxy: WanProxy, client: socket.socket, upstream: socket.socket) -> None:
        self._proxy = proxy
        self._sockets = (client, upstream)
        self._lock = threading.Lock()
        self._left = proxy.cut_after
        self._turn: int | None = None
        self._closed = False
        self._active_at = time.monotonic()  # when a byte last went either way

    def pump(self, source: socket.socket, sink: socket.socket, direction: int) -> None:
        proxy = self._proxy
        rate = proxy.rate
        chunk = _CHUNK if rate is None else max(1024, min(_CHUNK, int(rate / 50)))
        capacity = chunk if rate is None else max(chunk, rate / 20)
        tokens, last = 0.0, time.monotonic()
        try:
            while not self._closed:
                try:
                    data = source.recv(chunk)
                except TimeoutError:  # quiet this way: idle only if the other way is too
                    if time.monotonic() - self._active_at < proxy.idle_timeout:
                        continue
                    raise
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                if proxy.latency and self._take_turn(direction):
                    time.sleep(proxy.latency / 2)
                if rate is not None:
                    now = time.monotonic()
                    tokens = min(capacity, tokens + (now - last) * rate) - len(data)
                    last = now
                    if tokens < 0:
                        time.sleep(-tokens / rate)
                data, cut = self._budget(data)
                if data:
                    sink.sendall(data)
                    proxy._relayed(direction, len(data))
                    self._active_at = time.monotonic()
                if cut:
                    self._reset()
                    return
        except OSError:
            self._reset_quietly()

    def _take_turn(self, direction: int) -> bool:
        """True when the talk turns to this direction (a new request, or its answer)."""
        with self._lock:
            turned, self._turn = self._turn != direction, direction
            return turned

    def _budget(self, data: bytes) -> tuple[bytes, bool]:
        """The part of `data` this connection may still relay, and whether it is cut after:
        its own budget (`cut_after`) or the link's (`cut_every`, across connections)."""
        with self._lock:
            allowed = len(data) if self._left is None else min(len(data), self._left)
            allowed, dropped = self._proxy._link_budget(allowed)
            if self._left is not None:
                self._left -= allowed
                dropped = dropped or self._left <= 0
            return data[:allowed], dropped

    def _reset(self) -> None:
        """Cut the connection: a reset to both sides, as a dropped link shows itself."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._proxy._cut()
        for sock in self._sockets:  # no FIN: linger 0 makes close() send a reset
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RD)  # wakes the other pump's recv, sends nothing
            with contextlib.suppress(OSError):
                sock.close()

    def _reset_quietly(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for sock in self._sockets:
            _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
