"""The WebSocket endpoint at /v1/ws: a `Socket` per TCP connection and a `Connection` (the session) on it.

uvicorn parses HTTP and hands an upgrade request to the WebSocket protocol class it was configured with; ours
is `Socket` (see `socket_class`), built on the sans-I/O WebSocket implementation of the `websockets` library.
It serves the one WebSocket route itself instead of going through ASGI, because the ASGI path costs per
connection a task, a queue and a stack of framework objects, and per frame several task hops and a system
call. Measured, that was most of the server's time on the one-to-one benchmark and most of an idle
connection's memory (docs/performance.md).

Per connection:
- input is handled in the protocol callback: decode → check against the state table → one service call, in
  the order the frames arrived. Sends and acks are queued for the next group commit at once and answered from
  a callback when their commit completes; nothing waits. A frame whose handling must finish before the next
  is read (hello, forward, presence_subscribe) pauses reading until it is done;
- replies go out in the order of the frames they answer: each frame whose outcome is not known yet holds a
  `_Reply`, and the replies of later frames wait behind it;
- output is queued and written once per event-loop turn: every frame a connection gets from one commit batch
  goes out in one system call;
- the device feed is a task only while it has something to send (see `DeviceFeed`).

What one connection can hold is bounded whatever its client sends: at most `MAX_IN_FLIGHT` frames waiting for
their outcome, and while its write buffer is over twice `send_buffer_bytes` (replies to a client that does not
read) the server reads nothing more from it. Frames already received then wait, undecoded, in a backlog of at
most one read's worth.

A slow client only ever slows itself: when the socket's write buffer is full, its feed waits (nothing is
lost: the feed resumes from the store), ephemeral frames (typing, presence) are dropped, and bus handlers
never wait. Only a client whose buffer has not shrunk for `send_stall_timeout` is dropped (4408).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import random
from collections.abc import Coroutine
from functools import partial
from typing import Any, cast

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from hudhud import PROTOCOL_VERSION, logs
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
    CLOSE_INVALID_DATA,
    CLOSE_PROTOCOL,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    ConnectionState,
)
from hudhud.services.accounts import Principal
from hudhud.services.delivery import DeviceFeed
from hudhud.services.messaging import SendResult, check_client_msg_id, encode_content

log = logging.getLogger("hudhud.ws")

PATH = "/v1/ws"
HELLO_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0  # how long a closing handshake may take before the socket is dropped
WORK_GRACE = 5.0  # seconds a closing connection waits for the forwards and broadcasts it already accepted
MAX_IN_FLIGHT = 64
MAX_FORWARD_ID = 60  # room for "#<target index>" in each copy's id
MAX_BROADCAST_ID = 30  # room for "#<user id>"
CLOSE_GOING_AWAY = 1001
CLOSE_RESTART = 1012
CLOSE_TRY_AGAIN_LATER = 1013
HELLO_RETRY = 1.0  # retry_after of a hello whose token could not be checked


def socket_class(hub: Hudhud) -> type[Socket]:
    """The protocol class to give uvicorn as `ws=`, bound to `hub`."""
    return type("HudhudSocket", (Socket,), {"hub": hub})


class Socket(asyncio.Protocol):
    """One WebSocket: handshake, framing, keepalive, the closing handshake and write coalescing."""

    hub: Hudhud

    def __init__(
        self, config: Any, server_state: Any, app_state: Any = None, _loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.ws = ServerProtocol(max_size=config.ws_max_size)
        self.ping_interval: float | None = config.ws_ping_interval
        self.transport: asyncio.Transport | None = None
        self.session: Connection | None = None
        self.out: list[bytes] = []
        self.out_bytes = 0  # bytes in `out`
        self.flush_pending = False
        self.writable = True  # the write buffer is under send_buffer_bytes (the feed may go on)
        self.backed_up = False  # the write buffer passed twice that: read no more input until it drains
        self.reading = True
        self.stall: asyncio.TimerHandle | None = None  # runs while writing is paused
        self.resumed: asyncio.Event | None = None  # made when a writer first has to wait
        self.closed = False
        self.close_sent = False
        self.timer: asyncio.TimerHandle | None = None  # keepalive, or the closing handshake's deadline
        self.pong_due = False
        self.fragments: list[bytes] = []
        self.text = False  # the message being reassembled is a text message
        self.context: contextvars.Context | None = None  # the session's: its log lines carry its id (hudhud.logs)

    # -- asyncio.Protocol -------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        limit = self.hub.settings.send_buffer_bytes
        transport.set_write_buffer_limits(high=limit, low=limit // 4)
        self.server_state.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.context is None:
            self._received(data)
        else:
            self.context.run(self._received, data)

    def _received(self, data: bytes) -> None:
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame):
                self._frame(event)
        self._write_protocol_data()  # pongs, the echo of a close, or the close after a protocol error

    def eof_received(self) -> bool | None:
        self.ws.receive_eof()
        self._write_protocol_data()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server_state.connections.discard(self)
        if self.timer is not None:
            self.timer.cancel()
        if self.stall is not None:
            self.stall.cancel()
        self.out.clear()
        if self.resumed is not None:
            self.resumed.set()  # nobody waits on a socket that is gone
        if self.session is not None:
            self.session.on_closed()

    def pause_writing(self) -> None:
        self.writable = False
        if self.resumed is not None:
            self.resumed.clear()
        if self.stall is None and self.transport is not None:
            self.stall = self.loop.call_later(
                self.hub.settings.send_stall_timeout, self._stalled, self.transport.get_write_buffer_size()
            )

    def resume_writing(self) -> None:
        self.writable = True
        self.backed_up = False
        if self.stall is not None:
            self.stall.cancel()
            self.stall = None
        if self.resumed is not None:
            self.resumed.set()
        if self.session is not None:
            self.session.reconsider()

    def _stalled(self, size: int) -> None:
        """Writing has been paused for `send_stall_timeout`: drop the client unless its buffer shrank meanwhile."""
        self.stall = None
        if self.closed or self.close_sent or self.transport is None:
            return
        now = self.transport.get_write_buffer_size()
        if now < size:
            self.stall = self.loop.call_later(self.hub.settings.send_stall_timeout, self._stalled, now)
            return
        # The client has read nothing for that long; it resumes from its last ack when it returns.
        self.close(CLOSE_TOO_SLOW, "too slow")

    def shutdown(self) -> None:
        """Called by uvicorn on the server's way down: tell the client to come back soon."""
        if self.session is not None:
            self.close(CLOSE_RESTART, "server restarting")
        elif self.transport is not None:
            self.transport.close()

    # -- input ------------------------------------------------------------------------------------------------

    def _handshake(self, request: Request) -> None:
        if request.path.partition("?")[0] != PATH:
            response = self.ws.reject(404, "no WebSocket here; the endpoint is /v1/ws\n")
        else:
            response = self.ws.accept(request)
        self.ws.send_response(response)
        self._write_protocol_data()
        if response.status_code != 101:
            if self.transport is not None:
                self.transport.close()
            return
        self.session = Connection(self.hub, self)
        self.context = self.session.context
        self._arm_keepalive()

    def _frame(self, frame: Frame) -> None:
        if frame.opcode is Opcode.TEXT or frame.opcode is Opcode.BINARY or frame.opcode is Opcode.CONT:
            if frame.opcode is not Opcode.CONT:
                self.text = frame.opcode is Opcode.TEXT
            self.fragments.append(bytes(frame.data))
            if not frame.fin:
                return
            data = b"".join(self.fragments) if len(self.fragments) > 1 else self.fragments[0]
            self.fragments = []
            if self.close_sent or self.session is None:
                return
            if self.text and not data.isascii():
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError:
                    # RFC 6455: a text message must be UTF-8. (A binary one is decoded by the JSON parser,
                    # which refuses bad UTF-8 as a bad frame.)
                    self.close(CLOSE_INVALID_DATA, "invalid UTF-8")
                    return
            self.session.on_text(data)
        elif frame.opcode is Opcode.PONG:
            self.pong_due = False

    def pause_reading(self) -> None:
        if self.reading and self.transport is not None and not self.closed:
            self.reading = False
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if not self.reading and self.transport is not None and not self.closed:
            self.reading = True
            self.transport.resume_reading()

    # -- output -----------------------------------------------------------------------------------------------

    def write(self, frame: bytes) -> None:
        """Queue a text frame; frames queued in one event-loop turn are written together."""
        if self.closed or self.close_sent:
            return
        self.out.append(frame)
        self.out_bytes += len(frame)
        if not self.flush_pending:
            self.flush_pending = True
            self.loop.call_soon(self._flush)

    async def drain(self) -> None:
        """Wait while the socket's write buffer is over its limit."""
        if self.writable or self.closed:
            return
        if self.resumed is None:
            self.resumed = asyncio.Event()
        await self.resumed.wait()

    def flush_if_full(self) -> None:
        """Write what is queued now if it is over the buffer limit, so that the transport's back-pressure
        (`pause_writing`) sees it before more is queued."""
        if self.out_bytes > self.hub.settings.send_buffer_bytes:
            self._flush()

    def _flush(self) -> None:
        self.flush_pending = False
        out, self.out = self.out, []
        self.out_bytes = 0
        if self.closed or self.close_sent or self.ws.state is not State.OPEN:
            return  # closing: the client will resume from its last ack
        for frame in out:
            self.ws.send_text(frame)
        self._write_protocol_data()
        if (
            self.transport is not None
            and self.transport.get_write_buffer_size() > 2 * self.hub.settings.send_buffer_bytes
        ):
            # Replies pile up faster than the client reads: read no more of its frames until it has read most
            # of them (`resume_writing`). The feed alone never gets here: it waits at send_buffer_bytes.
            self.backed_up = True
            self.pause_reading()

    def _write_protocol_data(self) -> None:
        chunks = self.ws.data_to_send()
        if not chunks or self.transport is None or self.transport.is_closing():
            return
        eof = chunks[-1] == b""  # the protocol is done with the socket (after a closing handshake)
        self.transport.write(b"".join(chunks))
        if eof:
            self.transport.close()

    def close(self, code: int, reason: str) -> None:
        """Send what is queued, then start the closing handshake; drop the socket if it does not finish."""
        if self.closed or self.close_sent:
            return
        if self.out:
            self._flush()
        self.close_sent = True
        self.ws.send_close(code, reason)
        self._write_protocol_data()
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(CLOSE_TIMEOUT, self._abort)

    def _abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    # -- keepalive --------------------------------------------------------------------------------------------

    def _arm_keepalive(self) -> None:
        if self.ping_interval:
            self.timer = self.loop.call_later(self.ping_interval, self._keepalive)

    def _keepalive(self) -> None:
        if self.closed or self.close_sent:
            return
        if self.pong_due:
            # No pong for a whole interval: the peer is gone without a FIN (a phone that lost its network).
            self.close(CLOSE_GOING_AWAY, "keepalive ping timeout")
            return
        self.pong_due = True
        self.ws.send_ping(b"")
        self._write_protocol_data()
        self._arm_keepalive()


class _Reply:
    """The replies to one frame, held while an earlier frame's outcome is not known yet. `open` counts the
    parts of the frame still running (a forward has one per target, besides its own)."""

    __slots__ = ("frames", "open")

    def __init__(self, open_: int) -> None:
        self.frames: list[bytes] = []
        self.open = open_


class Connection:
    """One client session: the state table, authentication, frame dispatch, the feed and bus subscriptions."""

    def __init__(self, hub: Hudhud, socket: Socket) -> None:
        self.hub = hub
        self.socket = socket
        self.loop = socket.loop
        self.conn_id = logs.new_id()
        self.context = logs.connection_context(self.conn_id)
        self.state = ConnectionState()
        self.principal: Principal | None = None
        self.feed: DeviceFeed | None = None
        self.gone = False
        self.closing = False
        # Frames whose replies are not all out yet, oldest first. Replies leave in frame order: a frame's
        # replies wait until every earlier frame is finished (see `_answer`).
        self.replies: collections.deque[_Reply] = collections.deque()
        self.watching: set[str] = set()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.work: set[asyncio.Task[Any]] = set()
        self.serial: asyncio.Task[None] | None = None  # a frame that must finish before the next is handled
        self.backlog: collections.deque[bytes] = collections.deque()  # received, not handled yet
        self.hello_timer: asyncio.TimerHandle | None = self.loop.call_later(HELLO_TIMEOUT, self._hello_timeout)
        m = hub.metrics
        m.connections += 1
        m.connections_total += 1

    # -- output -----------------------------------------------------------------------------------------------

    async def send(self, frame: bytes) -> None:
        """Queue a frame, waiting while the client is behind (back-pressure for the feed)."""
        if self.gone:
            return
        socket = self.socket
        socket.write(frame)
        self.hub.metrics.frames_out += 1
        socket.flush_if_full()
        if not socket.writable:
            await socket.drain()

    def push(self, frame: bytes) -> None:
        """Queue a frame now: a reply whose turn has come, or a notice of the server's own."""
        if not self.gone:
            self.socket.write(frame)
            self.hub.metrics.frames_out += 1

    def send_now(self, frame: bytes) -> None:
        """Queue an ephemeral frame (typing, presence); dropped if the client is behind."""
        if self.socket.writable:
            self.push(frame)

    def close_soon(self, code: int, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.state.close()
        self.socket.close(code, reason)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, work: bool = False) -> asyncio.Task[Any]:
        """Run a task for this connection. `work` tasks carry out what the client asked (a forward, a broadcast):
        on close they are allowed to finish, so that what was committed also rings its doorbells."""
        task = self.loop.create_task(coro)
        group = self.work if work else self.tasks
        group.add(task)
        task.add_done_callback(group.discard)
        return task

    # -- replies, in frame order -----------------------------------------------------------------------------

    def _open(self) -> _Reply:
        """Hold a place for the replies of the frame being handled, whose outcome comes later."""
        r = _Reply(1)
        self.replies.append(r)
        return r

    def _reply_now(self, frame: bytes) -> None:
        """The reply of the frame being handled, known at once."""
        if self.replies:
            r = _Reply(0)
            r.frames.append(frame)
            self.replies.append(r)
        else:
            self.push(frame)

    def _answer(self, r: _Reply, frame: bytes) -> None:
        if self.replies and self.replies[0] is r:
            self.push(frame)
        else:
            r.frames.append(frame)

    def _finish(self, r: _Reply) -> None:
        r.open -= 1
        q = self.replies
        if r.open or not q or q[0] is not r:
            return
        while q and q[0].open == 0:
            q.popleft()
            if q and q[0].frames:
                head = q[0]
                for frame in head.frames:
                    self.push(frame)
                head.frames = []
        self.reconsider()

    # -- input ------------------------------------------------------------------------------------------------

    def _blocked(self) -> bool:
        """Whether the next frame must wait: one that must finish first is running, too many frames await
        their outcome, or the client is not reading its replies."""
        return self.serial is not None or len(self.replies) >= MAX_IN_FLIGHT or self.socket.backed_up

    def on_text(self, data: bytes) -> None:
        if self.closing:
            return
        if self.backlog or self._blocked():
            self.backlog.append(data)
            self.socket.pause_reading()
            return
        self.hub.metrics.frames_in += 1
        self._handle(data)
        self.socket.flush_if_full()

    def reconsider(self) -> None:
        """Something that blocked input may have cleared: handle what waits, then read again if nothing
        blocks."""
        if self.gone:
            return
        while self.backlog and not self.closing and not self._blocked():
            self.hub.metrics.frames_in += 1
            self._handle(self.backlog.popleft())
            self.socket.flush_if_full()
        if self.closing:
            self.backlog.clear()
            self.socket.resume_reading()  # for the client's side of the closing handshake
        elif self._blocked():
            self.socket.pause_reading()
        else:
            self.socket.resume_reading()

    def _handle(self, data: bytes) -> None:
        ref: Any = None
        try:
            frame, ref = decode(data)
            self.state.check(frame, ref)
            self._dispatch(frame, ref)
        except ProtocolError as exc:
            self._protocol_error(exc)
        except ClientError as exc:
            self.hub.metrics.client_error(exc.code)
            self._reply_now(sf.error(exc.code, exc.message, ref, exc.retry_after))

    def _protocol_error(self, exc: ProtocolError, r: _Reply | None = None) -> None:
        self.hub.metrics.client_error(exc.code)
        if self.principal is None and exc.code != "unsupported_version":
            # Before hello, anything that is not a good hello ends the connection.
            self.state.close()
        frame = sf.error(exc.code, exc.message, exc.ref)
        if r is None:
            self._reply_now(frame)
        else:
            self._answer(r, frame)
        if self.state.state.name == "CLOSED":
            code = "not_authenticated" if self.principal is None and exc.code != "unsupported_version" else exc.code
            self.close_soon(CLOSE_UNAUTHORIZED if code == "not_authenticated" else CLOSE_PROTOCOL, code)

    def _serial(self, pending: Coroutine[Any, Any, None], r: _Reply, ref: Any) -> None:
        self.socket.pause_reading()
        self.serial = self.spawn(self._run_serial(pending, r, ref))

    async def _run_serial(self, pending: Coroutine[Any, Any, None], r: _Reply, ref: Any) -> None:
        try:
            await pending
        except ProtocolError as exc:
            self._protocol_error(exc, r)
        except ClientError as exc:
            self.hub.metrics.client_error(exc.code)
            self._answer(r, sf.error(exc.code, exc.message, ref, exc.retry_after))
        except Exception:
            log.exception("frame handling failed")
            self._answer(r, sf.error("internal_error", "the server failed; retry later", ref))
        finally:
            self.serial = None
            self._finish(r)
        self.reconsider()

    def _hello_timeout(self) -> None:
        self.hello_timer = None
        # A hello being checked has arrived in time: its own outcome closes the connection if it must.
        if self.principal is None and self.serial is None and not self.closing and not self.gone:
            self.hub.metrics.client_error("not_authenticated")
            self.push(sf.error("not_authenticated", f"no hello within {HELLO_TIMEOUT:g} seconds"))
            self.close_soon(CLOSE_UNAUTHORIZED, "not_authenticated")

    def _dispatch(self, frame: ClientFrame, ref: Any) -> None:
        """Carry out `frame`. Checks that fail at once raise; later outcomes are answered in frame order."""
        if isinstance(frame, Hello):
            self._serial(self._hello(frame, ref), self._open(), ref)
            return
        p = self.principal
        assert p is not None
        msg = self.hub.messaging
        if isinstance(frame, Send):
            client_id = check_client_msg_id(frame.id)
            content = encode_content(frame.content, self.hub.settings.max_content_bytes)
            # Queued for commit now, in the order the frames arrived; answered when the commit completes.
            sent = msg.send_in_order(
                p.user_id,
                p.device_id,
                client_id,
                content,
                conversation_id=frame.conversation_id,
                to_user=frame.to,
                media=frame.media,
            )
            sent.add_done_callback(partial(self._sent, ref, self._open()))
        elif isinstance(frame, Forward):
            check_client_msg_id(frame.id, MAX_FORWARD_ID)
            r = self._open()
            self._serial(self._forward(p, frame, ref, r), r, ref)
        elif isinstance(frame, Broadcast):
            check_client_msg_id(frame.id, MAX_BROADCAST_ID)
            content = encode_content(frame.content, self.hub.settings.max_content_bytes)
            r = self._open()
            self.spawn(self._guard(self._broadcast(p, frame, content, ref, r), ref, r), work=True)
        elif isinstance(frame, Ack):
            fut = msg.ack(p.user_id, p.device_id, frame.conversation_id, frame.seq)
            fut.add_done_callback(partial(self._done, ref, self._open()))
        elif isinstance(frame, Read):
            fut = msg.read(p.user_id, frame.conversation_id, frame.seq)
            fut.add_done_callback(partial(self._done, ref, self._open()))
        elif isinstance(frame, Typing):
            r = self._open()
            self.spawn(self._guard(msg.typing(p.user_id, frame.conversation_id, frame.state), ref, r))
        elif isinstance(frame, PresenceSubscribe):
            r = self._open()
            self._serial(self._watch(p, frame.user_ids, r), r, ref)
        elif isinstance(frame, Ping):
            self._reply_now(sf.pong(ref))

    def _sent(self, ref: Any, r: _Reply, sent: asyncio.Future[SendResult]) -> None:
        if not self._failed(sent, ref, r):
            res = sent.result()
            self._answer(
                r, sf.sent(ref, res.client_msg_id, res.conversation_id, res.seq, res.created_at, res.duplicate)
            )
        self._finish(r)

    def _done(self, ref: Any, r: _Reply, fut: asyncio.Future[Any]) -> None:
        self._failed(fut, ref, r)
        self._finish(r)

    def _failed(self, fut: asyncio.Future[Any], ref: Any, r: _Reply) -> bool:
        """Answer a failed operation with an error frame; True if it failed."""
        if fut.cancelled():
            return True
        exc = fut.exception()
        if exc is None:
            return False
        if isinstance(exc, ClientError):
            self.hub.metrics.client_error(exc.code)
            self._answer(r, sf.error(exc.code, exc.message, ref, exc.retry_after))
        else:
            log.error("frame handling failed", exc_info=exc)
            self._answer(r, sf.error("internal_error", "the server failed; retry later", ref))
        return True

    async def _guard(self, coro: Coroutine[Any, Any, Any], ref: Any, r: _Reply) -> None:
        try:
            await coro
        except ClientError as exc:
            self.hub.metrics.client_error(exc.code)
            self._answer(r, sf.error(exc.code, exc.message, ref, exc.retry_after))
        except Exception:
            log.exception("frame handling failed")
            self._answer(r, sf.error("internal_error", "the server failed; retry later", ref))
        finally:
            self._finish(r)

    async def _forward(self, p: Principal, frame: Forward, ref: Any, r: _Reply) -> None:
        pendings = await self.hub.messaging.forward(p.user_id, p.device_id, frame.id, frame.source, list(frame.targets))
        for pending in pendings:
            r.open += 1
            pending.add_done_callback(partial(self._sent, ref, r))

    async def _broadcast(self, p: Principal, frame: Broadcast, content: bytes, ref: Any, r: _Reply) -> None:
        total, results = await self.hub.messaging.broadcast(p.user_id, p.device_id, frame.id, frame.list_id, content)
        reached = [{"user_id": u, "conversation_id": res.conversation_id, "seq": res.seq} for u, res in results]
        # Copies refused by a limit (new chats with strangers, say) are the difference between total and reached.
        self._answer(r, sf.broadcast_sent(ref, frame.id, frame.list_id, total, reached))

    async def _hello(self, frame: Hello, ref: Any) -> None:
        if frame.v != PROTOCOL_VERSION:
            self.state.close()
            raise ProtocolError("unsupported_version", f"this server speaks protocol version {PROTOCOL_VERSION}", ref)
        wait = self.hub.admission.admit()
        if wait is not None:
            # The process is taking sessions as fast as it can (web/admission.py): come back later.
            self.push(sf.error("unavailable", "the server is busy; try again later", ref, wait))
            self.close_soon(CLOSE_TRY_AGAIN_LATER, "try again later")
            return
        try:
            p = await self.hub.accounts.authenticate(frame.token)
        except ClientError as exc:
            self.hub.metrics.client_error(exc.code)
            self.push(sf.error(exc.code, exc.message, ref))
            self.close_soon(CLOSE_UNAUTHORIZED, exc.code)
            return
        except Exception as exc:
            # The token could not be checked (the database is unavailable): the client is not at fault and must
            # come back, not log out, so never 4401.
            log.warning("hello: the token could not be checked: %s", exc)
            self.push(sf.error("unavailable", "the server cannot check the token now; retry", ref, HELLO_RETRY))
            self.close_soon(CLOSE_TRY_AGAIN_LATER, "try again later")
            return
        if self.gone:
            return
        if self.hello_timer is not None:
            self.hello_timer.cancel()
            self.hello_timer = None
        self.principal = p
        self.state.authenticated()
        log.info(
            "connection open: user %s device %s",
            p.user_id,
            p.device_id,
            extra={"user": p.user_id, "device": p.device_id},
        )
        self.feed = DeviceFeed(
            self.hub.db,
            self.hub.messaging,
            p.user_id,
            p.device_id,
            self.send,
            self._feed_failed,
            metrics=self.hub.metrics,
            on_refused=self._refused,
        )
        # Subscribe before the feed reads the store, so nothing committed meanwhile is missed.
        await self.hub.bus.subscribe(f"user:{p.user_id}", self._on_user_notice)
        self.hub.bus.watch_gaps(self._on_bus_gap)
        self.push(sf.welcome(PROTOCOL_VERSION, p.user_id, p.device_id, self.hub.clock.now()))
        self.feed.start()
        await self.hub.presence.connected(p.user_id)
        self.hub.accounts.touch(p.device_id)

    def _feed_failed(self) -> None:
        self.close_soon(1011, "internal error")

    # -- closing ----------------------------------------------------------------------------------------------

    def on_closed(self) -> None:
        """The socket is gone. Replies have nowhere to go now; work already accepted still finishes."""
        if self.gone:
            return
        self.gone = True
        self.hub.metrics.connections -= 1
        if log.isEnabledFor(logging.INFO):
            ws, p = self.socket.ws, self.principal
            close = ws.close_rcvd if ws.close_rcvd_then_sent else ws.close_sent or ws.close_rcvd
            user, device, code = (p.user_id if p else None), (p.device_id if p else None), close.code if close else 1006
            log.info(
                "connection closed: user %s device %s code %s",
                user,
                device,
                code,
                extra={"conn": self.conn_id, "user": user, "device": device, "code": code},
            )
        if self.hello_timer is not None:
            self.hello_timer.cancel()
        self.backlog.clear()
        task = self.loop.create_task(self._teardown())
        # uvicorn waits for these on its way down, so that presence and subscriptions are settled first.
        self.socket.server_state.tasks.add(task)
        task.add_done_callback(self.socket.server_state.tasks.discard)

    async def _teardown(self) -> None:
        if self.feed is not None:
            self.feed.stop()
        for task in list(self.tasks):
            task.cancel()
        p = self.principal
        if p is not None:
            self.hub.bus.unwatch_gaps(self._on_bus_gap)
            await self.hub.bus.unsubscribe(f"user:{p.user_id}", self._on_user_notice)
            for user_id in self.watching:
                await self.hub.bus.unsubscribe(f"presence:{user_id}", self._on_presence_notice)
            await self.hub.presence.disconnected(p.user_id)
        if self.work:
            _, late = await asyncio.wait(list(self.work), timeout=WORK_GRACE)
            for task in late:
                task.cancel()
        for task in list(self.tasks):
            with contextlib.suppress(BaseException):
                await task

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
        elif kind == "chat_state":
            self.send_now(sf.chat_state(notice["c"], notice["s"]))
        elif kind == "revoked" and notice.get("d") == p.device_id:
            self._refused("device_revoked")
        elif kind == "suspended":
            self._refused("account_suspended")

    def _refused(self, code: str) -> None:
        """The device was revoked or its account suspended (by a notice, or found by a poll of the store)."""
        if self.closing or self.gone:
            return
        message = "this account is suspended" if code == "account_suspended" else "this device was logged out"
        self.push(sf.error(code, message))
        self.close_soon(CLOSE_UNAUTHORIZED, code)

    def _on_bus_gap(self) -> None:
        """Notices may have been lost: the feed looks in the store (for messages, and for whether the device was
        revoked or its account suspended meanwhile: a lost notice must not leave a logged-out device connected),
        at a random moment within half the poll interval so that a node's devices do not all read at once."""
        feed = self.feed
        if feed is not None and not self.gone:
            self.loop.call_later(random.uniform(0, self.hub.settings.bus_poll_interval / 2), feed.poll)

    def _on_presence_notice(self, notice: Notice) -> None:
        p = self.principal
        if p is not None and notice.get("u") in self.watching:
            self.spawn(self._send_presence(p, notice["u"]))

    async def _send_presence(self, p: Principal, user_id: str) -> None:
        view = await self.hub.presence.view(p.user_id, user_id)
        # A watcher who may not see this user learns nothing, not even the moment something changed.
        if view.status != "hidden":
            self.send_now(sf.presence(view.user_id, view.status, view.last_seen))

    async def _watch(self, p: Principal, user_ids: tuple[str, ...], r: _Reply) -> None:
        wanted = set(user_ids)
        for user_id in self.watching - wanted:
            await self.hub.bus.unsubscribe(f"presence:{user_id}", self._on_presence_notice)
        for user_id in wanted - self.watching:
            await self.hub.bus.subscribe(f"presence:{user_id}", self._on_presence_notice)
        self.watching = wanted
        for user_id in user_ids:
            view = await self.hub.presence.view(p.user_id, user_id)
            self._answer(r, sf.presence(view.user_id, view.status, view.last_seen))
