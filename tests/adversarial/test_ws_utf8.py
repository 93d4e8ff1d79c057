"""A text message must be UTF-8 (RFC 6455): one that is not closes the connection with 1007, and nothing
of it is stored (it used to be stored with U+FFFD in place of the bad bytes)."""

from __future__ import annotations

import json

from tests.adversarial.rawws import BINARY, RawSocket, close_code, frame, text


async def test_invalid_utf8_in_a_text_message_closes_1007_and_stores_nothing(server):
    _, _, a_token = await server.make_user("+201001234567", "Amira")
    b_id, _, b_token = await server.make_user("+201101234567", "Badr")
    ws = await RawSocket.open(server.url)
    try:
        await ws.send(text({"type": "hello", "v": 1, "token": a_token}))
        bad = b'{"type":"send","id":"m1","to":"' + b_id.encode() + b'","content":{"type":"text","text":"a\xff\xfeb"}}'
        await ws.send(frame(bad))
        frames = await ws.read_frames()
        assert close_code(frames) == 1007
    finally:
        ws.close()
    async with server.http(b_token) as http:
        assert (await http.get("/v1/conversations")).json()["conversations"] == []


async def test_invalid_utf8_before_hello_also_closes_1007(server):
    ws = await RawSocket.open(server.url)
    try:
        await ws.send(frame(b'{"type":"hello","v":1,"token":"\xc3\x28"}'))
        assert close_code(await ws.read_frames()) == 1007
    finally:
        ws.close()


async def test_good_utf8_is_kept_and_a_binary_message_with_bad_utf8_is_a_bad_frame(server):
    _, _, a_token = await server.make_user("+201001234567", "Amira")
    b_id, _, _ = await server.make_user("+201101234567", "Badr")
    ws = await RawSocket.open(server.url)
    try:
        await ws.send(text({"type": "hello", "v": 1, "token": a_token}))
        good = {"type": "send", "id": "m1", "to": b_id, "ref": "s1", "content": {"type": "text", "text": "مرحبا 👋"}}
        await ws.send(frame(json.dumps(good, ensure_ascii=False).encode()))
        await ws.send(frame(b'{"type":"ping","ref":"\xff"}', BINARY))
        await ws.send(text({"type": "ping", "ref": "p"}))
        got = [json.loads(p) for op, p in await ws.read_frames(timeout=1.0) if op == 1]
        kinds = [(f["type"], f.get("ref"), f.get("code")) for f in got if f["type"] in ("sent", "error", "pong")]
        assert kinds == [("sent", "s1", None), ("error", None, "bad_frame"), ("pong", "p", None)]
    finally:
        ws.close()
