"""One-to-one messaging over the real WebSocket: delivery, order, dedupe, catch-up, receipts, typing, presence."""

import asyncio
import uuid

import pytest


async def two_users(server):
    a_id, a_dev, a_tok = await server.make_user("+201001234567", "Amal")
    b_id, b_dev, b_tok = await server.make_user("+201101234567", "Badr")
    return (a_id, a_dev, a_tok), (b_id, b_dev, b_tok)


async def test_exchange_both_ways_in_one_conversation(server):
    (a_id, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a, b = await server.client(a_tok), await server.client(b_tok)
    s1 = await a.send_text("صباح الخير", to=b_id)
    d1 = await b.expect("deliver")
    assert d1["sender"]["user_id"] == a_id and d1["content"]["text"] == "صباح الخير"
    s2 = await b.send_text("صباح النور", conversation_id=d1["conversation_id"])
    d2 = await a.expect("deliver")
    assert s1["conversation_id"] == s2["conversation_id"] == d2["conversation_id"]
    assert (s1["seq"], s2["seq"]) == (1, 2)
    # Writing to the user again reuses the conversation.
    s3 = await a.send_text("كيف حالك؟", to=b_id)
    assert s3["conversation_id"] == s1["conversation_id"] and s3["seq"] == 3
    # A device is not sent its own message as a delivery.
    await a.no_frame("deliver")


async def test_retried_send_is_not_duplicated(server):
    (_, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a, b = await server.client(a_tok), await server.client(b_tok)
    first = await a.send_text("once", to=b_id, msg_id="m-1")
    again = await a.send_text("once", to=b_id, msg_id="m-1")
    assert again["duplicate"] is True and first["duplicate"] is False
    assert again["seq"] == first["seq"] and again["conversation_id"] == first["conversation_id"]
    await a.close()
    # The retry after a reconnect (the ack was lost, say) is answered with the original acknowledgement too.
    a2 = await server.client(a_tok)
    third = await a2.send_text("once", to=b_id, msg_id="m-1")
    assert third["seq"] == first["seq"] and third["duplicate"] is True
    await b.expect("deliver", seq=first["seq"])
    await b.no_frame("deliver")
    async with server.http(b_tok) as c:
        msgs = (await c.get(f"/v1/conversations/{first['conversation_id']}/messages")).json()["messages"]
    assert [m["id"] for m in msgs] == ["m-1"]


async def test_offline_device_catches_up_1000_in_order(server):
    (_, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a = await server.client(a_tok)
    ids = [f"m{i}" for i in range(1000)]
    for mid in ids[:500]:
        await a.send({"type": "send", "id": mid, "to": b_id, "content": {"type": "text", "text": mid}})
    for mid in ids[:500]:
        await a.expect("sent", id=mid)
    # B comes online while the second half is still being sent: nothing may be lost or reordered.
    b = await server.client(b_tok, hello=False)
    await b.send({"type": "hello", "v": 1, "token": b_tok})
    for mid in ids[500:]:
        await a.send({"type": "send", "id": mid, "to": b_id, "content": {"type": "text", "text": mid}})
    got = []
    while len(got) < 1000:
        f = await b.expect("deliver", timeout=10)
        got.append(f)
    assert [f["id"] for f in got] == ids
    assert [f["seq"] for f in got] == list(range(1, 1001))
    assert any(f["type"] == "synced" for f in b.frames)
    await b.no_frame("deliver")


async def test_resume_from_last_ack(server):
    (_, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a = await server.client(a_tok)
    for i in range(10):
        sent = await a.send_text(str(i), to=b_id)
    conv = sent["conversation_id"]
    b = await server.client(b_tok)
    first = [await b.expect("deliver") for _ in range(10)]
    assert [f["seq"] for f in first] == list(range(1, 11))
    await b.send({"type": "ack", "conversation_id": conv, "seq": 6})
    await a.expect("receipt", delivered_seq=6)
    await b.close()
    b2 = await server.client(b_tok)
    again = b2.take_all("deliver")
    assert [f["seq"] for f in again] == [7, 8, 9, 10]


async def test_every_device_gets_every_message(server):
    (a_id, a_dev, a_tok), (b_id, _, b_tok) = await two_users(server)
    a2_dev, a2_tok = await server.add_device("+201001234567", "laptop")
    b2_dev, b2_tok = await server.add_device("+201101234567", "tablet")
    a, a2 = await server.client(a_tok), await server.client(a2_tok)
    b, b2 = await server.client(b_tok), await server.client(b2_tok)
    sent = await a.send_text("to all your devices", to=b_id)
    for c in (a2, b, b2):
        d = await c.expect("deliver")
        assert d["seq"] == sent["seq"] and d["sender"] == {"user_id": a_id, "device_id": a_dev}
    await a.no_frame("deliver")
    # A reply from the tablet reaches the sender's other device and both of A's devices.
    reply = await b2.send_text("got it", conversation_id=sent["conversation_id"])
    for c in (a, a2, b):
        d = await c.expect("deliver", seq=reply["seq"])
        assert d["sender"]["device_id"] == b2_dev
    assert a2_dev != a_dev


async def test_ticks_delivered_then_read_and_stored(server):
    (_, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a = await server.client(a_tok)
    sent = await a.send_text("hello", to=b_id)
    conv, seq = sent["conversation_id"], sent["seq"]
    b = await server.client(b_tok)
    await b.expect("deliver", seq=seq)
    await b.send({"type": "ack", "conversation_id": conv, "seq": seq})
    r = await a.expect("receipt", user_id=b_id)
    assert (r["delivered_seq"], r["read_seq"]) == (seq, 0)
    await b.send({"type": "read", "conversation_id": conv, "seq": seq})
    r = await a.expect("receipt", user_id=b_id, read_seq=seq)
    assert r["delivered_seq"] == seq
    # The sender was away: on reconnect it is told the current ticks.
    await a.close()
    a_again = await server.client(a_tok)
    snap = [f for f in a_again.frames if f["type"] == "receipt" and f["user_id"] == b_id]
    assert snap and snap[-1]["delivered_seq"] == seq and snap[-1]["read_seq"] == seq
    # And the REST history says the same.
    async with server.http(a_tok) as c:
        body = (await c.get(f"/v1/conversations/{conv}/messages")).json()
    assert {"user_id": b_id, "delivered_seq": seq, "read_seq": seq} in body["receipts"]


async def test_read_receipts_off_neither_sends_nor_sees(server):
    (a_id, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    async with server.http(b_tok) as c:
        await c.patch("/v1/me/privacy", json={"read_receipts": False})
    a, b = await server.client(a_tok), await server.client(b_tok)
    sent = await a.send_text("did you read this?", to=b_id)
    conv = sent["conversation_id"]
    await b.expect("deliver")
    await b.send({"type": "read", "conversation_id": conv, "seq": 1})
    r = await a.expect("receipt", user_id=b_id)
    assert r["delivered_seq"] == 1 and r["read_seq"] is None  # two grey ticks, never blue
    # Once delivered, reading reveals nothing to A: no receipt frame at all, so not even the moment.
    second = await a.send_text("and this one?", conversation_id=conv)
    await b.expect("deliver", seq=second["seq"])
    await b.send({"type": "ack", "conversation_id": conv, "seq": second["seq"]})
    await a.expect("receipt", user_id=b_id, delivered_seq=second["seq"])
    await b.send({"type": "read", "conversation_id": conv, "seq": second["seq"]})
    await a.no_frame("receipt", wait=0.5)
    # B does not see A's read receipts either.
    reply = await b.send_text("yes", conversation_id=conv)
    await a.expect("deliver", seq=reply["seq"])
    await a.send({"type": "read", "conversation_id": conv, "seq": reply["seq"]})
    r = await b.expect("receipt", user_id=a_id)
    assert r["read_seq"] is None
    # B's own devices still see B's own read position (unread counts stay in sync).
    own = await b.expect("receipt", user_id=b_id, read_seq=second["seq"])
    assert own["delivered_seq"] == second["seq"]


async def test_typing_reaches_the_other_member_only(server):
    (a_id, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    _, _, c_tok = await server.make_user("+201201234567", "Eve")
    a, b, eve = await server.client(a_tok), await server.client(b_tok), await server.client(c_tok)
    conv = (await a.send_text("hi", to=b_id))["conversation_id"]
    await a.send({"type": "typing", "conversation_id": conv, "state": "composing"})
    t = await b.expect("typing")
    assert t == {"type": "typing", "conversation_id": conv, "user_id": a_id, "state": "composing"}
    await a.no_frame("typing")
    await eve.send({"type": "typing", "conversation_id": conv, "state": "composing", "ref": "t1"})
    err = await eve.expect("error")
    assert err["code"] == "not_member" and err["ref"] == "t1"
    await b.no_frame("typing")


async def test_presence_respects_last_seen_privacy(server):
    (a_id, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a = await server.client(a_tok)
    await a.send({"type": "presence_subscribe", "user_ids": [b_id]})
    # Default "my contacts": B has not added A, so A sees nothing.
    assert (await a.expect("presence"))["status"] == "hidden"
    async with server.http(b_tok) as c:
        await c.post("/v1/contacts", json={"contacts": [{"phone": "+201001234567", "name": "Amal"}]})
    b = await server.client(b_tok)
    p = await a.expect("presence", user_id=b_id)
    assert p["status"] == "online"
    await b.close()
    p = await a.expect("presence", user_id=b_id)
    assert p["status"] == "offline" and p["last_seen"] is not None
    async with server.http(b_tok) as c:
        await c.patch("/v1/me/privacy", json={"last_seen": "nobody"})
    await a.send({"type": "presence_subscribe", "user_ids": [b_id]})
    p = await a.expect("presence", user_id=b_id)
    assert p["status"] == "hidden" and p["last_seen"] is None
    # While hidden, B coming and going sends A nothing at all.
    b = await server.client(b_tok)
    await b.close()
    await a.no_frame("presence", wait=0.5)
    async with server.http(b_tok) as c:
        await c.patch("/v1/me/privacy", json={"last_seen": "everyone"})
    b = await server.client(b_tok)
    p = await a.expect("presence", user_id=b_id)
    assert p["status"] == "online"
    assert a_id != b_id


async def test_timestamps_follow_sequence_order(server):
    (_, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a, b = await server.client(a_tok), await server.client(b_tok)
    for i in range(50):
        await a.send({"type": "send", "id": f"a{i}", "to": b_id, "content": {"type": "text", "text": "x"}})
    got = [await b.expect("deliver") for _ in range(50)]
    assert [f["seq"] for f in got] == list(range(1, 51))
    assert [f["ts"] for f in got] == sorted(f["ts"] for f in got)
    assert [f["id"] for f in got] == [f"a{i}" for i in range(50)]


async def test_conversation_list_and_history(server):
    (a_id, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a = await server.client(a_tok)
    for i in range(5):
        sent = await a.send_text(f"n{i}", to=b_id)
    conv = sent["conversation_id"]
    async with server.http(b_tok) as c:
        convs = (await c.get("/v1/conversations")).json()["conversations"]
        assert len(convs) == 1
        assert convs[0]["conversation_id"] == conv and convs[0]["last_seq"] == 5
        assert convs[0]["last_message"]["content"]["text"] == "n4"
        assert {m["user_id"] for m in convs[0]["members"]} == {a_id, b_id}
        page = (await c.get(f"/v1/conversations/{conv}/messages", params={"before": 4, "limit": 2})).json()
        assert [m["seq"] for m in page["messages"]] == [2, 3]
    _, _, eve_tok = await server.make_user("+201201234567", "Eve")
    async with server.http(eve_tok) as c:
        r = await c.get(f"/v1/conversations/{conv}/messages")
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_member"
        assert (await c.get("/v1/conversations")).json()["conversations"] == []


# -- bad input ------------------------------------------------------------------------------------------------


async def count_messages(server) -> int:
    from sqlalchemy import func, select

    from hudhud.store.schema import messages

    return await server.hub.db.read(lambda c: c.execute(select(func.count()).select_from(messages)).scalar_one())


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "bad_frame"),
        ('{"type":"launch"}', "unknown_frame"),
        ('{"type":"send","id":"x","to":"u1"}', "bad_frame"),
        ('{"type":"send","id":"x","to":"u1","content":42}', "invalid_request"),
        ('{"type":"send","id":"x","to":"unobody","content":{"type":"text","text":"hi"}}', "not_found"),
        ('{"type":"hello","v":1,"token":"again"}', "already_authenticated"),
        ('{"type":"ack","conversation_id":"cnothing","seq":1}', "not_member"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_up(server, raw, code):
    (_, _, a_tok), _ = await two_users(server)
    a = await server.client(a_tok)
    await a.send_raw(raw)
    err = await a.expect("error")
    assert err["code"] == code
    await a.send({"type": "ping", "ref": "still-there"})
    assert (await a.expect("pong"))["ref"] == "still-there"
    assert await count_messages(server) == 0


async def test_oversized_content_is_refused_and_not_stored(server):
    (_, _, a_tok), (b_id, _, _) = await two_users(server)
    a = await server.client(a_tok)
    await a.send(
        {"type": "send", "id": "big", "to": b_id, "ref": "r1", "content": {"type": "text", "text": "x" * (64 * 1024)}}
    )
    err = await a.expect("error")
    assert err["code"] == "content_too_large" and err["ref"] == "r1"
    ok = await a.send_text("small is fine", to=b_id)
    assert ok["seq"] == 1
    assert await count_messages(server) == 1


async def test_sending_into_someone_elses_conversation(server):
    (_, _, a_tok), (b_id, _, _) = await two_users(server)
    _, _, eve_tok = await server.make_user("+201201234567", "Eve")
    a, eve = await server.client(a_tok), await server.client(eve_tok)
    conv = (await a.send_text("private", to=b_id))["conversation_id"]
    await eve.send({"type": "send", "id": "intrude", "conversation_id": conv, "content": {"type": "text"}})
    assert (await eve.expect("error"))["code"] == "not_member"
    await eve.send({"type": "read", "conversation_id": conv, "seq": 1})
    assert (await eve.expect("error"))["code"] == "not_member"
    assert await count_messages(server) == 1


async def test_ack_beyond_the_last_message(server):
    (_, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a = await server.client(a_tok)
    conv = (await a.send_text("one", to=b_id))["conversation_id"]
    b = await server.client(b_tok)
    await b.send({"type": "ack", "conversation_id": conv, "seq": 99})
    assert (await b.expect("error"))["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("hello", "code", "close"),
    [
        ({"type": "hello", "v": 1, "token": "hh_wrong"}, "unauthorized", 4401),
        ({"type": "hello", "v": 2, "token": "whatever"}, "unsupported_version", 4400),
        ({"type": "send", "id": "x", "to": "u", "content": {}}, "not_authenticated", 4401),
        ("{garbage before hello", "bad_frame", 4401),
        ({"type": "no-such-frame"}, "unknown_frame", 4401),
    ],
)
async def test_bad_hello_closes(server, hello, code, close):
    c = await server.client("", hello=False)
    await (c.send_raw(hello) if isinstance(hello, str) else c.send(hello))
    assert (await c.expect("error"))["code"] == code
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.close_code == close


async def test_silent_connection_is_closed_after_hello_timeout(server, monkeypatch):
    from hudhud.web import ws

    monkeypatch.setattr(ws, "HELLO_TIMEOUT", 0.3)
    c = await server.client("", hello=False)
    # Pings do not buy time: the deadline is for a successful hello.
    await c.send({"type": "ping"})
    assert (await c.expect("error"))["code"] == "not_authenticated"
    await asyncio.wait_for(c.closed.wait(), 5)
    assert c.close_code == 4401


async def test_server_survives_garbage_and_serves_others(server):
    (_, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    for junk in ["", "null", "[]", '"str"', "{" * 1000, uuid.uuid4().hex]:
        c = await server.client(a_tok)
        await c.send_raw(junk)
        assert (await c.expect("error"))["code"] == "bad_frame"
    a, b = await server.client(a_tok), await server.client(b_tok)
    await a.send_text("still working", to=b_id)
    await b.expect("deliver")


async def test_turning_read_receipts_off_takes_effect_on_live_connections(server):
    (_, _, a_tok), (b_id, _, b_tok) = await two_users(server)
    a, b = await server.client(a_tok), await server.client(b_tok)
    first = await a.send_text("one", to=b_id)
    conv = first["conversation_id"]
    await b.expect("deliver", seq=first["seq"])
    await b.send({"type": "read", "conversation_id": conv, "seq": first["seq"]})
    assert (await a.expect("receipt", user_id=b_id, read_seq=first["seq"]))["delivered_seq"] == first["seq"]
    # A switches read receipts off while connected: from now on A sees no read positions of others.
    async with server.http(a_tok) as c:
        assert (await c.patch("/v1/me/privacy", json={"read_receipts": False})).status_code == 200
    second = await a.send_text("two", conversation_id=conv)
    await b.expect("deliver", seq=second["seq"])
    await b.send({"type": "read", "conversation_id": conv, "seq": second["seq"]})
    r = await a.expect("receipt", user_id=b_id, delivered_seq=second["seq"])
    assert r["read_seq"] is None
