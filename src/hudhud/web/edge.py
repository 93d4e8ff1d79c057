"""The HTTP edge: how connections are admitted, timed out and shut down, before any route runs.

uvicorn parses HTTP; `edge_classes` gives it a subclass of its httptools protocol that adds what a server
facing the Internet needs and uvicorn does not do itself:

- a deadline for the request head: the whole head (request line and headers) must arrive within
  `http_head_timeout` of the connection opening, or of the previous response on a keep-alive connection.
  A client that sends nothing, or half a head, a byte at a time, is closed; it cannot hold a file
  descriptor for longer than that. (uvicorn's `timeout_keep_alive` only closes a connection that sends
  no byte at all after a response.)
- a deadline between the pieces of a request body: `http_body_timeout` with no byte of a body the server
  is waiting for closes the connection (time the application spends not reading does not count);
- a cap on open connections per client address (`max_connections_per_address`, WebSockets included) and
  in all (`max_connections`, by default a little under the process's open-file limit). The excess is
  answered at once with the JSON error body of docs/protocol.md section 3.1 (`429 too_many_connections`,
  or `503 unavailable`) and closed, so that one address cannot take the descriptors that `/healthz` and
  everyone else's connections need. uvicorn's own `limit_concurrency` is not used: it does not count
  WebSocket upgrades and answers in plain text;
- the plain-text `400` that uvicorn writes for a request it cannot parse (a malformed head, a
  `Content-Length` that is not a number) is written as the JSON error body instead.

`EdgeServer` is uvicorn's server with one change: after a graceful shutdown on SIGTERM the process exits
with status 0 instead of killing itself with the signal again (systemd and container runtimes count a
drained stop as a clean exit).
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import threading
from collections.abc import Iterator
from typing import Any, cast

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from hudhud.app import Hudhud
from hudhud.config import Settings

REFUSED_LINGER = 2.0  # seconds a refused connection stays half-open so the client reads the answer
_REASONS = {400: b"Bad Request", 429: b"Too Many Requests", 503: b"Service Unavailable"}


def error_response(status: int, code: str, message: str, retry_after: int | None = None) -> bytes:
    """A complete HTTP/1.1 response carrying the error body of docs/protocol.md section 3.1; it closes."""
    error: dict[str, object] = {"code": code, "message": message}
    if retry_after is not None:
        error["retry_after"] = float(retry_after)
    body = orjson.dumps({"error": error})
    head = [
        b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"Error")),
        b"content-type: application/json",
        b"content-length: %d" % len(body),
        b"connection: close",
    ]
    if retry_after is not None:
        head.append(b"retry-after: %d" % retry_after)
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def default_max_connections() -> int:
    """A little under the open-file limit: the rest is kept for the database, media files and the SMS client."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(16, soft - max(32, soft // 10))


class ConnectionSlots:
    """Open connections, per client address and in all, against the two caps (0: no cap). Addresses in
    `exempt` (a reverse proxy on the same machine, say) have no cap of their own."""

    def __init__(self, per_address: int, total: int, exempt: frozenset[str]) -> None:
        self.per_address = per_address
        self.total = total
        self.exempt = exempt
        self.open = 0
        self.by_address: dict[str, int] = {}

    def take(self, address: str) -> Slot | str:
        """A slot for a new connection from `address`, or why there is none ("address" or "total")."""
        if self.total and self.open >= self.total:
            return "total"
        held = self.by_address.get(address, 0)
        if self.per_address and held >= self.per_address and address not in self.exempt:
            return "address"
        self.open += 1
        self.by_address[address] = held + 1
        return Slot(self, address)

    def _release(self, address: str) -> None:
        self.open -= 1
        left = self.by_address[address] - 1
        if left:
            self.by_address[address] = left
        else:
            del self.by_address[address]


class Slot:
    """One admitted connection; `release` is safe to call more than once."""

    __slots__ = ("address", "owner")

    def __init__(self, owner: ConnectionSlots, address: str) -> None:
        self.owner: ConnectionSlots | None = owner
        self.address = address

    def release(self) -> None:
        if self.owner is not None:
            self.owner._release(self.address)
            self.owner = None


def slots_for(settings: Settings) -> ConnectionSlots:
    exempt = frozenset(a.strip() for a in settings.connection_limit_exempt.split(",") if a.strip())
    total = settings.max_connections or default_max_connections()
    return ConnectionSlots(settings.max_connections_per_address, total, exempt)


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with head and body deadlines, connection caps and JSON parse errors."""

    slots: ConnectionSlots
    head_timeout: float
    body_timeout: float
    ws_class: type[asyncio.Protocol] | None

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.slot: Slot | None = None
        self.refused = False
        self.deadline: asyncio.TimerHandle | None = None  # for the head, a piece of body, or a refused answer
        if self.ws_class is not None:
            self.ws_protocol_class = self._upgrade  # type: ignore[assignment]

    # -- admission --------------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        taken = self.slots.take(self.client[0] if self.client else "")
        if isinstance(taken, Slot):
            self.slot = taken
            self._arm(self.head_timeout, self._head_timed_out)
        elif taken == "address":
            self._refuse(error_response(429, "too_many_connections", "too many open connections from this address", 1))
        else:
            self._refuse(error_response(503, "unavailable", "the server is at its connection limit", 1))

    def _refuse(self, answer: bytes) -> None:
        self.refused = True
        self.transport.write(answer)
        if self.transport.can_write_eof():
            # Half-close and let the client's request (if it sent one) be read and dropped: closing at once
            # could reset the connection before the client has read the answer.
            self.transport.write_eof()
        self._arm(REFUSED_LINGER, self.transport.close)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.slot is not None:
            self.slot.release()
            self.slot = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        super().data_received(data)

    def eof_received(self) -> None:
        if self.refused:
            self.transport.close()

    # -- deadlines --------------------------------------------------------------------------------------------

    def _arm(self, delay: float, callback: Any) -> None:
        self._disarm()
        if delay > 0:
            self.deadline = self.loop.call_later(delay, callback)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _head_timed_out(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def _body_timed_out(self) -> None:
        self.deadline = None
        cycle = self.cycle
        if cycle is None or not cycle.more_body or cycle.response_complete or self.transport.is_closing():
            return
        if self.flow.read_paused:  # the application is not reading: that is not the client's delay
            self._arm(self.body_timeout, self._body_timed_out)
            return
        self.transport.close()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.more_body and not self.parser.should_upgrade():
            self._arm(self.body_timeout, self._body_timed_out)

    def on_body(self, body: bytes) -> None:
        super().on_body(body)
        if self.deadline is not None:
            self._arm(self.body_timeout, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # idle, waiting for the next request's head
            self._arm(self.head_timeout, self._head_timed_out)

    # -- the rest ---------------------------------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        self.transport.write(error_response(400, "invalid_request", "the HTTP request could not be parsed"))
        self.transport.close()

    def _upgrade(self, **kwargs: Any) -> asyncio.Protocol:
        """Build the WebSocket protocol and hand it this connection's slot: it is released when that ends."""
        assert self.ws_class is not None
        self._disarm()
        protocol = self.ws_class(**kwargs)
        protocol.edge_slot = self.slot  # type: ignore[attr-defined]
        self.slot = None
        return protocol


def _releasing(ws_class: type[asyncio.Protocol]) -> type[asyncio.Protocol]:
    """`ws_class`, releasing its connection's slot when the connection ends."""

    def connection_lost(self: Any, exc: Exception | None) -> None:
        try:
            ws_class.connection_lost(self, exc)
        finally:
            slot: Slot | None = getattr(self, "edge_slot", None)
            if slot is not None:
                slot.release()

    return type(ws_class.__name__, (ws_class,), {"connection_lost": connection_lost})


def edge_classes(
    settings: Settings, ws_class: type[asyncio.Protocol] | None
) -> tuple[type[EdgeProtocol], type[asyncio.Protocol] | None]:
    """The HTTP protocol class to give uvicorn as `http=`, and the WebSocket class to give it as `ws=`."""
    ws = _releasing(ws_class) if ws_class is not None else None
    attrs = {
        "slots": slots_for(settings),
        "head_timeout": settings.http_head_timeout,
        "body_timeout": settings.http_body_timeout,
        "ws_class": ws,
    }
    return cast(type[EdgeProtocol], type("HudhudHttp", (EdgeProtocol,), attrs)), ws


def uvicorn_options(hub: Hudhud) -> dict[str, Any]:
    """The uvicorn settings of the HTTP edge, the same for `hudhud serve` and for the tests."""
    from hudhud.web.ws import socket_class

    s = hub.settings
    http, ws = edge_classes(s, socket_class(hub))  # /v1/ws is served by our own protocol class (web/ws.py)
    return {
        "http": http,
        "ws": ws,
        "ws_max_size": s.max_ws_frame_bytes,
        # Chat frames are small; compression would cost CPU and tens of KB of memory per connection.
        "ws_per_message_deflate": False,
        "timeout_keep_alive": s.http_keepalive_timeout,
    }


class EdgeServer(uvicorn.Server):
    """uvicorn's server, exiting normally after a graceful shutdown on SIGTERM.

    uvicorn restores the signal handlers after shutting down and raises each signal it caught again, so a
    process stopped by SIGTERM reports "killed by signal 15" although it drained cleanly. Here SIGTERM is
    not raised again (the process exits 0); SIGINT still is, so Ctrl-C ends with KeyboardInterrupt."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        caught: list[int] = []

        def handle(sig: int, frame: Any) -> None:
            caught.append(sig)
            self.handle_exit(sig, frame)

        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, handle) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
        if signal.SIGINT in caught:
            signal.raise_signal(signal.SIGINT)
