"""A large catch-up to a client that reads normally: delivered whole, without a close, and the ack sent after
`synced` holds, so the next connection has nothing to catch up. (It used to end in 4408 after about 7 MB
of waiting messages, with the ack lost, so every reconnect repeated the catch-up and the close.)"""

from __future__ import annotations

import asyncio
import uuid

from hudhud.services.delivery import PAGE, PAGE_BYTES
from hudhud.store import messages as q
from tests.adversarial.rawws import RawSocket, close_code, text

BIG = "x" * 60_000


async def fill(server, count: int) -> tuple[str, str, str]:
    """`count` messages of 60 KB from A to B; returns (B's token, the conversation, B's user id)."""
    _, _, a_token = await server.make_user("+201001234567", "Amira")
    b_id, _, b_token = await server.make_user("+201101234567", "Badr")
    a = await server.client(a_token)
    ids = [uuid.uuid4().hex for _ in range(count)]
    for msg_id in ids:
        await a.send({"type": "send", "id": msg_id, "to": b_id, "content": {"type": "text", "text": BIG}})
    sent = [await a.expect("sent", id=msg_id, timeout=20) for msg_id in ids]
    await a.close()
    return b_token, sent[0]["conversation_id"], b_id


async def test_a_reader_that_keeps_up_gets_a_7mb_catch_up_and_its_ack_holds(server):
    b_token, conv_id, _ = await fill(server, 120)
    b = await server.client(b_token, hello=False)
    await b.send({"type": "hello", "v": 1, "token": b_token})
    await b.expect("welcome")
    await b.expect("synced", timeout=30)
    delivered = b.take_all("deliver")
    assert [d["seq"] for d in delivered] == list(range(1, 121))
    await b.send({"type": "ack", "conversation_id": conv_id, "seq": 120, "ref": "a"})
    await b.send({"type": "ping", "ref": "p"})
    await b.expect("pong", ref="p")  # replies come in frame order: the ack is committed by now
    await b.close()
    assert b.close_code == 1000
    again = await server.client(b_token)
    assert again.take_all("deliver") == []


async def test_the_feed_reads_pages_bounded_by_bytes(server):
    _, conv_id, b_id = await fill(server, 40)
    page, more = await server.hub.db.read(lambda c: q.fetch_page(c, conv_id, b_id, 0, PAGE, PAGE_BYTES))
    assert more and 1 <= len(page) < 40
    assert sum(len(m.content) for m in page) <= PAGE_BYTES
    rest, more = await server.hub.db.read(lambda c: q.fetch_page(c, conv_id, b_id, page[-1].seq, PAGE, PAGE_BYTES))
    assert page[-1].seq + 1 == rest[0].seq


async def test_only_a_client_that_stops_reading_for_long_is_dropped(server_factory):
    async with server_factory(send_stall_timeout=1.0) as server:
        # More than the kernel's socket buffers hold on loopback, so that the server's own buffer fills.
        b_token, _, _ = await fill(server, 250)
        # A slow reader: reads a little at a time, with pauses shorter than the stall timeout.
        slow = await RawSocket.open(server.url, rcvbuf=16384)
        stopped = await RawSocket.open(server.url, rcvbuf=16384)
        try:
            await slow.send(text({"type": "hello", "v": 1, "token": b_token}))
            await stopped.send(text({"type": "hello", "v": 1, "token": b_token}))
            got = 0
            while True:
                await asyncio.sleep(0.3)
                frames = await slow.read_frames(timeout=0.2)
                got += sum(1 for op, p in frames if op == 1 and b'"deliver"' in p[:20])
                assert close_code(frames) is None
                if any(op == 1 and p == b'{"type":"synced"}' for op, p in frames):
                    break
            assert got == 250
            # The one that never read is dropped once its buffer has not moved for the timeout.
            await asyncio.sleep(1.5)
            assert close_code(await stopped.read_frames(timeout=3.0)) == 4408
        finally:
            slow.close()
            stopped.close()


async def test_an_ack_sent_during_a_large_catch_up_is_read_and_holds(server):
    """The catch-up's output never stops the server from reading the client's frames."""
    b_token, conv_id, _ = await fill(server, 120)
    b = await server.client(b_token, hello=False)
    await b.send({"type": "hello", "v": 1, "token": b_token})
    half = await b.expect("deliver", seq=60, timeout=10)
    await b.send({"type": "ack", "conversation_id": half["conversation_id"], "seq": 60})  # half-way through
    await b.send({"type": "ping", "ref": "p"})
    await b.expect("pong", ref="p", timeout=10)
    await b.expect("synced", timeout=30)
    assert b.close_code is None
    await b.close()
    again = await server.client(b_token)
    assert [d["seq"] for d in again.take_all("deliver")] == list(range(61, 121))
    assert conv_id == half["conversation_id"]
