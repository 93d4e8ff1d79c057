"""Pinned, archived and muted chats (docs/protocol.md 3.13a), over the real server: every rule a user could break
is broken here once, and my other devices learn each change. Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from hudhud.clock import ManualClock

A, B, C = "+201001230001", "+201001230002", "+201001230003"


@pytest.fixture
async def server(server_factory: Any, database_url: str) -> Any:
    """The real server, once on SQLite and once on PostgreSQL."""
    async with server_factory(database_url=database_url) as s:
        yield s


async def chat_with(server: Any, token: str, to: str, text: str = "hi") -> str:
    c = await server.client(token)
    sent = await c.send_text(text, to=to)
    await c.close()
    conv: str = sent["conversation_id"]
    return conv


async def patch(server: Any, token: str, conv: str, body: Any) -> Any:
    async with server.http(token) as h:
        return await h.patch(f"/v1/conversations/{conv}/state", json=body)


async def listed(server: Any, token: str) -> dict[str, dict[str, Any]]:
    async with server.http(token) as h:
        r = await h.get("/v1/conversations")
    assert r.status_code == 200, r.text
    return {c["conversation_id"]: c for c in r.json()["conversations"]}


async def test_pin_archive_mute_round_trip_and_other_devices_get_the_frame(server_factory, database_url):
    clock = ManualClock()
    async with server_factory(clock=clock, database_url=database_url) as server:
        a_id, _, a_tok = await server.make_user(A, "Amal")
        b_id, _, b_tok = await server.make_user(B, "Badr")
        conv = await chat_with(server, a_tok, b_id)
        _, a_tok2 = await server.add_device(A, "laptop")
        other = await server.client(a_tok2)

        entry = (await listed(server, a_tok))[conv]
        assert {k: entry[k] for k in ("pinned", "pinned_at", "archived", "muted_until")} == {
            "pinned": False,
            "pinned_at": None,
            "archived": False,
            "muted_until": None,
        }

        r = await patch(server, a_tok, conv, {"pinned": True})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "conversation_id": conv,
            "pinned": True,
            "pinned_at": clock.now(),
            "archived": False,
            "muted_until": None,
        }
        frame = await other.expect("chat_state", conversation_id=conv)
        assert frame["pinned"] is True and frame["pinned_at"] == clock.now() and frame["archived"] is False

        until = clock.now() + 8 * 3600
        r = await patch(server, a_tok, conv, {"muted_until": until})
        assert r.json()["muted_until"] == until and r.json()["pinned"] is True  # the rest unchanged
        assert (await other.expect("chat_state", conversation_id=conv, muted_until=until))["pinned"] is True
        assert (await listed(server, a_tok2))[conv]["muted_until"] == until

        r = await patch(server, a_tok, conv, {"muted_until": "always"})
        assert r.json()["muted_until"] == "always"
        await other.expect("chat_state", conversation_id=conv, muted_until="always")
        r = await patch(server, a_tok, conv, {"muted_until": None})
        assert r.json()["muted_until"] is None
        await other.expect("chat_state", conversation_id=conv, muted_until=None)

        # Archiving unpins; the other member's view is untouched.
        r = await patch(server, a_tok, conv, {"archived": True})
        assert r.json() | {"conversation_id": conv} == {
            "conversation_id": conv,
            "pinned": False,
            "pinned_at": None,
            "archived": True,
            "muted_until": None,
        }
        await other.expect("chat_state", conversation_id=conv, archived=True, pinned=False)
        assert (await listed(server, b_tok))[conv]["archived"] is False

        # A new message keeps an archived chat archived (as WhatsApp's "keep chats archived").
        await chat_with(server, b_tok, a_id, "still there?")
        assert (await listed(server, a_tok))[conv]["archived"] is True

        # Pinning takes it out of the archive. Saying again what is so changes nothing and sends no frame.
        r = await patch(server, a_tok, conv, {"pinned": True})
        assert r.json()["archived"] is False and r.json()["pinned"] is True
        await other.expect("chat_state", conversation_id=conv, pinned=True)
        pinned_at = r.json()["pinned_at"]
        clock.advance(10)
        r = await patch(server, a_tok, conv, {"pinned": True, "archived": False})
        assert r.status_code == 200 and r.json()["pinned_at"] == pinned_at
        r = await patch(server, a_tok, conv, {})
        assert r.status_code == 200 and r.json()["pinned"] is True
        await other.no_frame("chat_state")


async def test_a_mute_that_has_run_out_reads_as_not_muted(server_factory, database_url):
    clock = ManualClock()
    async with server_factory(clock=clock, database_url=database_url) as server:
        _, _, a_tok = await server.make_user(A)
        b_id, _, _ = await server.make_user(B)
        conv = await chat_with(server, a_tok, b_id)
        r = await patch(server, a_tok, conv, {"muted_until": clock.now() + 60})
        assert r.json()["muted_until"] == clock.now() + 60
        clock.advance(61)
        assert (await listed(server, a_tok))[conv]["muted_until"] is None


async def test_at_most_three_pinned(server_factory, database_url):
    async with server_factory(database_url=database_url) as server:
        _, _, a_tok = await server.make_user(A)
        others = [(await server.make_user(f"+20100123100{i}"))[0] for i in range(5)]
        convs = [await chat_with(server, a_tok, o) for o in others]
        for conv in convs[:3]:
            assert (await patch(server, a_tok, conv, {"pinned": True})).status_code == 200
        r = await patch(server, a_tok, convs[3], {"pinned": True})
        assert r.status_code == 409 and r.json()["error"]["code"] == "pin_limit", r.text
        assert (await listed(server, a_tok))[convs[3]]["pinned"] is False  # nothing half-written
        # Archiving a pinned chat frees its place; so does unpinning.
        assert (await patch(server, a_tok, convs[0], {"archived": True})).status_code == 200
        assert (await patch(server, a_tok, convs[3], {"pinned": True})).status_code == 200
        assert (await patch(server, a_tok, convs[4], {"pinned": True})).status_code == 409
        assert (await patch(server, a_tok, convs[1], {"pinned": False})).status_code == 200
        assert (await patch(server, a_tok, convs[4], {"pinned": True})).status_code == 200
        pinned = {c for c, e in (await listed(server, a_tok)).items() if e["pinned"]}
        assert pinned == {convs[2], convs[3], convs[4]}


async def test_only_a_member_has_a_state(server_factory, database_url):
    async with server_factory(database_url=database_url) as server:
        _, _, a_tok = await server.make_user(A)
        b_id, _, _ = await server.make_user(B)
        _, _, c_tok = await server.make_user(C)
        conv = await chat_with(server, a_tok, b_id)
        watcher = await server.client(c_tok)
        for body in ({"pinned": True}, {"archived": True}, {"muted_until": "always"}, {}):
            r = await patch(server, c_tok, conv, body)
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_member", r.text
        r = await patch(server, a_tok, "cnosuchconversation", {"pinned": True})
        assert r.status_code == 403 and r.json()["error"]["code"] == "not_member"
        async with server.http() as h:
            assert (await h.patch(f"/v1/conversations/{conv}/state", json={"pinned": True})).status_code == 401
        # My change is mine: the other member's devices and strangers get no frame.
        assert (await patch(server, a_tok, conv, {"pinned": True})).status_code == 200
        await watcher.no_frame("chat_state")


@pytest.mark.parametrize(
    "body",
    [
        {"pinned": True, "archived": True},  # both at once
        {"pinned": 1},  # strict types: 1 is not true
        {"archived": "yes"},
        {"muted_until": "forever"},
        {"muted_until": 1},  # long past
        {"muted_until": 253402300799},  # "always" by another name: say "always"
        {"muted_until": True},
        {"pinned": None},
    ],
)
async def test_bad_input(server, body):
    _, _, a_tok = await server.make_user(A)
    b_id, _, _ = await server.make_user(B)
    conv = await chat_with(server, a_tok, b_id)
    r = await patch(server, a_tok, conv, body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", (body, r.text)
    entry = (await listed(server, a_tok))[conv]
    assert (entry["pinned"], entry["archived"], entry["muted_until"]) == (False, False, None)


async def test_a_device_that_was_away_reads_the_state_on_reconnect(server):
    _, _, a_tok = await server.make_user(A)
    b_id, _, _ = await server.make_user(B)
    conv = await chat_with(server, a_tok, b_id)
    _, a_tok2 = await server.add_device(A, "laptop")  # not connected while the change happens
    assert (await patch(server, a_tok, conv, {"archived": True, "muted_until": "always"})).status_code == 200
    entry = (await listed(server, a_tok2))[conv]
    assert entry["archived"] is True and entry["muted_until"] == "always"


async def test_deleting_my_account_deletes_my_chat_states(server):
    a_id, _, a_tok = await server.make_user(A)
    b_id, _, b_tok = await server.make_user(B)
    conv = await chat_with(server, a_tok, b_id)
    assert (await patch(server, a_tok, conv, {"pinned": True})).status_code == 200
    assert (await patch(server, b_tok, conv, {"archived": True})).status_code == 200
    async with server.http(a_tok) as h:
        assert (await h.request("DELETE", "/v1/me", json={"phone": A})).status_code == 204
    from hudhud.store import chatstate

    assert await server.hub.db.read(lambda c: chatstate.for_user(c, a_id)) == {}
    assert (await server.hub.db.read(lambda c: chatstate.for_user(c, b_id)))[conv].archived is True
