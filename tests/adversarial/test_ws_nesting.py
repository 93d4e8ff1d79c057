"""Deeply nested content: refused with a stable error when sent, and harmless when an older version stored it.

JSON nested a few hundred levels deep breaks recursive encoders and parsers (orjson stops at 255 levels).
A stranger could send it to anyone; then every read that serialised it (the chat list, the history page, the
report) failed for both members. Content is at most 32 levels deep and no object or array has more than
1024 members (docs/protocol.md, section 5.2)."""

from __future__ import annotations

import json

import pytest

from hudhud.protocol.content import MAX_DEPTH, MAX_ITEMS
from hudhud.store import messages as q


def nested(depth: int) -> str:
    """A JSON object `depth` containers deep, the content object itself being level 1."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


def send_frame(msg_id: str, to: str, content_json: str, ref: str) -> str:
    return f'{{"type":"send","id":"{msg_id}","to":"{to}","ref":"{ref}","content":{content_json}}}'


async def pair(server):
    a_id, _, a_token = await server.make_user("+201001234567", "Amira")
    b_id, _, b_token = await server.make_user("+201101234567", "Badr")
    return (a_id, a_token), (b_id, b_token)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100, 252, 253, 254, 255, 600, 1000, 1022])
async def test_deep_content_is_refused_and_the_connection_stays_up(server, depth):
    (_, a_token), (b_id, b_token) = await pair(server)
    a = await server.client(a_token)
    await a.send_raw(send_frame("deep", b_id, nested(depth), "s1"))
    err = await a.expect("error", ref="s1")
    assert err["code"] == "invalid_request"
    await a.send({"type": "ping", "ref": "p"})
    await a.expect("pong", ref="p")
    # Nothing was stored: the recipient has no conversation, and the sender can go on.
    async with server.http(b_token) as http:
        assert (await http.get("/v1/conversations")).json()["conversations"] == []
    sent = await a.send_text("still here", to=b_id)
    assert sent["seq"] == 1


async def test_content_at_the_depth_limit_is_stored_and_delivered(server):
    (_, a_token), (b_id, b_token) = await pair(server)
    a = await server.client(a_token)
    await a.send_raw(send_frame("ok", b_id, nested(MAX_DEPTH), "s1"))
    await a.expect("sent", ref="s1")
    b = await server.client(b_token)
    got = await b.expect("deliver")
    assert json.dumps(got["content"], separators=(",", ":")) == nested(MAX_DEPTH)


@pytest.mark.parametrize(
    "content",
    [
        '{"items":[' + ",".join(["1"] * (MAX_ITEMS + 1)) + "]}",
        "{" + ",".join(f'"k{i}":1' for i in range(MAX_ITEMS + 1)) + "}",
    ],
    ids=["long array", "many keys"],
)
async def test_content_with_too_many_members_is_refused(server, content):
    (_, a_token), (b_id, _) = await pair(server)
    a = await server.client(a_token)
    await a.send_raw(send_frame("wide", b_id, content, "s1"))
    assert (await a.expect("error", ref="s1"))["code"] == "invalid_request"


async def test_commas_inside_strings_are_not_members(server):
    (_, a_token), (b_id, _) = await pair(server)
    a = await server.client(a_token)
    text = ", ".join(["word"] * 3000) + " [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{{{{{{{{{{"
    await a.send({"type": "send", "id": "t", "to": b_id, "ref": "s1", "content": {"type": "text", "text": text}})
    await a.expect("sent", ref="s1")


async def test_deep_broadcast_is_refused(server):
    (_, a_token), (b_id, _) = await pair(server)
    async with server.http(a_token) as http:
        r = await http.post("/v1/broadcast-lists", json={"name": "all", "members": [b_id]})
        assert r.status_code == 201, r.text
        list_id = r.json()["list_id"]
    a = await server.client(a_token)
    await a.send_raw(f'{{"type":"broadcast","id":"b","list_id":"{list_id}","ref":"b1","content":{nested(300)}}}')
    assert (await a.expect("error", ref="b1"))["code"] == "invalid_request"
    await a.send({"type": "ping", "ref": "p"})
    await a.expect("pong", ref="p")


async def test_deep_content_stored_by_an_older_version_breaks_no_read(server):
    """A row written before the limit existed (put straight into the database here) is served as
    `{"type": "unavailable"}` everywhere: the chat list, history, delivery, forwarding and report evidence."""
    (a_id, a_token), (b_id, b_token) = await pair(server)
    a = await server.client(a_token)
    first = await a.send_text("hello", to=b_id)
    conv_id = first["conversation_id"]
    hub = server.hub
    legacy = [nested(253).encode(), nested(700).encode(), ('{"x":[' + ",".join(["0"] * 5000) + "]}").encode()]

    def insert(conn):
        for i, content in enumerate(legacy):
            q.append_message(conn, conv_id, a_id, "dold", f"old{i}", content, hub.clock.now())

    await hub.db.write(insert)
    last = await hub.db.read(lambda c: q.get_conversation(c, conv_id))
    assert last is not None and last.last_seq == 4
    unavailable = {"type": "unavailable"}
    for token in (a_token, b_token):
        async with server.http(token) as http:
            r = await http.get("/v1/conversations")
            assert r.status_code == 200, r.text
            assert r.json()["conversations"][0]["last_message"]["content"] == unavailable
            r = await http.get(f"/v1/conversations/{conv_id}/messages")
            assert r.status_code == 200, r.text
            contents = [m["content"] for m in r.json()["messages"]]
            assert contents == [{"type": "text", "text": "hello"}, unavailable, unavailable, unavailable]
    b = await server.client(b_token)
    delivered = [await b.expect("deliver", seq=s) for s in (1, 2, 3, 4)]
    assert [d["content"] for d in delivered[1:]] == [unavailable] * 3
    async with server.http(b_token) as http:
        r = await http.post("/v1/reports", json={"conversation_id": conv_id, "messages": [2, 3, 4]})
        assert r.status_code == 201, r.text
    await b.send(
        {
            "type": "forward",
            "id": "f",
            "source": {"conversation_id": conv_id, "seq": 2},
            "targets": [{"to": a_id}],
            "ref": "f1",
        }
    )
    await b.expect("sent", ref="f1")
