"""The client SDK against the real server over real sockets: delivery both ways, ticks, the durable outbox,
reconnects (a TCP proxy in between lets a test cut connections or refuse them), dedupe and revocation."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from hudhud.client.net.core import wait_event
from hudhud.client.sdk import (
    ConnState,
    Delivered,
    Event,
    EventStream,
    HudhudClient,
    NotLoggedIn,
    PresenceUpdate,
    SendFailed,
    Sent,
    StateChanged,
    SyncedEvent,
    TicksChanged,
    TypingUpdate,
    backoff_delay,
    ws_url_for,
)
from hudhud.client.state import StateStore

ALICE, BOB = "+201001234567", "+201101234567"


# -- helpers --------------------------------------------------------------------------------------------------


class Proxy:
    """A TCP forwarder between client and server, so a test can drop every connection or refuse new ones
    while the server itself stays up."""

    def __init__(self, target_url: str) -> None:
        self.target_port = int(target_url.rsplit(":", 1)[1])
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.drop_all()

    def drop_all(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def login_profile(profile: Path, server_url: str, phone: str, creds: tuple[str, str, str]) -> None:
    user_id, device_id, token = creds
    store = StateStore(profile)
    store.save_login(server_url, phone, user_id, device_id, token)
    store.close()


def fast_client(profile: Path, server: str | None = None, **kw: Any) -> HudhudClient:
    """Backoff short enough for tests; the schedule itself is tested separately."""
    kw.setdefault("backoff_base", 0.05)
    kw.setdefault("backoff_cap", 0.3)
    return HudhudClient(profile, server=server, **kw)


async def next_event(stream: EventStream, pred: Callable[[Event], bool], timeout: float = 5.0) -> Event:
    async with asyncio.timeout(timeout):
        return await stream.next(pred)


async def collect_texts(stream: EventStream, n: int, timeout: float = 5.0) -> list[str]:
    texts: list[str] = []
    async with asyncio.timeout(timeout):
        while len(texts) < n:
            ev = await stream.next(lambda e: isinstance(e, Delivered))
            assert isinstance(ev, Delivered)
            texts.append(ev.message.content["text"])
    return texts


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if check():
                return
            await asyncio.sleep(0.01)


async def server_texts(server: Any, token: str, conversation_id: str) -> list[str]:
    async with server.http(token) as c:
        r = await c.get(f"/v1/conversations/{conversation_id}/messages", params={"limit": 500})
        return [m["content"]["text"] for m in r.json()["messages"]]


@pytest.fixture
async def pair(server: Any, tmp_path: Path) -> Any:
    """Alice and Bob with logged-in profiles; yields (alice creds, bob creds)."""
    a = await server.make_user(ALICE, "Alice")
    b = await server.make_user(BOB, "Bob")
    login_profile(tmp_path / "alice", server.url, ALICE, a)
    login_profile(tmp_path / "bob", server.url, BOB, b)
    return a, b


# -- tests ----------------------------------------------------------------------------------------------------


async def test_a_session_task_cancelled_just_as_it_is_woken_still_ends() -> None:
    """The session's per-connection tasks (outbox, acks) loop on events and are cancelled when the connection
    ends; the session waits for them before reconnecting. A cancellation arriving in the same turn as the wake
    must end the task (asyncio.wait_for on Python 3.11 swallowed it, and the session then hung "synced" with no
    connection, never reconnecting: seen in tests/cluster/ under a reconnect storm)."""
    event = asyncio.Event()
    woken = 0

    async def pump() -> None:
        nonlocal woken
        while True:
            event.clear()
            woken += await wait_event(event, 5.0)

    task = asyncio.create_task(pump())
    await asyncio.sleep(0.01)
    event.set()
    task.cancel()  # the same turn of the event loop as the wake
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)
    assert woken == 0
    event.clear()
    assert await wait_event(event, 0.01) is False
    event.set()
    assert await wait_event(event, 0.01) is True


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        samples = [backoff_delay(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        # Full jitter spreads over the whole range, not just near the ceiling.
        assert min(samples) < ceiling * 0.1 and max(samples) > ceiling * 0.9
    assert backoff_delay(10_000, 0.5, 30.0, rng) <= 30.0


def test_ws_url() -> None:
    assert ws_url_for("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/v1/ws"
    assert ws_url_for("https://chat.example/hudhud/") == "wss://chat.example/hudhud/v1/ws"
    with pytest.raises(ValueError):
        ws_url_for("ftp://x")


async def test_send_receive_ticks_both_ways(server: Any, pair: Any, tmp_path: Path) -> None:
    (a_id, _, _), (b_id, _, _) = pair
    async with fast_client(tmp_path / "alice") as alice, fast_client(tmp_path / "bob") as bob:
        a_events, b_events = alice.events(), bob.events()
        alice.start()
        bob.start()
        await asyncio.wait_for(asyncio.gather(alice.wait_synced(), bob.wait_synced()), 5)

        msg_id = await alice.send_text("مرحبا يا بوب", to=b_id)
        sent = await alice.wait_sent(msg_id, timeout=5)
        assert sent is not None and sent.seq == 1 and not sent.duplicate
        got = await next_event(b_events, lambda e: isinstance(e, Delivered))
        assert isinstance(got, Delivered)
        assert got.message.content == {"type": "text", "text": "مرحبا يا بوب"}
        assert got.message.sender_user_id == a_id and got.message.id == msg_id

        # Bob's client acked by itself: Alice's message gets two ticks; reading it makes them blue.
        ev = await next_event(a_events, lambda e: isinstance(e, TicksChanged))
        assert isinstance(ev, TicksChanged) and (ev.message.seq, ev.status) == (1, "delivered")
        bob.read(got.message.conversation_id, got.message.seq)
        ev = await next_event(a_events, lambda e: isinstance(e, TicksChanged))
        assert isinstance(ev, TicksChanged) and (ev.message.seq, ev.status) == (1, "read")

        # Typing and presence pass through as events.
        assert await alice.typing(got.message.conversation_id, "composing")
        ev = await next_event(b_events, lambda e: isinstance(e, TypingUpdate))
        assert isinstance(ev, TypingUpdate) and (ev.user_id, ev.state) == (a_id, "composing")
        # Alice shares her presence with her contacts (the default), so she adds Bob first.
        added = await alice.add_contacts([(BOB, "Bob")])
        assert added[0]["user_id"] == b_id
        await bob.presence_subscribe([a_id])
        ev = await next_event(b_events, lambda e: isinstance(e, PresenceUpdate))
        assert isinstance(ev, PresenceUpdate) and ev.user_id == a_id and ev.status == "online"

        # And back, into the conversation by id, as a reply.
        reply = await bob.send_text("أهلا", conversation_id=got.message.conversation_id, reply_to=1)
        assert (await bob.wait_sent(reply, timeout=5)) is not None
        back = await next_event(a_events, lambda e: isinstance(e, Delivered))
        assert isinstance(back, Delivered)
        assert back.message.content == {"type": "text", "text": "أهلا", "reply_to": 1}
        assert back.message.seq == 2 and back.message.sender_user_id == b_id
        # Alice's own message was never delivered back to the device that sent it, yet her watermark
        # covers it (seq 1 is hers, seq 2 was delivered).
        assert alice.stats.deliveries == 1
        assert alice.store.cursor(got.message.conversation_id) == 2


async def test_outbox_survives_restart_and_is_delivered_once(server: Any, pair: Any, tmp_path: Path) -> None:
    (_, _, a_tok), (b_id, _, _) = pair
    # The server is unreachable: messages are queued, the session keeps retrying.
    offline = fast_client(tmp_path / "alice", server=f"http://127.0.0.1:{closed_port()}")
    states: list[ConnState] = []
    offline.on_event(lambda e: states.append(e.state) if hasattr(e, "state") else None)
    ids = [await offline.send_text(f"queued {i}", to=b_id) for i in range(3)]
    offline.start()
    await eventually(lambda: states.count(ConnState.DISCONNECTED) >= 2)
    assert [e.id for e in offline.outbox()] == ids
    await offline.aclose()  # the "restart": process state gone, only state.db remains

    # Restarted against the real server, the client sends them by itself.
    async with fast_client(tmp_path / "alice", server=server.url) as alice:
        stream = alice.events()
        alice.start()
        acks = []
        async with asyncio.timeout(5):
            while len(acks) < 3:
                ev = await stream.next(lambda e: isinstance(e, Sent))
                assert isinstance(ev, Sent)
                acks.append(ev)
        assert [a.id for a in acks] == ids and [a.seq for a in acks] == [1, 2, 3]
        assert alice.outbox() == []
        # A later restart has nothing left to send.
        sends = alice.stats.sends
    async with fast_client(tmp_path / "alice", server=server.url) as again:
        again.start()
        await asyncio.wait_for(again.wait_synced(), 5)
        assert again.stats.sends == 0 and sends == 3
    assert await server_texts(server, a_tok, acks[0].conversation_id) == ["queued 0", "queued 1", "queued 2"]


async def test_resend_after_lost_ack_is_deduped_by_the_server(server: Any, pair: Any, tmp_path: Path) -> None:
    """The message reached the server but the `sent` frame was lost (say the process died): it is still in
    the outbox, so it is sent again, and the server answers with the original ack instead of storing it twice."""
    (_, _, a_tok), (b_id, _, _) = pair
    store = StateStore(tmp_path / "alice")
    store.outbox_put("lost-ack-1", {"type": "text", "text": "once"}, to_user=b_id)
    store.close()
    raw = await server.client(a_tok)
    first = await raw.send_text("once", to=b_id, msg_id="lost-ack-1")
    await raw.close()

    async with fast_client(tmp_path / "alice", server=server.url) as alice:
        alice.start()
        sent = await alice.wait_sent("lost-ack-1", timeout=5)
        assert sent is not None and sent.duplicate and sent.seq == first["seq"]
        assert alice.outbox() == []
    assert await server_texts(server, a_tok, first["conversation_id"]) == ["once"]


async def test_reconnects_after_drops_and_outage_delivering_everything_once(
    server: Any, pair: Any, tmp_path: Path
) -> None:
    (_, _, a_tok), (b_id, _, b_tok) = pair
    proxy = Proxy(server.url)
    await proxy.start()
    try:
        async with fast_client(tmp_path / "bob", server=proxy.url) as bob:
            stream = bob.events()
            refused = [0]

            def count(e: Event) -> None:
                if isinstance(e, StateChanged) and e.state is ConnState.DISCONNECTED:
                    refused[0] += 1

            bob.start()
            await asyncio.wait_for(bob.wait_synced(), 5)
            sender = await server.client(a_tok)
            s1 = await sender.send_text("before", to=b_id)
            assert await collect_texts(stream, 1) == ["before"]

            # The network drops every connection: the client comes back by itself.
            proxy.drop_all()
            await asyncio.wait_for(bob.wait_state(ConnState.DISCONNECTED), 5)
            await sender.send_text("during the drop", to=b_id)
            await asyncio.wait_for(bob.wait_synced(), 5)
            assert await collect_texts(stream, 1) == ["during the drop"]

            # A longer outage: connections are refused for a while; Bob queues a reply meanwhile.
            await proxy.stop()
            await asyncio.wait_for(bob.wait_state(ConnState.DISCONNECTED), 5)
            refused[0] = 0
            bob.on_event(count)
            reply = await bob.send_text("reply written offline", conversation_id=s1["conversation_id"])
            await sender.send_text("while Bob is away", to=b_id)
            await eventually(lambda: refused[0] >= 3)  # a few attempts fail and back off
            await proxy.start()  # same port
            sent = await bob.wait_sent(reply, timeout=5)
            assert sent is not None and not sent.duplicate
            assert await collect_texts(stream, 1) == ["while Bob is away"]
            assert bob.stats.connections >= 3
            frame = await sender.expect("deliver")
            assert frame["content"]["text"] == "reply written offline" and frame["sender"]["user_id"] == b_id
        assert await server_texts(server, b_tok, s1["conversation_id"]) == [
            "before",
            "during the drop",
            "while Bob is away",
            "reply written offline",
        ]
    finally:
        await proxy.stop()


async def test_redelivery_after_lost_acks_is_shown_once(server: Any, pair: Any, tmp_path: Path) -> None:
    """Bob's acks never reach the server (the connection dies first), so the server sends the same messages
    again on the next connection: the application still sees each one once, and the acks then land."""
    (_, _, a_tok), (b_id, _b_dev, b_tok) = pair
    proxy = Proxy(server.url)
    await proxy.start()
    try:
        # A long ack delay keeps the acks in Bob's client when the proxy cuts the connection.
        async with fast_client(tmp_path / "bob", server=proxy.url, ack_delay=30) as bob:
            delivered: list[tuple[str, int]] = []
            bob.on_event(
                lambda e: (
                    delivered.append((e.message.conversation_id, e.message.seq)) if isinstance(e, Delivered) else None
                )
            )
            bob.start()
            await asyncio.wait_for(bob.wait_synced(), 5)
            sender = await server.client(a_tok)
            for i in range(3):
                await sender.send_text(f"m{i}", to=b_id)
            await eventually(lambda: len(delivered) == 3)
            proxy.drop_all()
            # The server resends all three; they are dropped as duplicates, and acked at `synced`.
            await eventually(lambda: bob.stats.duplicates == 3)
            await asyncio.wait_for(bob.wait_synced(), 5)
            assert [seq for _, seq in delivered] == [1, 2, 3]
            conv = delivered[0][0]
            assert bob.store.cursor(conv) == 3
            # The ack (sent at `synced`, not after the 30 s batching delay) reaches the server: Alice sees
            # two ticks on all three.
            async with server.http(a_tok) as c:
                async with asyncio.timeout(5):
                    while True:
                        convs = (await c.get("/v1/conversations")).json()["conversations"]
                        bob_rcpt = [r for r in convs[0]["receipts"] if r["user_id"] == b_id]
                        if bob_rcpt and bob_rcpt[0]["delivered_seq"] == 3:
                            break
                        await asyncio.sleep(0.02)
        # The acks reached the server: a fresh connection of Bob's device gets nothing again.
        raw = await server.client(b_tok)  # hello: waits for `synced`; any backlog arrives before it
        assert raw.take_all("deliver") == []
    finally:
        await proxy.stop()


async def test_queued_messages_keep_their_order(server: Any, pair: Any, tmp_path: Path) -> None:
    (_, _, _), (b_id, _, _) = pair
    async with fast_client(tmp_path / "alice") as alice, fast_client(tmp_path / "bob") as bob:
        stream = bob.events()
        ids = [await alice.send_text(f"n{i}", to=b_id) for i in range(25)]
        alice.start()
        bob.start()
        texts = await collect_texts(stream, 25)
        assert texts == [f"n{i}" for i in range(25)]
        assert (await alice.wait_sent(ids[-1], timeout=5)) is not None
        assert bob.stats.duplicates == 0


async def test_refused_message_leaves_the_outbox(server: Any, pair: Any, tmp_path: Path) -> None:
    async with fast_client(tmp_path / "alice") as alice:
        stream = alice.events()
        bad = await alice.send_text("to nobody", to="u" + "0" * 16)
        good = await alice.send_text("to a conversation I am not in", conversation_id="c" + "1" * 16)
        alice.start()
        failures = set()
        async with asyncio.timeout(5):
            while len(failures) < 2:
                ev = await stream.next(lambda e: isinstance(e, SendFailed))
                assert isinstance(ev, SendFailed)
                failures.add((ev.id, ev.code))
        assert failures == {(bad, "not_found"), (good, "not_member")}
        assert alice.outbox() == []


async def test_revoked_device_stops_reconnecting(server: Any, pair: Any, tmp_path: Path) -> None:
    (_, _, _), (_, b_dev, _) = pair
    async with fast_client(tmp_path / "bob") as bob:
        bob.start()
        await asyncio.wait_for(bob.wait_synced(), 5)
        # Bob logs this device out from another one.
        _, other_tok = await server.add_device(BOB, "phone")
        async with server.http(other_tok) as c:
            assert (await c.delete(f"/v1/devices/{b_dev}")).status_code == 204
        assert await asyncio.wait_for(bob.wait_state(ConnState.LOGGED_OUT), 5) is ConnState.LOGGED_OUT
        # The session has ended instead of retrying, and the profile says: log in again.
        await eventually(lambda: not bob.running)
        assert bob.stats.connections == 1
        assert bob.store.token is None
        with pytest.raises(NotLoggedIn):
            await bob.me()


async def test_profile_switch_to_another_account_wipes_queued_messages(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "p")
    store.save_login("http://x", ALICE, "u1", "d1", "t1")
    store.outbox_put(uuid.uuid4().hex, {"type": "text", "text": "x"}, to_user="u9")
    store.save_login("http://x", ALICE, "u1", "d2", "t2")  # same account, new device: keep
    assert len(store.outbox()) == 1
    store.save_login("http://x", BOB, "u2", "d3", "t3")  # someone else: never send as them
    assert store.outbox() == [] and store.token == "t3"
    store.close()


async def test_error_retry_after_delays_the_next_attempt(tmp_path: Path) -> None:
    """A server that answers `hello` with an error carrying retry_after and hangs up: the client waits at least
    that long before trying again, although its own backoff would allow much less. (A stand-in server: the
    real one has no reason to refuse a hello this way today.)"""
    attempts: list[float] = []
    loop = asyncio.get_running_loop()

    async def handler(ws: ServerConnection) -> None:
        attempts.append(loop.time())
        hello = json.loads(await ws.recv())
        assert hello["type"] == "hello" and hello["token"] == "t"
        await ws.send(json.dumps({"type": "unknown_future_frame"}))  # ignored, not fatal
        await ws.send(json.dumps({"type": "error", "code": "rate_limited", "message": "slow down",
                                  "ref": None, "retry_after": 0.5}))  # fmt: skip
        await ws.close(1013, "try again later")

    async with serve(handler, "127.0.0.1", 0) as ws_server:
        port = next(iter(ws_server.sockets)).getsockname()[1]
        store = StateStore(tmp_path / "p")
        store.save_login(f"http://127.0.0.1:{port}", ALICE, "u1", "d1", "t")
        store.close()
        async with fast_client(tmp_path / "p", backoff_base=0.01, backoff_cap=0.02) as client:
            retries: list[float | None] = []
            client.on_event(
                lambda e: (
                    retries.append(e.retry_in)
                    if isinstance(e, StateChanged) and e.state is ConnState.DISCONNECTED
                    else None
                )
            )
            client.start()
            await eventually(lambda: len(attempts) >= 3)
            assert client.running
        gaps = [b - a for a, b in itertools.pairwise(attempts)]
        assert all(g >= 0.5 for g in gaps[:2]), gaps
        assert all(r is not None and r >= 0.5 for r in retries[:2])


async def test_the_cursor_moves_past_a_permanent_gap_without_a_reconnect(server: Any, tmp_path: Path) -> None:
    """Badr has blocked Alice: her message is withheld from him for good, a gap in his seqs. The next message
    he receives live (from his other device) is acked at its own seq, not held back below the gap."""
    from hudhud.store import messages as mq

    alice = await server.make_user(ALICE, "Alice")
    bob = await server.make_user(BOB, "Bob")
    login_profile(tmp_path / "bob", server.url, BOB, bob)
    a = await server.client(alice[2])
    conv = (await a.send_text("before the block", to=bob[0]))["conversation_id"]
    async with server.http(bob[2]) as c:
        assert (await c.post("/v1/blocks", json={"user_id": alice[0]})).status_code == 204
    async with fast_client(tmp_path / "bob") as b:
        stream = b.events()
        b.start()
        await next_event(stream, lambda e: isinstance(e, SyncedEvent))
        withheld = await a.send_text("you cannot see this", conversation_id=conv)  # seq 2: never for Bob
        _, other_token = await server.add_device(BOB, "tablet")
        tablet = await server.client(other_token)
        later = await tablet.send_text("from my tablet", conversation_id=conv)  # seq 3
        assert later["seq"] == withheld["seq"] + 1
        await next_event(stream, lambda e: isinstance(e, Delivered) and e.message.seq == later["seq"])

        def cursor() -> int:
            return server.hub.db.read(lambda c: mq.resume_position(c, bob[1], bob[0], conv))

        for _ in range(250):  # the ack goes out within the client's batching delay
            if (await cursor())[0] >= later["seq"]:
                break
            await asyncio.sleep(0.02)
        assert (await cursor())[0] == later["seq"]
