"""Errors as docs/protocol.md describes them: the code it names for each fault, `ref` echoed only when it is
a string or an integer, replies in the order of the frames they answer, and frames sent right after `hello`
handled after it."""

from __future__ import annotations

import pytest


async def pair(server):
    a_id, _, a_token = await server.make_user("+201001234567", "Amira")
    b_id, _, b_token = await server.make_user("+201101234567", "Badr")
    return (a_id, a_token), (b_id, b_token)


@pytest.mark.parametrize("client_id", ["", "x" * 65, "tab\there"])
async def test_a_bad_client_message_id_is_invalid_request(server, client_id):
    (_, a_token), (b_id, _) = await pair(server)
    a = await server.client(a_token)
    await a.send({"type": "send", "id": client_id, "to": b_id, "content": {"type": "text"}, "ref": "s"})
    assert (await a.expect("error", ref="s"))["code"] == "invalid_request"


async def test_forward_and_broadcast_ids_too_long_are_invalid_request(server):
    (a_id, a_token), (b_id, _) = await pair(server)
    a = await server.client(a_token)
    sent = await a.send_text("hi", to=b_id)
    source = {"conversation_id": sent["conversation_id"], "seq": sent["seq"]}
    await a.send({"type": "forward", "id": "f" * 61, "source": source, "targets": [{"to": b_id}], "ref": "f"})
    assert (await a.expect("error", ref="f"))["code"] == "invalid_request"
    async with server.http(a_token) as http:
        list_id = (await http.post("/v1/broadcast-lists", json={"name": "l", "members": [b_id]})).json()["list_id"]
    await a.send({"type": "broadcast", "id": "b" * 31, "list_id": list_id, "content": {}, "ref": "b"})
    assert (await a.expect("error", ref="b"))["code"] == "invalid_request"
    await a.send({"type": "send", "id": 5, "to": a_id, "content": {}, "ref": "n"})
    assert (await a.expect("error", ref="n"))["code"] == "bad_frame"  # not a string at all


@pytest.mark.parametrize("ref", [True, False, 1.5, [1], {"r": 1}, "r" * 65])
async def test_a_ref_that_is_not_a_short_string_or_an_integer_is_not_echoed(server, ref):
    (_, a_token), _ = await pair(server)
    a = await server.client(a_token)
    await a.send({"type": "ping", "ref": ref})
    assert (await a.expect("pong"))["ref"] is None
    await a.send({"type": "teleport", "ref": ref})
    assert (await a.expect("error"))["ref"] is None


async def test_replies_come_in_frame_order(server):
    """An error known only after a commit (an ack past the end, a send into a conversation I am not in) comes
    before the replies to the frames that followed it."""
    (_, a_token), (b_id, _) = await pair(server)
    a = await server.client(a_token)
    conv = (await a.send_text("hi", to=b_id))["conversation_id"]
    frames = [
        {"type": "ack", "conversation_id": conv, "seq": 99, "ref": 1},
        {"type": "ping", "ref": 2},
        {"type": "send", "id": "x1", "conversation_id": "cnosuchconv", "content": {}, "ref": 3},
        {"type": "teleport", "ref": 4},
        {"type": "send", "id": "x2", "to": b_id, "content": {}, "ref": 5},
        {"type": "read", "conversation_id": "cnosuchconv", "seq": 1, "ref": 6},
        {"type": "ping", "ref": 7},
    ]
    for f in frames:
        await a.send(f)
    await a.expect("pong", ref=7)
    replies = [f for f in a.frames if f.get("ref") in range(1, 8) and f["type"] in ("error", "pong", "sent")]
    assert [(f["ref"], f["type"], f.get("code")) for f in replies] == [
        (1, "error", "invalid_request"),
        (2, "pong", None),
        (3, "error", "not_member"),
        (4, "error", "unknown_frame"),
        (5, "sent", None),
        (6, "error", "not_member"),
        (7, "pong", None),
    ]


async def test_frames_sent_right_after_hello_are_handled_after_it(server):
    (_, a_token), (b_id, _) = await pair(server)
    a = await server.client(a_token, hello=False)
    await a.send({"type": "hello", "v": 1, "token": a_token})
    await a.send({"type": "send", "id": "early", "to": b_id, "content": {}, "ref": "s"})
    await a.send({"type": "ping", "ref": "p"})
    await a.expect("pong", ref="p")
    kinds = [f["type"] for f in a.frames if f["type"] in ("welcome", "sent", "pong")]
    assert kinds == ["welcome", "sent", "pong"]


async def test_frames_after_a_failed_hello_are_dropped_with_the_connection(server):
    _, (b_id, _) = await pair(server)
    a = await server.client("", hello=False)
    await a.send({"type": "hello", "v": 1, "token": "hh_wrong"})
    await a.send({"type": "send", "id": "early", "to": b_id, "content": {}, "ref": "s"})
    assert (await a.expect("error"))["code"] == "unauthorized"
    await a.closed.wait()
    assert a.close_code == 4401 and not a.take_all("sent")
