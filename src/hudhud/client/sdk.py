"""The Hudhud client library: REST helpers, and a realtime session that does not lose or repeat messages.

Guarantees, and how they are kept:

* Sending survives outages and restarts. `send()` only writes the message into the outbox in the profile's
  `state.db` and returns its client message id. The session sends every outbox entry after each `welcome`
  and whenever a new one is queued, and deletes an entry only when the server's `sent` frame for that id
  arrives. The server dedupes by (device, id), so resending after a lost ack is harmless: it answers with
  the original seq and `duplicate: true`. Entries with the same target go one at a time (the next one after
  the previous one's `sent`), because the server handles a connection's sends concurrently and would
  otherwise be free to number them in another order.
* Receiving is exactly once, in order. The server resends everything after the device's acknowledged
  cursor on every connection. The client keeps, per conversation, a contiguous watermark (every seq at or
  below it was handed to the application or is this device's own message) plus every message above it in
  its cache; a delivery at or below the watermark, or already cached, is a duplicate and is dropped. The
  server sends each conversation in seq order and skips for good what this device will never get (its own
  messages, seqs outside a membership window, withheld ones), so the client acks the seq of the last
  delivery it has committed locally (docs/protocol.md section 6.3): a crash never acks something
  unrecorded, and a permanent gap never holds the cursor back. In the local watermark a gap above it is our
  own message whose `sent` is still on its way (it fills the gap when it arrives) or a seq this device will
  never get; at `synced` the server has sent everything committed before, so gaps left then are jumped over.
* Reconnects are automatic: exponential backoff with full jitter (a random delay between 0 and
  min(cap, base·2^attempt)), never shorter than a server's `retry_after`. The attempt counter resets only
  after a connection stayed up and synced for a while, so a server that accepts and drops at once is not
  hammered. A revoked or unknown token (error device_revoked/unauthorized, close code 4401) stops the
  session for good: the state becomes LOGGED_OUT and the application should ask the user to log in again.

* Forwards and broadcasts go through the same outbox (`forward()`, `broadcast()`), and are just as idempotent:
  the server derives the id of every copy from the request's id ("<id>#<index>" for a forward's targets,
  "<id>#<user>" for a broadcast's recipients), so a resend after a lost reply creates nothing new and answers
  with the same seqs. A forward is done when every target answered (`sent` or an error); a broadcast when its
  `broadcast_sent` arrives. `wait_forwarded()` / `wait_broadcast()` return the outcome, which is kept in the
  profile for a while so that a caller coming back late still gets it.

Groups, invitations, invite links, blocking, reports and broadcast lists are plain REST calls (see the
methods under "groups" and "safety" below); changes to a group arrive in its conversation as system messages
(`Envelope.system`), and invitations arrive as system messages in the user's inbox conversation.

Events reach the application through `events()` (an async iterator; each call gets its own stream) and
through `on_event()` callbacks (plain functions, called in order on the event loop; they must not block).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hudhud import PROTOCOL_VERSION, __version__
from hudhud.client import media
from hudhud.client.state import CachedContact, Envelope, OutboxEntry, StateStore

log = logging.getLogger("hudhud.client")

DEFAULT_SERVER = "http://127.0.0.1:8080"
MAX_CONTENT_BYTES = 64 * 1024
CLOSE_UNAUTHORIZED = 4401

# The token is no good (or the account is suspended): reconnecting cannot help.
FATAL_CODES = frozenset({"device_revoked", "unauthorized", "account_suspended"})
# The server refused this particular message and would refuse every resend the same way. (new_chat_limit
# would pass tomorrow, but holding the whole outbox back until then would be worse than dropping one message.)
PERMANENT_SEND_ERRORS = frozenset(
    {
        "content_too_large",
        "not_member",
        "not_found",
        "invalid_request",
        "bad_frame",
        "forbidden",
        "invalid_phone",
        "admins_only",
        "not_admin",
        "new_chat_limit",
        "forward_limit",
        "media_not_found",
    }
)
# Errors about a forward request as a whole (as opposed to one of its targets).
WHOLE_FORWARD_ERRORS = frozenset({"forward_limit", "bad_frame", "invalid_request"})
# After a forward target was refused, how long to wait for the other targets' answers before calling it done
# (an error does not say which target it is about, nor whether the whole request was refused).
FORWARD_GRACE = 1.5
MAX_FORWARD_TARGETS = 5
MAX_BROADCAST_ID = 30  # the server appends "#<user id>" to it and ids are at most 64 characters


# -- errors ---------------------------------------------------------------------------------------------------


class HudhudClientError(Exception):
    """Base of the errors this library raises."""


class ServerUnreachable(HudhudClientError):
    """The server could not be reached (refused, timed out, DNS...). Worth retrying later."""


class NotLoggedIn(HudhudClientError):
    """There is no usable token in the profile (never logged in, or the device was logged out)."""


class ApiError(HudhudClientError):
    """The server answered with an error: `code` is the stable machine-readable reason."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{message} ({code})")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class SendRejected(HudhudClientError):
    """The server refused a queued message for good; it was removed from the outbox."""

    def __init__(self, msg_id: str, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.msg_id = msg_id
        self.code = code
        self.message = message


# -- events ---------------------------------------------------------------------------------------------------


class ConnState(enum.Enum):
    IDLE = "idle"  # the session was never started
    CONNECTING = "connecting"
    CONNECTED = "connected"  # welcome received; catching up
    SYNCED = "synced"  # caught up; new messages arrive live
    DISCONNECTED = "disconnected"  # waiting before the next attempt
    LOGGED_OUT = "logged_out"  # the server refused the token; the session has stopped
    STOPPED = "stopped"  # stop() was called


@dataclass(frozen=True, slots=True)
class Delivered:
    """A message from someone else (or from another device of mine), shown once."""

    message: Envelope


@dataclass(frozen=True, slots=True)
class Sent:
    """The server stored one of our queued messages."""

    id: str
    conversation_id: str
    seq: int
    ts: float
    duplicate: bool


@dataclass(frozen=True, slots=True)
class SendFailed:
    """The server refused a queued message for good (it left the outbox)."""

    id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A queued forward is done. `messages[i]` is the copy in target i, or None where that target refused it
    (`errors` has the reasons)."""

    id: str
    messages: tuple[Sent | None, ...]
    errors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BroadcastSent:
    """A queued broadcast is done: a copy was stored for `reached` of the list's `total` recipients (only those
    who have me in their contacts receive theirs, and the answer does not say who). `messages` are the
    (conversation id, seq) of the copies."""

    id: str
    list_id: str
    total: int
    reached: int
    messages: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    conversation_id: str
    user_id: str
    delivered_seq: int
    read_seq: int | None


@dataclass(frozen=True, slots=True)
class TicksChanged:
    """One of my messages moved to `status` (delivered or read), computed from receipts."""

    message: Envelope
    status: str


@dataclass(frozen=True, slots=True)
class TypingUpdate:
    conversation_id: str
    user_id: str
    state: str


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    user_id: str
    status: str
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class SyncedEvent:
    """The backlog has been delivered; what follows is live."""


@dataclass(frozen=True, slots=True)
class ServerErrorEvent:
    code: str
    message: str
    ref: Any
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: ConnState
    detail: str = ""
    retry_in: float | None = None


Event = (
    Delivered
    | Sent
    | Forwarded
    | BroadcastSent
    | SendFailed
    | ReceiptUpdate
    | TicksChanged
    | TypingUpdate
    | PresenceUpdate
    | SyncedEvent
    | ServerErrorEvent
    | StateChanged
)

_END = object()


class EventStream:
    """One subscriber's queue of events. Created synchronously by `HudhudClient.events()`, so nothing emitted
    after that call is missed; ends when the client stops or the stream is closed."""

    def __init__(self, client: HudhudClient) -> None:
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


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base·2^attempt)]. Spreads the reconnects of many clients after an
    outage instead of having them all come back at the same instants."""
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    return (rng or random).uniform(0, ceiling)


def ws_url_for(server: str) -> str:
    """http://host:port/base → ws://host:port/base/v1/ws (https → wss)."""
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"server URL must start with http:// or https://, not {server!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/v1/ws", "", ""))


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


# -- the client -----------------------------------------------------------------------------------------------


class HudhudClient:
    """A Hudhud account on one device: REST calls plus (after `start()`) a self-healing realtime session.

    Use as `async with HudhudClient(profile_dir) as client:`; leaving the block stops the session, closes
    the HTTP client and the state file. `receive=False` makes a session that only sends (and tracks
    receipts): deliveries are ignored and not acked, so that a later `listen` still shows them.
    """

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

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def __aenter__(self) -> HudhudClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the session, close the HTTP client and the state file."""
        await self.stop()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.store.close()

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

    def start(self) -> None:
        """Start the realtime session in the background (idempotent). Needs a running event loop."""
        self._events_init()
        if self._task is not None and not self._task.done():
            return
        self._stopping = False
        assert self._stop_event is not None
        self._stop_event.clear()
        self._task = asyncio.create_task(self._run(), name="hudhud-session")

    async def stop(self) -> None:
        """Stop the session: send the acks still pending, close the socket, end the event streams."""
        if self._task is None:
            return
        self._stopping = True
        if self._stop_event is not None:
            self._stop_event.set()
        if self._ws is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._flush_acks()
                    # The server handles a connection's frames in order: once the pong is back, it has taken
                    # in our acks, so closing now is less likely to cut their processing short.
                    await self._ping()
        task, self._task = self._task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if self.state is not ConnState.LOGGED_OUT:
            self._set_state(ConnState.STOPPED)
        for queue in list(self._streams):
            queue.put_nowait(_END)
        self._streams.clear()

    async def wait_state(self, *states: ConnState, timeout: float | None = None) -> ConnState:
        """Wait until the session is in one of `states` (TimeoutError otherwise)."""
        self._events_init()
        assert self._state_changed is not None
        async with asyncio.timeout(timeout):
            while self.state not in states:
                self._state_changed.clear()
                await self._state_changed.wait()
        return self.state

    async def wait_synced(self, timeout: float | None = None) -> None:
        state = await self.wait_state(ConnState.SYNCED, ConnState.LOGGED_OUT, timeout=timeout)
        if state is ConnState.LOGGED_OUT:
            raise NotLoggedIn("the server refused this device's token; log in again")

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

    # -- REST -------------------------------------------------------------------------------------------------

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.server, timeout=self._http_timeout, headers={"User-Agent": f"hudhud-client/{__version__}"}
            )
        return self._http

    async def _call(
        self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None, auth: bool = True
    ) -> Any:
        headers = {}
        if auth:
            token = self.store.token
            if not token:
                raise NotLoggedIn("not logged in; run `hudhud login` first")
            headers["Authorization"] = f"Bearer {token}"
        try:
            resp = await self._client().request(method, path, json=body, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"cannot reach {self.server}: {str(exc) or type(exc).__name__}") from exc
        if resp.status_code == 204:
            return None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.is_success:
            return data
        err = data.get("error") if isinstance(data, dict) else None
        if not isinstance(err, dict):
            raise ApiError(resp.status_code, "http_error", f"HTTP {resp.status_code}")
        retry = err.get("retry_after")
        code = str(err.get("code", "http_error"))
        if code == "device_revoked" and auth:
            # Keep the profile honest: this token will never work again.
            self.store.forget_token()
        raise ApiError(
            resp.status_code,
            code,
            str(err.get("message", "")),
            float(retry) if isinstance(retry, int | float) else None,
        )

    async def request_code(self, phone: str) -> dict[str, Any]:
        """Ask the server to text a login code to `phone`. → {"phone": E.164, "expires_in": seconds}"""
        data: dict[str, Any] = await self._call("POST", "/v1/auth/code", body={"phone": phone}, auth=False)
        return data

    async def verify(self, phone: str, code: str, device_name: str = "hudhud client") -> dict[str, Any]:
        """Exchange the code for a device token, and store the login in the profile."""
        data: dict[str, Any] = await self._call(
            "POST", "/v1/auth/verify", auth=False, body={"phone": phone, "code": code, "device_name": device_name}
        )
        self.store.save_login(self.server, phone, data["user_id"], data["device_id"], data["token"])
        return data

    async def me(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", "/v1/me")
        return data

    async def update_profile(self, display_name: str | None = None, about: str | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("display_name", display_name), ("about", about)) if v is not None}
        data: dict[str, Any] = await self._call("PATCH", "/v1/me", body=body)
        return data

    async def update_privacy(
        self,
        read_receipts: bool | None = None,
        last_seen: str | None = None,
        group_add: str | None = None,
        phone: str | None = None,
        group_invites: str | None = None,
    ) -> dict[str, Any]:
        """`last_seen`, `group_add` (who may add me to groups without asking; the others send an invitation)
        and `phone` (who sees my number) are everyone, contacts or nobody; `group_invites` (whose invitations
        reach me) is everyone or contacts."""
        values = {
            "read_receipts": read_receipts,
            "last_seen": last_seen,
            "group_add": group_add,
            "phone": phone,
            "group_invites": group_invites,
        }
        body = {k: v for k, v in values.items() if v is not None}
        data: dict[str, Any] = await self._call("PATCH", "/v1/me/privacy", body=body)
        return data

    async def devices(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "/v1/devices")
        devices: list[dict[str, Any]] = data["devices"]
        return devices

    async def approve_link(self, code: str) -> str:
        """Link the device showing this pairing code to my account (as WhatsApp Web's QR scan). Returns its name."""
        data: dict[str, Any] = await self._call("POST", "/v1/link/approve", body={"code": code})
        return str(data.get("device_name", ""))

    async def revoke_device(self, device_id: str) -> None:
        await self._call("DELETE", f"/v1/devices/{device_id}")
        if device_id == self.store.device_id:
            self.store.forget_token()

    async def contacts(self) -> list[dict[str, Any]]:
        """The address book on the server (also cached locally for offline name lookups)."""
        data = await self._call("GET", "/v1/contacts")
        contacts: list[dict[str, Any]] = data["contacts"]
        self.store.save_contacts((_cached(c) for c in contacts), replace=True)
        return contacts

    async def add_contacts(self, entries: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Add or rename (phone, name) pairs. Returns them with `user_id` set for those on Hudhud."""
        data = await self._call(
            "POST", "/v1/contacts", body={"contacts": [{"phone": p, "name": n} for p, n in entries]}
        )
        contacts: list[dict[str, Any]] = data["contacts"]
        self.store.save_contacts(_cached(c) for c in contacts)
        return contacts

    async def remove_contact(self, phone: str) -> None:
        await self._call("DELETE", f"/v1/contacts/{phone}")
        self.store.remove_contact(phone)

    async def user(self, user_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", f"/v1/users/{user_id}")
        # The phone number is null for someone who does not share it with me.
        self.store.save_user(data["user_id"], data.get("phone") or "", data.get("display_name") or "")
        return data

    async def conversations(self, *, subjects: bool = False) -> list[dict[str, Any]]:
        """My conversations (kind direct, group or inbox). With `subjects`, every group has its `subject` set:
        from the list if the server includes it, else from the group itself, else (a group I left) from what
        this profile saw last; None if nothing is known."""
        data = await self._call("GET", "/v1/conversations")
        convs: list[dict[str, Any]] = data["conversations"]
        for conv in convs:
            for m in conv.get("members", []):
                self.store.save_user(m["user_id"], m.get("phone", ""), m.get("display_name") or "")
            kind = str(conv.get("kind") or "direct")
            self.store.save_chat(str(conv["conversation_id"]), kind, conv.get("subject"))
        if subjects:
            groups = [c for c in convs if c.get("kind") == "group" and not c.get("subject")]
            found = await asyncio.gather(*(self.group_subject(str(c["conversation_id"])) for c in groups))
            for conv, subject in zip(groups, found, strict=True):
                conv["subject"] = subject
        return convs

    async def group_subject(self, conversation_id: str) -> str | None:
        """A group's subject: asked from the server, else the last one this profile saw (after leaving)."""
        try:
            return str((await self.group(conversation_id))["subject"])
        except ApiError as exc:
            if exc.code not in ("not_member", "not_found"):
                raise
        cached = self.store.cached_chat(conversation_id)
        if cached is not None and cached[1]:
            return cached[1]
        # Not a member any more and never seen here: the last subject in the history I can still read.
        with contextlib.suppress(ApiError):
            messages, _ = await self.history(conversation_id, limit=500)
            for m in reversed(messages):
                c = m.content if m.system and isinstance(m.content, dict) else {}
                if isinstance(c.get("subject"), str) and c.get("event") in ("created", "info_changed"):
                    self.store.save_chat(conversation_id, "group", c["subject"])
                    return str(c["subject"])
        return None

    async def history(
        self, conversation_id: str, *, before: int | None = None, limit: int = 50
    ) -> tuple[list[Envelope], list[dict[str, Any]]]:
        """Messages oldest first, and the members' receipt watermarks (read_seq None = hidden)."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        data = await self._call("GET", f"/v1/conversations/{conversation_id}/messages", params=params)
        return [Envelope.from_json(m) for m in data["messages"]], list(data["receipts"])

    # -- groups -----------------------------------------------------------------------------------------------

    async def create_group(
        self, subject: str, *, description: str = "", members: list[str] | None = None
    ) -> dict[str, Any]:
        """Create a group with me as its owner. → {conversation_id, added, invited}: people whose "who can add
        me" setting allows it are added; the others are sent an invitation they may accept."""
        data: dict[str, Any] = await self._call(
            "POST", "/v1/groups", body={"subject": subject, "description": description, "members": members or []}
        )
        self.store.save_chat(str(data["conversation_id"]), "group", subject)
        return data

    async def group(self, conversation_id: str) -> dict[str, Any]:
        """→ {conversation_id, subject, description, created_by, settings: {only_admins_send, only_admins_edit,
        approve_joins}, members: [{user_id, role (owner|admin|member), display_name}]}"""
        data: dict[str, Any] = await self._call("GET", f"/v1/groups/{_seg(conversation_id)}")
        self.store.save_chat(conversation_id, "group", str(data.get("subject") or "") or None)
        return data

    async def update_group(
        self, conversation_id: str, *, subject: str | None = None, description: str | None = None
    ) -> None:
        body = {k: v for k, v in (("subject", subject), ("description", description)) if v is not None}
        await self._call("PATCH", f"/v1/groups/{_seg(conversation_id)}", body=body)
        if subject is not None:
            self.store.save_chat(conversation_id, "group", subject)

    async def update_group_settings(
        self,
        conversation_id: str,
        *,
        only_admins_send: bool | None = None,
        only_admins_edit: bool | None = None,
        approve_joins: bool | None = None,
    ) -> None:
        """Announcement mode (only admins send), who edits the group's info, and whether admins approve those
        who join with a link."""
        body = {
            k: v
            for k, v in (
                ("only_admins_send", only_admins_send),
                ("only_admins_edit", only_admins_edit),
                ("approve_joins", approve_joins),
            )
            if v is not None
        }
        await self._call("PATCH", f"/v1/groups/{_seg(conversation_id)}/settings", body=body)

    async def add_members(self, conversation_id: str, user_ids: list[str]) -> dict[str, Any]:
        """→ {conversation_id, added, invited} (admins only)."""
        data: dict[str, Any] = await self._call(
            "POST", f"/v1/groups/{_seg(conversation_id)}/members", body={"user_ids": user_ids}
        )
        return data

    async def remove_member(self, conversation_id: str, user_id: str) -> None:
        await self._call("DELETE", f"/v1/groups/{_seg(conversation_id)}/members/{_seg(user_id)}")

    async def promote(self, conversation_id: str, user_id: str) -> None:
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/members/{_seg(user_id)}/promote")

    async def demote(self, conversation_id: str, user_id: str) -> None:
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/members/{_seg(user_id)}/demote")

    async def leave_group(self, conversation_id: str, *, report: bool = False, reason: str = "") -> None:
        """Leave; with `report`, also report the group (the server shares its last five messages)."""
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/leave", body={"report": report, "reason": reason})

    async def create_link(
        self, conversation_id: str, *, expires_in: float | None = None, max_uses: int | None = None
    ) -> dict[str, Any]:
        """An invite link. → {code, conversation_id, expires_at, max_uses, uses}"""
        data: dict[str, Any] = await self._call(
            "POST",
            f"/v1/groups/{_seg(conversation_id)}/links",
            body={"expires_in": expires_in, "max_uses": max_uses},
        )
        return data

    async def links(self, conversation_id: str) -> list[dict[str, Any]]:
        data = await self._call("GET", f"/v1/groups/{_seg(conversation_id)}/links")
        links: list[dict[str, Any]] = data["links"]
        return links

    async def revoke_link(self, conversation_id: str, code: str) -> None:
        await self._call("DELETE", f"/v1/groups/{_seg(conversation_id)}/links/{_seg(code)}")

    async def join_group(self, code: str) -> dict[str, Any]:
        """Join with an invite link's code. → {conversation_id, status}: "joined", or "requested" in a group
        whose admins approve new members."""
        data: dict[str, Any] = await self._call("POST", "/v1/groups/join", body={"code": code})
        return data

    async def join_requests(self, conversation_id: str) -> list[dict[str, Any]]:
        """Pending requests to join: [{user_id, created_at}] (admins only)."""
        data = await self._call("GET", f"/v1/groups/{_seg(conversation_id)}/requests")
        requests: list[dict[str, Any]] = data["requests"]
        return requests

    async def approve_request(self, conversation_id: str, user_id: str) -> None:
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/requests/{_seg(user_id)}/approve")

    async def reject_request(self, conversation_id: str, user_id: str) -> None:
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/requests/{_seg(user_id)}/reject")

    async def invitations(self) -> list[dict[str, Any]]:
        """Pending invitations to groups: [{invitation_id, conversation_id, subject, inviter_id, created_at,
        expires_at}]."""
        data = await self._call("GET", "/v1/invitations")
        invitations: list[dict[str, Any]] = data["invitations"]
        return invitations

    async def accept_invitation(self, invitation_id: str) -> str:
        """Join the group; returns its conversation id."""
        data = await self._call("POST", f"/v1/invitations/{_seg(invitation_id)}/accept")
        return str(data["conversation_id"])

    async def decline_invitation(self, invitation_id: str) -> None:
        await self._call("POST", f"/v1/invitations/{_seg(invitation_id)}/decline")

    # -- safety -----------------------------------------------------------------------------------------------

    async def blocked(self) -> list[str]:
        """The user ids I have blocked."""
        data = await self._call("GET", "/v1/blocks")
        return [str(u) for u in data["blocked"]]

    async def block(self, user_id: str, *, report: bool = False) -> None:
        """Block silently (they are not told); with `report`, also report them."""
        await self._call("POST", "/v1/blocks", body={"user_id": user_id, "report": report})

    async def unblock(self, user_id: str) -> None:
        await self._call("DELETE", f"/v1/blocks/{_seg(user_id)}")

    async def report(
        self,
        *,
        user_id: str | None = None,
        conversation_id: str | None = None,
        reason: str = "",
        messages: list[int] | None = None,
        block: bool = False,
    ) -> str:
        """Report a user and/or a conversation, sharing the messages (seqs in `conversation_id`) I choose.
        Returns the report id."""
        body: dict[str, Any] = {"reason": reason, "messages": messages or [], "block": block}
        if user_id is not None:
            body["user_id"] = user_id
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        data = await self._call("POST", "/v1/reports", body=body)
        return str(data["report_id"])

    # -- broadcast lists --------------------------------------------------------------------------------------

    async def create_broadcast_list(self, name: str, members: list[str]) -> dict[str, Any]:
        """→ {list_id, name, members}"""
        data: dict[str, Any] = await self._call("POST", "/v1/broadcast-lists", body={"name": name, "members": members})
        return data

    async def broadcast_lists(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "/v1/broadcast-lists")
        lists: list[dict[str, Any]] = data["lists"]
        return lists

    async def set_broadcast_members(self, list_id: str, members: list[str]) -> None:
        await self._call("PUT", f"/v1/broadcast-lists/{_seg(list_id)}/members", body={"members": members})

    async def delete_broadcast_list(self, list_id: str) -> None:
        await self._call("DELETE", f"/v1/broadcast-lists/{_seg(list_id)}")

    # -- sending ----------------------------------------------------------------------------------------------

    async def send(
        self,
        content: Any,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        msg_id: str | None = None,
        media: tuple[str, ...] | list[str] = (),
    ) -> str:
        """Queue a message (durably) and return its client message id; the session delivers it. `media` lists
        the uploaded media the message refers to (see `upload_file`), which lets its recipients download them."""
        if (to is None) == (conversation_id is None):
            raise ValueError("give exactly one of to and conversation_id")
        size = len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_CONTENT_BYTES:
            raise ValueError(f"content is {size} bytes; the limit is {MAX_CONTENT_BYTES}")
        msg_id = msg_id or uuid.uuid4().hex
        self.store.outbox_put(msg_id, content, to_user=to, conversation_id=conversation_id, media=tuple(media))
        if self._outbox_wake is not None:
            self._outbox_wake.set()
        return msg_id

    async def send_text(
        self, text: str, *, to: str | None = None, conversation_id: str | None = None, reply_to: int | None = None
    ) -> str:
        content: dict[str, Any] = {"type": "text", "text": text}
        if reply_to is not None:
            content["reply_to"] = reply_to
        return await self.send(content, to=to, conversation_id=conversation_id)

    def outbox(self) -> list[OutboxEntry]:
        return self.store.outbox()

    async def wait_sent(self, msg_id: str, timeout: float | None = None) -> Sent | None:
        """Wait for the server's acknowledgement of a queued message. None on timeout (it stays queued);
        SendRejected if the server refused it; NotLoggedIn if the session lost its login."""
        self._events_init()
        if self.store.outbox_get(msg_id) is None:
            info = self.store.sent_info(msg_id)
            if info is None:
                raise KeyError(f"no queued or sent message with id {msg_id!r}")
            return Sent(msg_id, info[0], info[1], info[2], True)
        fut = self._sent_waiters.get(msg_id)
        if fut is None or fut.done():
            fut = asyncio.get_running_loop().create_future()
            self._sent_waiters[msg_id] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return None

    async def forward(
        self,
        conversation_id: str,
        seq: int,
        targets: list[str | dict[str, str]],
        *,
        msg_id: str | None = None,
        preview: Any = None,
    ) -> str:
        """Queue a forward of message `seq` of `conversation_id` to 1 to 5 chats, each a user id (u…: our direct
        chat), a conversation id (c…), or {"to": user id} / {"conversation_id": id}. The server copies the
        content and counts the hop. Returns the request id (see `wait_forwarded`).

        `preview` is the message's content if the caller has it: the copies are cached with it (for ticks and
        local display); by default the local cache is asked, and without it the copies have no content here."""
        if not 1 <= len(targets) <= MAX_FORWARD_TARGETS:
            raise ValueError(f"forward to 1 to {MAX_FORWARD_TARGETS} chats")
        parsed: list[dict[str, str]] = []
        for t in targets:
            if isinstance(t, dict):
                keys = [k for k in ("to", "conversation_id") if t.get(k)]
                if len(keys) != 1:
                    raise ValueError("each target has exactly one of 'to' and 'conversation_id'")
                parsed.append({keys[0]: str(t[keys[0]])})
            elif t.startswith("c"):
                parsed.append({"conversation_id": t})
            else:
                parsed.append({"to": t})
        msg_id = msg_id or uuid.uuid4().hex
        if len(msg_id) > 60:
            raise ValueError("a forward's id is at most 60 characters")
        content: dict[str, Any] = {"source": {"conversation_id": conversation_id, "seq": int(seq)}, "targets": parsed}
        if preview is None:
            cached = self.store.cached_message(conversation_id, int(seq))
            preview = cached.content if cached is not None else None
        if preview is not None:
            content["preview"] = preview  # kept locally, never sent
        self.store.outbox_put(msg_id, content, kind="forward")
        if self._outbox_wake is not None:
            self._outbox_wake.set()
        return msg_id

    async def broadcast(self, list_id: str, content: Any, *, msg_id: str | None = None) -> str:
        """Queue `content` for every recipient of broadcast list `list_id`, each as a one-to-one message (only
        recipients who have me in their contacts get it). Returns the request id (see `wait_broadcast`)."""
        size = len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_CONTENT_BYTES:
            raise ValueError(f"content is {size} bytes; the limit is {MAX_CONTENT_BYTES}")
        msg_id = msg_id or uuid.uuid4().hex[:24]
        if len(msg_id) > MAX_BROADCAST_ID:
            raise ValueError(f"a broadcast's id is at most {MAX_BROADCAST_ID} characters")
        self.store.outbox_put(msg_id, {"list_id": list_id, "content": content}, kind="broadcast")
        if self._outbox_wake is not None:
            self._outbox_wake.set()
        return msg_id

    async def broadcast_text(self, list_id: str, text: str) -> str:
        return await self.broadcast(list_id, {"type": "text", "text": text})

    # -- media, locations, contacts (hudhud.client.media) -----------------------------------------------------

    async def upload_file(
        self,
        path: str | Path,
        kind: str,
        *,
        content_type: str | None = None,
        file_name: str | None = None,
        progress: media.Progress | None = None,
    ) -> dict[str, Any]:
        """Upload a file as a media of `kind` (resumable) and return the finalized media."""
        return await media.upload(
            self, Path(path), kind, content_type=content_type, file_name=file_name, progress=progress
        )

    async def download_media(
        self,
        media_id: str,
        dest: str | Path,
        *,
        sha256: str | None = None,
        progress: media.Progress | None = None,
    ) -> Path:
        """Download a media to `dest` (resumable with Range, checksum verified)."""
        return await media.download(self, media_id, Path(dest), sha256=sha256, progress=progress)

    async def media_info(self, media_id: str) -> dict[str, Any]:
        return await media.info(self, media_id)

    async def media_url(self, media_id: str, *, thumbnail: bool = False, expires_in: float = 3600.0) -> str:
        """A signed URL for the media (or its thumbnail) that works without a token until it expires."""
        body = {"thumbnail": thumbnail, "expires_in": expires_in}
        data = await self._call("POST", f"/v1/media/{_seg(media_id)}/url", body=body)
        return f"{self.server}{data['url']}"

    async def send_file(
        self,
        path: str | Path,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        kind: str | None = None,
        voice: bool = False,
        caption: str | None = None,
        progress: media.Progress | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Upload a file and queue a message with it: a photo, video, voice note, audio file or document
        (`kind`, else guessed from the bytes; `voice` makes audio a voice note). Returns (message id, payload)."""
        file = Path(path)
        head = await asyncio.to_thread(media.file_head, file)
        ctype = media.guess_type(file, head)
        kind = kind or media.guess_kind(ctype, voice=voice)
        done = await self.upload_file(file, kind, content_type=ctype, progress=progress)
        extra = await asyncio.to_thread(media.describe_file, file, kind, done["content_type"])
        content = media.media_content(kind, done, caption=caption, **extra)
        msg_id = await self.send(content, to=to, conversation_id=conversation_id, media=[done["media_id"]])
        return msg_id, content

    async def send_location(
        self,
        latitude: float,
        longitude: float,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        name: str | None = None,
        address: str | None = None,
    ) -> str:
        content = media.location_content(latitude, longitude, name=name, address=address)
        return await self.send(content, to=to, conversation_id=conversation_id)

    async def share_live_location(
        self,
        latitude: float,
        longitude: float,
        minutes: float,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
    ) -> str:
        """Start sharing a live location for `minutes`. Updates and the stop refer to this message's seq
        (`update_live_location`, `stop_live_location`), as edits refer to their target."""
        until = round(time.time() + minutes * 60, 3)
        content = media.live_location_content(latitude, longitude, until)
        return await self.send(content, to=to, conversation_id=conversation_id)

    async def update_live_location(
        self,
        target: int,
        latitude: float,
        longitude: float,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
    ) -> str:
        content = media.live_update_content(target, latitude, longitude)
        return await self.send(content, to=to, conversation_id=conversation_id)

    async def stop_live_location(
        self, target: int, *, to: str | None = None, conversation_id: str | None = None
    ) -> str:
        return await self.send(media.live_stop_content(target), to=to, conversation_id=conversation_id)

    async def send_contact(
        self,
        name: str,
        phones: list[str],
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        card: str | None = None,
    ) -> str:
        """Send a contact card (a vCard, made from the name and numbers unless `card` is given)."""
        content = media.contact_content(name, phones, card=card)
        return await self.send(content, to=to, conversation_id=conversation_id)

    async def wait_forwarded(self, msg_id: str, timeout: float | None = None) -> Forwarded | None:
        """Wait until every target of a queued forward answered. None on timeout (it stays queued);
        SendRejected if no target took it; NotLoggedIn if the session lost its login."""
        result = await self._wait_job(msg_id, "forward", timeout)
        assert result is None or isinstance(result, Forwarded)
        return result

    async def wait_broadcast(self, msg_id: str, timeout: float | None = None) -> BroadcastSent | None:
        """Wait for a queued broadcast's outcome. None on timeout (it stays queued); SendRejected if the server
        refused it; NotLoggedIn if the session lost its login."""
        result = await self._wait_job(msg_id, "broadcast", timeout)
        assert result is None or isinstance(result, BroadcastSent)
        return result

    async def _wait_job(self, msg_id: str, kind: str, timeout: float | None) -> Forwarded | BroadcastSent | None:
        self._events_init()
        entry = self.store.outbox_get(msg_id)
        if entry is None:
            done = self.store.job_result(msg_id)
            if done is None or done[0] != kind:
                raise KeyError(f"no queued or finished {kind} with id {msg_id!r}")
            return _job_event(msg_id, done[0], done[1])
        fut = self._job_waiters.get(msg_id)
        if fut is None or fut.done():
            fut = asyncio.get_running_loop().create_future()
            self._job_waiters[msg_id] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return None

    # -- realtime control -------------------------------------------------------------------------------------

    def read(self, conversation_id: str, seq: int) -> None:
        """Mark everything through `seq` as read (blue ticks for the sender). Sent now or at the next
        connection; only the highest seq per conversation matters."""
        self._events_init()
        if seq > self._read_pending.get(conversation_id, 0):
            self._read_pending[conversation_id] = seq
            assert self._ack_wake is not None
            self._ack_wake.set()

    async def typing(self, conversation_id: str, state: str = "composing") -> bool:
        """Tell the others I am typing. Ephemeral: dropped (returns False) when not connected."""
        return await self._try_send({"type": "typing", "conversation_id": conversation_id, "state": state})

    async def presence_subscribe(self, user_ids: list[str]) -> None:
        """Watch these users' presence (replaces the previous set; renewed after every reconnect)."""
        self._watching = list(dict.fromkeys(user_ids))
        await self._try_send({"type": "presence_subscribe", "user_ids": self._watching})

    async def _ping(self) -> None:
        """Round trip to the server (ConnectionClosed if there is no connection)."""
        ref = f"ping-{uuid.uuid4().hex[:8]}"
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs[ref] = fut
        try:
            await self._send_frame({"type": "ping", "ref": ref})
            await fut
        finally:
            self._pongs.pop(ref, None)

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

    # -- the session ------------------------------------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 0
        assert self._stop_event is not None
        while not self._stopping:
            if not self.store.token:
                self._logged_out("not logged in")
                return
            self._set_state(ConnState.CONNECTING)
            outcome = await self._connect_once()
            if self._stopping:
                return
            if outcome.fatal:
                self._logged_out(outcome.reason)
                return
            if outcome.synced and time.monotonic() - outcome.started >= self.stable_after:
                attempt = 0
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rng)
            attempt += 1
            if outcome.retry_after is not None:
                delay = max(delay, outcome.retry_after)
            self._set_state(ConnState.DISCONNECTED, outcome.reason, delay)
            log.info("disconnected (%s); reconnecting in %.2f s", outcome.reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_event.wait(), delay)

    def _logged_out(self, reason: str) -> None:
        if reason in ("device_revoked",):
            self.store.forget_token()
        text = (
            "this account is suspended" if reason == "account_suspended" else "this device is logged out; log in again"
        )
        waiters: list[asyncio.Future[Any]] = [*self._sent_waiters.values(), *self._job_waiters.values()]
        for fut in waiters:
            if not fut.done():
                fut.set_exception(NotLoggedIn(text))
        self._sent_waiters.clear()
        self._job_waiters.clear()
        self._set_state(ConnState.LOGGED_OUT, reason)

    async def _connect_once(self) -> _Outcome:
        out = _Outcome()
        self._outcome = out
        token = self.store.token
        try:
            async with connect(
                self.ws_url,
                open_timeout=self._connect_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_interval,
                close_timeout=2,
                max_size=2**22,
                user_agent_header=f"hudhud-client/{__version__}",
            ) as ws:
                self._ws = ws
                await self._send_frame({"type": "hello", "v": PROTOCOL_VERSION, "token": token})
                first = await asyncio.wait_for(ws.recv(), self._connect_timeout)
                await self._on_raw(first)
                async for raw in ws:
                    await self._on_raw(raw)
            out.reason = out.reason or f"closed by server ({ws.close_code})"
            if ws.close_code == CLOSE_UNAUTHORIZED:
                out.fatal = True
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            out.reason = out.reason or f"connection lost ({code if code is not None else 'no close frame'})"
            if code == CLOSE_UNAUTHORIZED:
                out.fatal = True
        except InvalidStatus as exc:
            out.reason = f"handshake refused: HTTP {exc.response.status_code}"
            retry = exc.response.headers.get("Retry-After")
            if retry and retry.isdigit():
                out.retry_after = float(retry)
        except (OSError, TimeoutError) as exc:
            out.reason = f"cannot connect: {str(exc) or type(exc).__name__}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug or an odd server: log it, back off, try again
            log.exception("session failed")
            out.reason = f"error: {exc!r}"
        finally:
            self._ws = None
            for task in self._conn_tasks:
                task.cancel()
            for task in self._conn_tasks:
                with contextlib.suppress(BaseException):
                    await task
            self._conn_tasks = []
            self._inflight.clear()
            self._drop_jobs()
        if out.fatal and out.reason.startswith(("closed", "connection lost")):
            out.reason = "unauthorized"
        return out

    async def _on_raw(self, raw: str | bytes) -> None:
        try:
            frame = json.loads(raw)
        except ValueError:
            log.warning("ignoring a frame that is not JSON")
            return
        if not isinstance(frame, dict):
            return
        try:
            await self._on_frame(frame)
        except (ConnectionClosed, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("failed to handle %s frame", frame.get("type"))

    async def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "deliver":
            self._on_deliver(frame)
        elif kind == "sent":
            self._on_sent(frame)
        elif kind == "broadcast_sent":
            self._on_broadcast_sent(frame)
        elif kind == "receipt":
            self._on_receipt(frame)
        elif kind == "typing":
            self._emit(TypingUpdate(frame["conversation_id"], frame["user_id"], frame.get("state", "composing")))
        elif kind == "presence":
            self._emit(PresenceUpdate(frame["user_id"], frame.get("status", "hidden"), frame.get("last_seen")))
        elif kind == "synced":
            self._on_synced()
        elif kind == "welcome":
            await self._on_welcome(frame)
        elif kind == "error":
            self._on_error(frame)
        elif kind == "pong":
            fut = self._pongs.pop(str(frame.get("ref")), None)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif kind == "ok":
            pass
        else:
            log.debug("ignoring unknown frame type %r", kind)

    async def _on_welcome(self, frame: dict[str, Any]) -> None:
        user_id, device_id = str(frame.get("user_id", "")), str(frame.get("device_id", ""))
        if user_id and device_id and (user_id, device_id) != (self.store.user_id, self.store.device_id):
            self.store.set(user_id=user_id, device_id=device_id)
        self.stats.connections += 1
        self._acked = {}
        self._backlog_max = {}
        self._synced = False
        self._inflight.clear()
        self._drop_jobs()
        self._set_state(ConnState.CONNECTED)
        self._conn_tasks = [
            asyncio.create_task(self._outbox_pump(), name="hudhud-outbox"),
            asyncio.create_task(self._ack_pump(), name="hudhud-acks"),
        ]
        if self._watching:
            await self._send_frame({"type": "presence_subscribe", "user_ids": self._watching})
        if self._read_pending:
            assert self._ack_wake is not None
            self._ack_wake.set()

    def _on_deliver(self, frame: dict[str, Any]) -> None:
        if not self.receive:
            return
        env = Envelope.from_json(frame)
        new, cur = self.store.record_delivery(env, self.store.user_id)
        self.stats.deliveries += 1
        self.stats.duplicates += not new
        if not self._synced:
            self._backlog_max[env.conversation_id] = max(env.seq, self._backlog_max.get(env.conversation_id, 0))
        if new:
            if env.system and isinstance(env.content, dict):
                self._note_system(env)
            self._emit(Delivered(env))
            if env.sender_user_id == self.store.user_id and not env.system:
                self._emit_ticks(self.store.refresh_ticks(env.conversation_id, env.sender_user_id))
        # Stored (or already had): everything this device will get below it has arrived (section 6.3).
        self._schedule_ack(env.conversation_id, max(cur, env.seq))

    def _note_system(self, env: Envelope) -> None:
        """Keep the cached kind and subject of a chat in step with the system messages that change them."""
        c = env.content
        event = c.get("event")
        if event == "invitation":
            self.store.save_chat(env.conversation_id, "inbox")
        elif event in ("created", "info_changed"):
            subject = c.get("subject")
            self.store.save_chat(env.conversation_id, "group", subject if isinstance(subject, str) else None)
        else:
            self.store.save_chat(env.conversation_id, "group")

    def _job_for(self, frame: dict[str, Any]) -> _Job | None:
        """The forward or broadcast a reply belongs to: by its ref, else by the id it was derived from."""
        ref = frame.get("ref")
        if isinstance(ref, str) and ref in self._jobs:
            return self._jobs[ref]
        base = str(frame.get("id", "")).rpartition("#")[0]
        return self._jobs.get(base) if base else None

    def _on_sent(self, frame: dict[str, Any]) -> None:
        msg_id = str(frame["id"])
        job = self._job_for(frame)
        if job is not None and job.entry.kind == "forward" and msg_id != job.entry.id:
            self._on_forward_sent(job, frame)
            return
        conv, seq, ts = str(frame["conversation_id"]), int(frame["seq"]), float(frame.get("ts", 0.0))
        me, device = self.store.user_id or "", self.store.device_id or ""
        _, cur = self.store.record_sent(msg_id, conv, seq, ts, me, device)
        self._inflight.pop(msg_id, None)
        event = Sent(msg_id, conv, seq, ts, bool(frame.get("duplicate", False)))
        fut = self._sent_waiters.pop(msg_id, None)
        if fut is not None and not fut.done():
            fut.set_result(event)
        self._emit(event)
        self._emit_ticks(self.store.refresh_ticks(conv, me))
        if self.receive:
            self._schedule_ack(conv, cur)
        assert self._outbox_wake is not None
        self._outbox_wake.set()

    def _record_copy(self, msg_id: str, conv: str, seq: int, ts: float, content: Any) -> Sent:
        """One of our messages made by the server (a forward's or broadcast's copy): cache it as our own."""
        me, device = self.store.user_id or "", self.store.device_id or ""
        _, cur = self.store.record_sent(msg_id, conv, seq, ts, me, device, content=content)
        self._emit_ticks(self.store.refresh_ticks(conv, me))
        if self.receive:
            self._schedule_ack(conv, cur)
        return Sent(msg_id, conv, seq, ts, False)

    def _on_forward_sent(self, job: _Job, frame: dict[str, Any]) -> None:
        msg_id = str(frame["id"])
        try:
            index = int(msg_id.rpartition("#")[2])
        except ValueError:
            return
        sent = self._record_copy(
            msg_id,
            str(frame["conversation_id"]),
            int(frame["seq"]),
            float(frame.get("ts", 0.0)),
            job.entry.content.get("preview"),
        )
        sent = Sent(sent.id, sent.conversation_id, sent.seq, sent.ts, bool(frame.get("duplicate", False)))
        job.results[index] = sent
        self._emit(sent)
        if len(job.results) + len(job.errors) >= job.size:
            self._finish_job(job)

    def _on_broadcast_sent(self, frame: dict[str, Any]) -> None:
        job = self._job_for(frame)
        msg_id = str(frame.get("id", ""))
        content = job.entry.content.get("content") if job is not None else None
        messages: list[tuple[str, int]] = []
        now = time.time()
        for m in frame.get("messages") or []:
            conv, seq = str(m["conversation_id"]), int(m["seq"])
            messages.append((conv, seq))
            # The copy's id on the server is "<id>#<recipient>"; the conversation stands in for the recipient.
            self._record_copy(f"{msg_id}#{conv}", conv, seq, now, content)
        if job is None:
            return
        total = int(frame.get("total") or 0)
        reached = int(frame.get("reached") or len(messages))
        self._finish_job(
            job, BroadcastSent(job.entry.id, str(frame.get("list_id", "")), total, reached, tuple(messages))
        )

    def _finish_job(self, job: _Job, outcome: BroadcastSent | None = None) -> None:
        """A forward or broadcast is done: leave the outbox, keep the outcome, tell the waiters."""
        entry = job.entry
        if self._jobs.get(entry.id) is not job:
            return  # finished already (a late timer), or superseded by a resend
        if job.timer is not None:
            job.timer.cancel()
        del self._jobs[entry.id]
        self._inflight.pop(entry.id, None)
        event: Forwarded | BroadcastSent | None = None
        data: dict[str, Any] = {"errors": [list(e) for e in job.errors]}
        if outcome is not None:
            event = outcome
            data.update(
                list_id=outcome.list_id,
                total=outcome.total,
                reached=outcome.reached,
                messages=[list(m) for m in outcome.messages],
            )
        elif entry.kind == "forward":
            messages = tuple(job.results.get(i) for i in range(job.size))
            data["messages"] = [None if m is None else [m.conversation_id, m.seq, m.ts] for m in messages]
            if any(messages):
                event = Forwarded(entry.id, messages, tuple(job.errors))
        self.store.finish_job(entry.id, entry.kind, data)
        fut = self._job_waiters.pop(entry.id, None)
        code, message = job.errors[0] if job.errors else ("refused", "the server refused it")
        if event is None:  # refused as a whole
            if fut is not None and not fut.done():
                fut.set_exception(SendRejected(entry.id, code, message))
            self._emit(SendFailed(entry.id, code, message))
        else:
            if fut is not None and not fut.done():
                fut.set_result(event)
            self._emit(event)
        assert self._outbox_wake is not None
        self._outbox_wake.set()

    def _job_error(self, job: _Job, code: str, message: str, retry_after: float | None) -> None:
        entry = job.entry
        if code not in PERMANENT_SEND_ERRORS:
            # Transient: send the whole request again a bit later; the copies already made are deduped.
            if job.timer is not None:
                job.timer.cancel()
            self._jobs.pop(entry.id, None)
            self._inflight.pop(entry.id, None)
            pause = retry_after if retry_after is not None else 1.0
            self._pause_until = max(self._pause_until, time.monotonic() + pause)
            assert self._outbox_wake is not None
            self._outbox_wake.set()
            return
        job.errors.append((code, message))
        if entry.kind == "broadcast" or code in WHOLE_FORWARD_ERRORS or len(job.results) + len(job.errors) >= job.size:
            self._finish_job(job)
        elif job.timer is None:
            job.timer = asyncio.get_running_loop().call_later(FORWARD_GRACE, self._finish_job, job)

    def _drop_jobs(self) -> None:
        """The connection is gone: whatever was in flight is sent again on the next one."""
        for job in self._jobs.values():
            if job.timer is not None:
                job.timer.cancel()
        self._jobs.clear()

    def _on_receipt(self, frame: dict[str, Any]) -> None:
        read_seq = frame.get("read_seq")
        update = ReceiptUpdate(
            str(frame["conversation_id"]),
            str(frame["user_id"]),
            int(frame.get("delivered_seq", 0)),
            None if read_seq is None else int(read_seq),
        )
        changes = self.store.record_receipt(
            update.conversation_id, update.user_id, update.delivered_seq, update.read_seq, self.store.user_id
        )
        self._emit(update)
        self._emit_ticks(changes)

    def _emit_ticks(self, changes: list[tuple[Envelope, str]]) -> None:
        for env, status in changes:
            self._emit(TicksChanged(env, status))

    def _on_synced(self) -> None:
        self._synced = True
        for conv, seq in self._backlog_max.items():
            self._schedule_ack(conv, self.store.jump_cursor(conv, seq))
        self._backlog_max = {}
        if self._outcome is not None:
            self._outcome.synced = True
        self.store.trim()
        self._set_state(ConnState.SYNCED)
        self._emit(SyncedEvent())
        # Acks of the backlog go out now rather than after the batching delay.
        assert self._ack_wake is not None and self._ack_urgent is not None
        self._ack_wake.set()
        self._ack_urgent.set()

    def _on_error(self, frame: dict[str, Any]) -> None:
        code, message, ref = str(frame.get("code", "")), str(frame.get("message", "")), frame.get("ref")
        retry = frame.get("retry_after")
        retry_after = float(retry) if isinstance(retry, int | float) else None
        out = self._outcome
        if out is not None:
            if code in FATAL_CODES:
                out.fatal = True
                out.reason = code
            if retry_after is not None and ref is None:
                # About the connection (not one message): the next reconnect waits at least this long.
                out.retry_after = retry_after
        job = self._jobs.get(ref) if isinstance(ref, str) else None
        if job is not None:
            self._job_error(job, code, message, retry_after)
        elif isinstance(ref, str) and ref in self._inflight:
            self._inflight.pop(ref)
            if code in PERMANENT_SEND_ERRORS:
                self.store.outbox_drop(ref)
                fut = self._sent_waiters.pop(ref, None)
                if fut is not None and not fut.done():
                    fut.set_exception(SendRejected(ref, code, message))
                self._emit(SendFailed(ref, code, message))
            else:
                # Transient (rate_limited, internal_error, unavailable): keep it and try again a bit later.
                pause = retry_after if retry_after is not None else 1.0
                self._pause_until = max(self._pause_until, time.monotonic() + pause)
            assert self._outbox_wake is not None
            self._outbox_wake.set()
        log.debug("server error %s: %s (ref %r)", code, message, ref)
        self._emit(ServerErrorEvent(code, message, ref, retry_after))

    def _schedule_ack(self, conversation_id: str, seq: int) -> None:
        if seq <= 0 or seq <= self._acked.get(conversation_id, 0):
            return
        if seq > self._ack_pending.get(conversation_id, 0):
            self._ack_pending[conversation_id] = seq
            assert self._ack_wake is not None
            self._ack_wake.set()

    async def _ack_pump(self) -> None:
        """Send acks (and reads) in small batches: one frame per conversation per `ack_delay`."""
        assert self._ack_wake is not None
        assert self._ack_urgent is not None
        while True:
            await self._ack_wake.wait()
            if not self._ack_urgent.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ack_urgent.wait(), self._ack_delay)
            self._ack_wake.clear()
            self._ack_urgent.clear()
            await self._flush_acks()

    async def _flush_acks(self) -> None:
        acks, self._ack_pending = self._ack_pending, {}
        try:
            for conv, seq in acks.items():
                if seq > self._acked.get(conv, 0):
                    await self._send_frame({"type": "ack", "conversation_id": conv, "seq": seq})
                    self._acked[conv] = seq
            reads = dict(self._read_pending)
            for conv, seq in reads.items():
                await self._send_frame({"type": "read", "conversation_id": conv, "seq": seq})
                if self._read_pending.get(conv) == seq:
                    del self._read_pending[conv]
        except ConnectionClosed:
            # Unsent acks are recomputed after reconnecting (the server resends, we ack again).
            for conv, seq in acks.items():
                if seq > self._acked.get(conv, 0):
                    self._ack_pending[conv] = max(seq, self._ack_pending.get(conv, 0))

    async def _outbox_pump(self) -> None:
        """Send what is queued: per target, the oldest entry not yet acknowledged, one at a time. Rescans
        every few seconds too, to pick up entries queued by another process using the same profile."""
        assert self._outbox_wake is not None
        while True:
            self._outbox_wake.clear()
            wait = self._pause_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            busy: set[str] = set()
            for entry in self.store.outbox():
                targets = entry.targets
                blocked = any(t in busy for t in targets)
                busy.update(targets)
                if blocked or entry.id in self._inflight:
                    continue
                frame = self._frame_for(entry)
                if entry.kind != "send":
                    self._jobs[entry.id] = _Job(entry)
                self._inflight[entry.id] = entry.target
                self.stats.sends += 1
                await self._send_frame(frame)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox_wake.wait(), 5.0)

    @staticmethod
    def _frame_for(entry: OutboxEntry) -> dict[str, Any]:
        if entry.kind == "forward":
            return {
                "type": "forward",
                "id": entry.id,
                "ref": entry.id,
                "source": entry.content["source"],
                "targets": entry.content["targets"],
            }
        if entry.kind == "broadcast":
            return {
                "type": "broadcast",
                "id": entry.id,
                "ref": entry.id,
                "list_id": entry.content["list_id"],
                "content": entry.content["content"],
            }
        frame: dict[str, Any] = {"type": "send", "id": entry.id, "ref": entry.id, "content": entry.content}
        if entry.media:
            frame["media"] = list(entry.media)
        if entry.conversation_id is not None:
            frame["conversation_id"] = entry.conversation_id
        else:
            frame["to"] = entry.to_user
        return frame


def _seg(value: str) -> str:
    """A path segment, escaped (ids never need it, but a typo must not turn into another path)."""
    return quote(str(value), safe="")


def _job_event(msg_id: str, kind: str, data: dict[str, Any]) -> Forwarded | BroadcastSent:
    """A finished forward or broadcast, rebuilt from what `StateStore.finish_job` kept."""
    errors = tuple((str(c), str(t)) for c, t in data.get("errors", []))
    code, message = errors[0] if errors else ("refused", "the server refused it")
    if kind == "broadcast":
        if "total" not in data:
            raise SendRejected(msg_id, code, message)
        return BroadcastSent(
            msg_id,
            str(data.get("list_id", "")),
            int(data.get("total", 0)),
            int(data.get("reached", 0)),
            tuple((str(c), int(s)) for c, s in data.get("messages", [])),
        )
    messages = tuple(
        None if m is None else Sent(f"{msg_id}#{i}", str(m[0]), int(m[1]), float(m[2]), True)
        for i, m in enumerate(data.get("messages", []))
    )
    if not any(messages):
        raise SendRejected(msg_id, code, message)
    return Forwarded(msg_id, messages, errors)


def _cached(c: dict[str, Any]) -> CachedContact:
    return CachedContact(str(c["phone"]), str(c.get("name") or ""), c.get("user_id"), c.get("display_name"))


async def iterate_events(client: HudhudClient) -> AsyncIterator[Event]:
    """Convenience: `async for event in iterate_events(client)` (a fresh stream, closed when the loop ends)."""
    stream = client.events()
    try:
        async for event in stream:
            yield event
    finally:
        stream.close()
