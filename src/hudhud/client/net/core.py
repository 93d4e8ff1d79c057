"""The state one client shares across its layers: the profile, the connection state, the event streams and
the socket's send side. REST calls (`rest.py`), the outbox (`outbox.py`) and the session (`session.py`) are
layers on top of `ClientCore`; `hudhud.client.sdk.HudhudClient` stacks them."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from hudhud.client.net.protocol import (
    DEFAULT_SERVER,
    BroadcastSent,
    ConnState,
    Event,
    Forwarded,
    Sent,
    StateChanged,
    TicksChanged,
    ws_url_for,
)
from hudhud.client.records import Envelope, OutboxEntry
from hudhud.client.state import StateStore

log = logging.getLogger("hudhud.client")

_END = object()


async def wait_event(event: asyncio.Event, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `event`; True if it was set. A cancellation that arrives just as the
    event is set still cancels: `asyncio.wait_for` on Python 3.11 returns normally then (gh-86296), and a
    session task that loops on it would outlive its connection, leaving the session stuck, never reconnecting."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True


class EventStream:
    """One subscriber's queue of events. Created synchronously by `HudhudClient.events()`, so nothing emitted
    after that call is missed; ends when the client stops or the stream is closed."""

    def __init__(self, client: ClientCore) -> None:
        self._client = client
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._ended = False
        client._streams.add(self._queue)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self._ended = True
            raise StopAsyncIteration
        return item  # type: ignore[return-value]

    async def next(self, predicate: Callable[[Event], bool] | None = None, timeout: float | None = None) -> Event:
        """The next event (matching `predicate`), or TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):
            async for event in self:
                if predicate is None or predicate(event):
                    return event
        raise EOFError("the event stream has ended")

    def pending(self) -> list[Event]:
        """The events already queued, without waiting (for a last look after the session stopped)."""
        out: list[Event] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is _END:
                self._ended = True
            else:
                out.append(item)  # type: ignore[arg-type]
        return out

    def close(self) -> None:
        self._client._streams.discard(self._queue)
        self._ended = True

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class SessionStats:
    """Counters for diagnostics (and for tests that must see a duplicate arrive to know it was dropped)."""

    connections: int = 0  # welcomes received
    deliveries: int = 0  # deliver frames received
    duplicates: int = 0  # ... of which were already seen and not shown again
    sends: int = 0  # send frames written (first sends and resends)


@dataclass
class _Job:
    """A forward or broadcast on the wire: the answers received so far for this attempt."""

    entry: OutboxEntry
    results: dict[int, Sent] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None

    @property
    def size(self) -> int:
        return len(self.entry.content.get("targets", [])) if self.entry.kind == "forward" else 1


@dataclass
class _Outcome:
    """How one connection attempt ended."""

    reason: str = ""
    fatal: bool = False
    retry_after: float | None = None
    synced: bool = False
    started: float = field(default_factory=time.monotonic)


# -- the state every layer shares ------------------------------------------------------------------------------


class ClientCore:
    """What every layer of `HudhudClient` reads and writes (see `hudhud.client.sdk` for the class itself)."""

    def __init__(
        self,
        profile: str | Path | StateStore | None = None,
        *,
        server: str | None = None,
        receive: bool = True,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        stable_after: float = 10.0,
        http_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        ack_delay: float = 0.05,
        ping_interval: float | None = 20.0,
        rng: random.Random | None = None,
    ) -> None:
        self.store = profile if isinstance(profile, StateStore) else StateStore(profile)
        self.server = (server or self.store.server or DEFAULT_SERVER).rstrip("/")
        self.receive = receive
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stable_after = stable_after
        self._http_timeout = http_timeout
        self._connect_timeout = connect_timeout
        self._ack_delay = ack_delay
        self._ping_interval = ping_interval
        self._rng = rng or random.Random()
        self._http: httpx.AsyncClient | None = None

        self.state = ConnState.IDLE
        self.stats = SessionStats()
        self._streams: set[asyncio.Queue[object]] = set()
        self._callbacks: list[Callable[[Event], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._state_changed: asyncio.Event | None = None

        # Per connection (reset at every welcome).
        self._ws: ClientConnection | None = None
        self._send_lock: asyncio.Lock | None = None
        self._conn_tasks: list[asyncio.Task[None]] = []
        self._inflight: dict[str, str] = {}  # outbox id -> target
        self._acked: dict[str, int] = {}  # conversation -> seq acked on this connection
        self._backlog_max: dict[str, int] = {}  # conversation -> highest seq delivered before synced
        self._synced = False
        self._outcome: _Outcome | None = None

        # Across connections.
        self._ack_pending: dict[str, int] = {}
        self._read_pending: dict[str, int] = {}
        self._outbox_wake: asyncio.Event | None = None
        self._ack_wake: asyncio.Event | None = None
        self._ack_urgent: asyncio.Event | None = None
        self._pause_until = 0.0
        self._sent_waiters: dict[str, asyncio.Future[Sent]] = {}
        self._jobs: dict[str, _Job] = {}  # forwards and broadcasts in flight, by outbox id
        self._job_waiters: dict[str, asyncio.Future[Forwarded | BroadcastSent]] = {}
        self._watching: list[str] = []
        self._pongs: dict[str, asyncio.Future[None]] = {}

    @property
    def user_id(self) -> str | None:
        return self.store.user_id

    @property
    def device_id(self) -> str | None:
        return self.store.device_id

    @property
    def running(self) -> bool:
        """The session task is alive (connected, connecting, or waiting to reconnect)."""
        return self._task is not None and not self._task.done()

    @property
    def ws_url(self) -> str:
        return ws_url_for(self.server)

    def on_event(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` for every event, in order. Returns a function that unregisters it."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def events(self) -> EventStream:
        """A new stream of every event emitted from now on."""
        return EventStream(self)

    def _events_init(self) -> None:
        if self._outbox_wake is None:
            self._outbox_wake = asyncio.Event()
            self._ack_wake = asyncio.Event()
            self._ack_urgent = asyncio.Event()
            self._stop_event = asyncio.Event()
            self._state_changed = asyncio.Event()
            self._send_lock = asyncio.Lock()

    def _set_state(self, state: ConnState, detail: str = "", retry_in: float | None = None) -> None:
        self.state = state
        if self._state_changed is not None:
            self._state_changed.set()
        self._emit(StateChanged(state, detail, retry_in))

    def _emit(self, event: Event) -> None:
        for queue in list(self._streams):
            queue.put_nowait(event)
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:
                log.exception("event callback failed")

    def _emit_ticks(self, changes: list[tuple[Envelope, str]]) -> None:
        for env, status in changes:
            self._emit(TicksChanged(env, status))

    def _schedule_ack(self, conversation_id: str, seq: int) -> None:
        if seq <= 0 or seq <= self._acked.get(conversation_id, 0):
            return
        if seq > self._ack_pending.get(conversation_id, 0):
            self._ack_pending[conversation_id] = seq
            assert self._ack_wake is not None
            self._ack_wake.set()

    async def _try_send(self, frame: dict[str, Any]) -> bool:
        if self._ws is None or self.state not in (ConnState.CONNECTED, ConnState.SYNCED):
            return False
        try:
            await self._send_frame(frame)
        except ConnectionClosed:
            return False
        return True

    async def _send_frame(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise ConnectionClosed(None, None)
        assert self._send_lock is not None
        async with self._send_lock:
            await ws.send(json.dumps(frame, ensure_ascii=False))
