"""The realtime session (docs/protocol.md): connect, hello/welcome, frame dispatch, sync, acks and reads
batched, keepalive, reconnect with backoff. The counterpart of the browser's `webapp/src/net/session.ts`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from hudhud import PROTOCOL_VERSION, __version__
from hudhud.client.net.backoff import backoff_delay
from hudhud.client.net.core import _END, _Outcome, log, wait_event
from hudhud.client.net.outbox import Outbox
from hudhud.client.net.protocol import (
    CLOSE_UNAUTHORIZED,
    FATAL_CODES,
    PERMANENT_SEND_ERRORS,
    ConnState,
    Delivered,
    NotLoggedIn,
    PresenceUpdate,
    ReceiptUpdate,
    SendFailed,
    SendRejected,
    ServerErrorEvent,
    SyncedEvent,
    TypingUpdate,
)
from hudhud.client.records import Envelope


class Session(Outbox):
    """The WebSocket session, self-healing once `start()`ed."""

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
            await wait_event(self._stop_event, delay)

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

    async def _ack_pump(self) -> None:
        """Send acks (and reads) in small batches: one frame per conversation per `ack_delay`."""
        assert self._ack_wake is not None
        assert self._ack_urgent is not None
        while True:
            await self._ack_wake.wait()
            if not self._ack_urgent.is_set():
                await wait_event(self._ack_urgent, self._ack_delay)
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
