"""The WebSocket endpoint: one `Connection` per socket.

Three tasks serve a connection: the receive loop (decode → check against the state table → one service
call), the device feed (deliveries, in order, with back-pressure), and the writer (drains this connection's
bounded send queue onto the socket). A slow client only ever slows its own tasks: bus handlers never wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from hudhud import PROTOCOL_VERSION
from hudhud.app import Hudhud
from hudhud.bus import Notice
from hudhud.errors import ClientError
from hudhud.protocol import server_frames as sf
from hudhud.protocol.frames import (
    Ack,
    Broadcast,
    ClientFrame,
    Forward,
    Hello,
    Ping,
    PresenceSubscribe,
    ProtocolError,
    Read,
    Send,
    Typing,
    decode,
)
from hudhud.protocol.state import (
    CLOSE_PROTOCOL,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    ConnectionState,
)
from hudhud.services.accounts import Principal
from hudhud.services.delivery import DeviceFeed
from hudhud.services.messaging import SendResult, check_client_msg_id, encode_content

log = logging.getLogger("hudhud.ws")

HELLO_TIMEOUT = 10.0
WORK_GRACE = 5.0  # seconds a closing connection waits for the sends and acks it already accepted
MAX_IN_FLIGHT = 64


class Connection:
    def __init__(self, hub: Hudhud, ws: WebSocket) -> None:
        self.hub = hub
        self.ws = ws
        self.state = ConnectionState()
        self.principal: Principal | None = None
        self.feed: DeviceFeed | None = None
        self.out: asyncio.Queue[bytes | tuple[int, str]] = asyncio.Queue(hub.settings.send_queue_frames)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.work: set[asyncio.Task[Any]] = set()
        self.gone = False
        self.in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.watching: set[str] = set()
        self.closing = False

    # -- output -----------------------------------------------------------------------------------------------

    async def send(self, frame: bytes) -> None:
        """Queue a frame, waiting while the queue is full (back-pressure for the feed and replies)."""
        if not self.gone:
            await self.out.put(frame)

    def send_now(self, frame: bytes) -> None:
        """Queue an ephemeral frame (typing, presence); dropped if the client is too far behind."""
        with contextlib.suppress(asyncio.QueueFull):
            self.out.put_nowait(frame)

    def close_soon(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.state.close()
        try:
            self.out.put_nowait((code, reason))
        except asyncio.QueueFull:
            # The client is not reading: drop it; it resumes from its last ack when it comes back.
            self.spawn(self.ws.close(CLOSE_TOO_SLOW, "too slow"))

    async def _writer(self) -> None:
        while True:
            item = await self.out.get()
            if isinstance(item, tuple):
                await self.ws.close(item[0], item[1])
                return
            await self.ws.send_text(item.decode())
            self.hub.metrics.frames_out += 1

    def spawn(self, coro: Any, *, work: bool = False) -> asyncio.Task[Any]:
        """Run a task for this connection. `work` tasks carry out what the client asked (a send, an ack): on
        close they are allowed to finish, so that what was committed also rings its doorbells."""
        task = asyncio.create_task(coro)
        group = self.work if work else self.tasks
        group.add(task)
        task.add_done_callback(group.discard)
        return task

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def serve(self) -> None:
        await self.ws.accept()
        m = self.hub.metrics
        m.connections += 1
        m.connections_total += 1
        writer = self.spawn(self._writer())
        try:
            await self._receive_loop(writer)
        finally:
            m.connections -= 1
            await self._teardown()

    async def _receive_loop(self, writer: asyncio.Task[Any]) -> None:
        loop = asyncio.get_running_loop()
        hello_deadline = loop.time() + HELLO_TIMEOUT
        while not writer.done():
            try:
                if self.principal is None:
                    # Until hello has succeeded the connection has a deadline, whatever else it sends.
                    text = await asyncio.wait_for(self._receive(), max(0.0, hello_deadline - loop.time()))
                else:
                    text = await self._receive()
            except WebSocketDisconnect:
                return
            except TimeoutError:
                await self.send(sf.error("not_authenticated", f"no hello within {HELLO_TIMEOUT:g} seconds"))
                self.close_soon(CLOSE_UNAUTHORIZED, "not_authenticated")
                text = ""
            if text is None:
                return
            if not self.closing:
                self.hub.metrics.frames_in += 1
                await self._handle(text)
            if self.closing:
                # Let the writer flush the error and the close frame, then stop.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(writer), 5)
                return

    async def _receive(self) -> str | None:
        msg = await self.ws.receive()
        if msg["type"] == "websocket.disconnect":
            return None
        if msg.get("text") is not None:
            return str(msg["text"])
        data = msg.get("bytes")
        return data.decode("utf-8", "replace") if data is not None else ""

    async def _teardown(self) -> None:
        p = self.principal
        if p is not None:
            await self.hub.bus.unsubscribe(f"user:{p.user_id}", self._on_user_notice)
            for user_id in self.watching:
                await self.hub.bus.unsubscribe(f"presence:{user_id}", self._on_presence_notice)
            await self.hub.presence.disconnected(p.user_id)
        self.gone = True  # replies have nowhere to go now; work still finishes
        for task in list(self.tasks):
            task.cancel()
        if self.work:
            _, late = await asyncio.wait(list(self.work), timeout=WORK_GRACE)
            for task in late:
                task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task
        if self.ws.application_state != WebSocketState.DISCONNECTED:
            with contextlib.suppress(Exception):
                await self.ws.close()

    # -- frames -----------------------------------------------------------------------------------------------

    async def _handle(self, text: str) -> None:
        ref: Any = None
        try:
            frame, ref = decode(text)
            self.state.check(frame, ref)
            await self._dispatch(frame, ref)
        except ProtocolError as exc:
            self.hub.metrics.client_errors += 1
            await self.send(sf.error(exc.code, exc.message, exc.ref))
            if self.principal is None and exc.code != "unsupported_version":
                # Before hello, anything that is not a good hello ends the connection.
                self.state.close()
                exc.code = "not_authenticated"
            if self.state.state.name == "CLOSED":
                self.close_soon(CLOSE_UNAUTHORIZED if exc.code == "not_authenticated" else CLOSE_PROTOCOL, exc.code)
        except ClientError as exc:
            self.hub.metrics.client_errors += 1
            await self.send(sf.error(exc.code, exc.message, ref, exc.retry_after))

    async def _dispatch(self, frame: ClientFrame, ref: Any) -> None:
        if isinstance(frame, Hello):
            await self._hello(frame, ref)
            return
        p = self.principal
        assert p is not None
        msg = self.hub.messaging
        if isinstance(frame, Send):
            client_id = check_client_msg_id(frame.id)
            content = encode_content(frame.content, self.hub.settings.max_content_bytes)
            await self.in_flight.acquire()
            try:
                # Queued for commit now, in the order the frames arrived; the reply is awaited in a task.
                pending = msg.send_in_order(
                    p.user_id,
                    p.device_id,
                    client_id,
                    content,
                    conversation_id=frame.conversation_id,
                    to_user=frame.to,
                    media=frame.media,
                )
            except BaseException:
                self.in_flight.release()
                raise
            self.spawn(self._guard(self._reply_sent(pending, ref), ref, release=True), work=True)
        elif isinstance(frame, Forward):
            check_client_msg_id(frame.id)
            pendings = await msg.forward(p.user_id, p.device_id, frame.id, frame.source, list(frame.targets))
            for pending in pendings:
                await self.in_flight.acquire()
                self.spawn(self._guard(self._reply_sent(pending, ref), ref, release=True), work=True)
        elif isinstance(frame, Broadcast):
            check_client_msg_id(frame.id)
            content = encode_content(frame.content, self.hub.settings.max_content_bytes)
            self.spawn(self._guard(self._broadcast(p, frame, content, ref), ref), work=True)
        elif isinstance(frame, Ack):
            self.spawn(self._guard(msg.ack(p.user_id, p.device_id, frame.conversation_id, frame.seq), ref), work=True)
        elif isinstance(frame, Read):
            self.spawn(self._guard(msg.read(p.user_id, frame.conversation_id, frame.seq), ref), work=True)
        elif isinstance(frame, Typing):
            self.spawn(self._guard(msg.typing(p.user_id, frame.conversation_id, frame.state), ref))
        elif isinstance(frame, PresenceSubscribe):
            await self._watch(p, frame.user_ids)
        elif isinstance(frame, Ping):
            await self.send(sf.pong(ref))

    async def _guard(self, coro: Any, ref: Any, release: bool = False) -> None:
        try:
            await coro
        except ClientError as exc:
            self.hub.metrics.client_errors += 1
            await self.send(sf.error(exc.code, exc.message, ref, exc.retry_after))
        except Exception:
            log.exception("frame handling failed")
            await self.send(sf.error("internal_error", "the server failed; retry later", ref))
        finally:
            if release:
                self.in_flight.release()

    async def _reply_sent(self, pending: Awaitable[SendResult], ref: Any) -> None:
        r = await pending
        if not r.duplicate:
            self.hub.metrics.messages_sent += 1
        await self.send(sf.sent(ref, r.client_msg_id, r.conversation_id, r.seq, r.created_at, r.duplicate))

    async def _broadcast(self, p: Principal, frame: Broadcast, content: bytes, ref: Any) -> None:
        total, results = await self.hub.messaging.broadcast(p.user_id, p.device_id, frame.id, frame.list_id, content)
        reached = [{"user_id": u, "conversation_id": r.conversation_id, "seq": r.seq} for u, r in results]
        # Copies refused by a limit (new chats with strangers, say) are the difference between total and reached.
        await self.send(sf.broadcast_sent(ref, frame.id, frame.list_id, total, reached))

    async def _hello(self, frame: Hello, ref: Any) -> None:
        if frame.v != PROTOCOL_VERSION:
            self.state.close()
            raise ProtocolError("unsupported_version", f"this server speaks protocol version {PROTOCOL_VERSION}", ref)
        try:
            p = await self.hub.accounts.authenticate(frame.token)
        except ClientError as exc:
            await self.send(sf.error(exc.code, exc.message, ref))
            self.close_soon(CLOSE_UNAUTHORIZED, exc.code)
            return
        self.principal = p
        self.state.authenticated()
        self.feed = DeviceFeed(self.hub.db, self.hub.messaging, p.user_id, p.device_id)
        # Subscribe before the feed reads the store, so nothing committed meanwhile is missed.
        await self.hub.bus.subscribe(f"user:{p.user_id}", self._on_user_notice)
        await self.send(sf.welcome(PROTOCOL_VERSION, p.user_id, p.device_id, self.hub.clock.now()))
        self.spawn(self._run_feed(self.feed))
        await self.hub.presence.connected(p.user_id)
        self.spawn(self.hub.accounts.touch(p.device_id))

    async def _run_feed(self, feed: DeviceFeed) -> None:
        try:
            await feed.run(self.send)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery feed failed; closing so the client resumes")
            self.close_soon(1011, "internal error")

    # -- bus notices ------------------------------------------------------------------------------------------

    def _on_user_notice(self, notice: Notice) -> None:
        feed, p = self.feed, self.principal
        if feed is None or p is None:
            return
        kind = notice.get("t")
        if kind == "msg":
            feed.on_message(notice["c"], notice["s"])
        elif kind == "rcpt":
            feed.on_receipt(notice["c"], notice["u"], notice.get("d"), notice.get("r"), notice.get("rr"))
        elif kind == "settings":
            feed.on_settings(bool(notice.get("rr")))
        elif kind == "typing":
            self.send_now(sf.typing(notice["c"], notice["u"], notice["st"]))
        elif kind == "revoked" and notice.get("d") == p.device_id:
            self.send_now(sf.error("device_revoked", "this device was logged out"))
            self.close_soon(CLOSE_UNAUTHORIZED, "device_revoked")
        elif kind == "suspended":
            self.send_now(sf.error("account_suspended", "this account is suspended"))
            self.close_soon(CLOSE_UNAUTHORIZED, "account_suspended")

    def _on_presence_notice(self, notice: Notice) -> None:
        p = self.principal
        if p is not None and notice.get("u") in self.watching:
            self.spawn(self._send_presence(p, notice["u"]))

    async def _send_presence(self, p: Principal, user_id: str) -> None:
        view = await self.hub.presence.view(p.user_id, user_id)
        # A watcher who may not see this user learns nothing, not even the moment something changed.
        if view.status != "hidden":
            self.send_now(sf.presence(view.user_id, view.status, view.last_seen))

    async def _watch(self, p: Principal, user_ids: tuple[str, ...]) -> None:
        wanted = set(user_ids)
        for user_id in self.watching - wanted:
            await self.hub.bus.unsubscribe(f"presence:{user_id}", self._on_presence_notice)
        for user_id in wanted - self.watching:
            await self.hub.bus.subscribe(f"presence:{user_id}", self._on_presence_notice)
        self.watching = wanted
        for user_id in user_ids:
            view = await self.hub.presence.view(p.user_id, user_id)
            await self.send(sf.presence(view.user_id, view.status, view.last_seen))
