"""Property: whatever the interleaving of sends, disconnects, reconnects and acks across several devices, every
device ends up with every message of its conversations exactly once after dedupe, in conversation order, and no
retry ever creates a second message."""

import asyncio
import contextlib
import json
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from tests.support import running_server

# Devices: (user index, device name). Users 0 and 1 have two devices each; user 2 has one.
DEVICES = [(0, "a1"), (0, "a2"), (1, "b1"), (1, "b2"), (2, "c1")]
PHONES = ["+201001234567", "+201101234567", "+201201234567"]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 4), st.integers(0, 2)),
        st.tuples(st.just("drop"), st.integers(0, 4), st.just(0)),
        st.tuples(st.just("connect"), st.integers(0, 4), st.just(0)),
        st.tuples(st.just("ack"), st.integers(0, 4), st.just(0)),
        st.tuples(st.just("pause"), st.just(0), st.just(0)),
    ),
    min_size=5,
    max_size=40,
)


class Device:
    """A client as a real app would be: an outbox resent on every connect, dedupe by (conversation, seq)."""

    def __init__(self, token: str, user_id: str, url: str) -> None:
        self.token, self.user_id, self.url = token, user_id, url
        self.ws = None
        self.reader: asyncio.Task | None = None
        self.outbox: dict[str, dict] = {}
        self.seen: dict[tuple[str, int], str] = {}  # (conversation, seq) -> client message id
        self.session_log: list[list[tuple[str, int]]] = []
        self.highest: dict[str, int] = {}
        self.synced = asyncio.Event()

    async def connect(self) -> None:
        if self.ws is not None:
            return
        self.ws = await connect(self.url, max_size=2**24)
        self.synced = asyncio.Event()
        self.session_log.append([])
        log = self.session_log[-1]
        ws = self.ws

        async def read():
            try:
                async for raw in ws:
                    f = json.loads(raw)
                    if f["type"] == "deliver":
                        key = (f["conversation_id"], f["seq"])
                        log.append(key)
                        self.seen.setdefault(key, f["id"])
                        self.highest[f["conversation_id"]] = max(self.highest.get(f["conversation_id"], 0), f["seq"])
                    elif f["type"] == "sent":
                        self.outbox.pop(f["id"], None)
                        self.seen.setdefault((f["conversation_id"], f["seq"]), f["id"])
                    elif f["type"] == "synced":
                        self.synced.set()
            except Exception:
                pass

        self.reader = asyncio.create_task(read())
        await ws.send(json.dumps({"type": "hello", "v": 1, "token": self.token}))
        for frame in list(self.outbox.values()):
            await ws.send(json.dumps(frame))

    async def drop(self) -> None:
        if self.ws is None:
            return
        await self.ws.close()
        await self.reader
        self.ws = None

    async def send(self, to_user: str) -> None:
        mid = uuid.uuid4().hex
        frame = {"type": "send", "id": mid, "to": to_user, "content": {"type": "text", "text": mid}}
        self.outbox[mid] = frame
        if self.ws is not None:
            with contextlib.suppress(Exception):  # a send on a closing socket stays in the outbox
                await self.ws.send(json.dumps(frame))

    async def ack(self) -> None:
        # Ack only a contiguous prefix: what the device really has, as a real client would.
        if self.ws is None:
            return
        for conv, top in self.highest.items():
            n = 0
            while (conv, n + 1) in self.seen and n < top:
                n += 1
            if n:
                await self.ws.send(json.dumps({"type": "ack", "conversation_id": conv, "seq": n}))


async def scenario(steps) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_server(Path(tmp)) as server:
            users = [await server.make_user(p) for p in PHONES]
            devices = []
            for user_idx, name in DEVICES:
                if name.endswith("1"):
                    _, _, token = users[user_idx]
                else:
                    _, token = await server.add_device(PHONES[user_idx], name)
                devices.append(Device(token, users[user_idx][0], server.ws_url))
            for kind, d, target in steps:
                dev = devices[d]
                if kind == "send":
                    await dev.send(users[target][0])
                elif kind == "drop":
                    await dev.drop()
                elif kind == "connect":
                    await dev.connect()
                elif kind == "ack":
                    await dev.ack()
                else:
                    await asyncio.sleep(0.01)
            # Everyone comes back; outboxes drain; then everyone reconnects once more to be sure of a full sync.
            for dev in devices:
                await dev.connect()
            for _ in range(500):
                if not any(dev.outbox for dev in devices):
                    break
                await asyncio.sleep(0.01)
            assert not any(dev.outbox for dev in devices), "outbox not drained"
            for dev in devices:
                await dev.drop()
                await dev.connect()
                await asyncio.wait_for(dev.synced.wait(), 10)

            # The truth, from the server's store.
            from sqlalchemy import select

            from hudhud.store.schema import members, messages

            def load(conn):
                msgs = conn.execute(select(messages.c.conversation_id, messages.c.seq, messages.c.client_msg_id)).all()
                mem = conn.execute(select(members.c.conversation_id, members.c.user_id)).all()
                return msgs, mem

            stored, membership = await server.hub.db.read(load)
            sent_ids = [frame_id for frame_id in (m.client_msg_id for m in stored)]
            assert len(sent_ids) == len(set(sent_ids)), "a retry created a second message"
            expected_sends = sum(1 for kind, _, _ in steps if kind == "send")
            assert len(stored) == expected_sends, "a message was lost"
            by_conv: dict[str, list[int]] = {}
            for m in stored:
                by_conv.setdefault(m.conversation_id, []).append(m.seq)
            for seqs in by_conv.values():
                assert sorted(seqs) == list(range(1, len(seqs) + 1)), "gap in a conversation's sequence"
            convs_of: dict[str, set[str]] = {}
            for conv_id, user_id in membership:
                convs_of.setdefault(user_id, set()).add(conv_id)
            for dev in devices:
                want = {
                    (m.conversation_id, m.seq): m.client_msg_id
                    for m in stored
                    if m.conversation_id in convs_of.get(dev.user_id, set())
                }
                assert dev.seen == want, "a device is missing a message or saw a wrong one"
                for session in dev.session_log:
                    assert len(session) == len(set(session)), "duplicate delivery within one connection"
                    per_conv: dict[str, list[int]] = {}
                    for conv, seq in session:
                        per_conv.setdefault(conv, []).append(seq)
                    for seqs in per_conv.values():
                        assert seqs == sorted(seqs), "out of order within one connection"
            for dev in devices:
                await dev.drop()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_no_loss_no_duplicate_no_reordering(steps):
    asyncio.run(scenario(steps))
