"""Blocking, strangers, spam limits, reports and moderation, automatic throttling, forwarding, broadcast lists."""

import os
import subprocess
import sys

from sqlalchemy import func, select

from hudhud.store.schema import conversations, messages
from tests.groupkit import people
from tests.support import database_env


async def count(server, table, *where):
    q = select(func.count()).select_from(table)
    for w in where:
        q = q.where(w)
    return await server.hub.db.read(lambda c: c.execute(q).scalar_one())


async def test_block_is_silent_and_nothing_reaches_the_blocker(server):
    amal, badr = await people(server, "amal", "badr")
    a, b = await amal.client(), await badr.client()
    conv = (await b.send_text("hello", to=amal.id))["conversation_id"]
    await a.expect("deliver", conversation_id=conv)
    assert (await amal.call("POST", "/v1/blocks", json={"user_id": badr.id})).status_code == 204
    # Badr is not told: his send is acknowledged as always (one tick) ...
    sent = await b.send_text("are you there?", conversation_id=conv)
    assert sent["duplicate"] is False
    # ... but Amal receives nothing, now or on reconnect, and it is not in her history or chat list.
    await a.no_frame("deliver", wait=0.5)
    await b.send({"type": "typing", "conversation_id": conv, "state": "composing"})
    await a.no_frame("typing", wait=0.3)
    await a.close()
    a2 = await amal.client()
    assert [f["seq"] for f in a2.take_all("deliver", conversation_id=conv)] == [1]
    hist = (await amal.call("GET", f"/v1/conversations/{conv}/messages")).json()["messages"]
    assert [m["content"]["text"] for m in hist] == ["hello"]
    chats = (await amal.call("GET", "/v1/conversations")).json()["conversations"]
    assert chats[0]["last_message"]["content"]["text"] == "hello"
    # Badr sees his own message in his history as sent.
    mine = (await badr.call("GET", f"/v1/conversations/{conv}/messages")).json()["messages"]
    assert [m["content"]["text"] for m in mine] == ["hello", "are you there?"]
    # Unblocking does not release what was sent meanwhile; new messages flow again.
    assert (await amal.call("DELETE", f"/v1/blocks/{badr.id}")).status_code == 204
    again = await b.send_text("hi again", conversation_id=conv)
    got = await a2.expect("deliver", conversation_id=conv)
    assert got["seq"] == again["seq"] and got["content"]["text"] == "hi again"


async def test_blocked_user_sees_no_presence_or_profile(server):
    amal, badr = await people(server, "amal", "badr")
    await amal.privacy(last_seen="everyone")
    async with amal.http() as c:
        await c.patch("/v1/me", json={"about": "at the office"})
    await amal.call("POST", "/v1/blocks", json={"user_id": badr.id})
    b = await badr.client()
    await b.send({"type": "presence_subscribe", "user_ids": [amal.id]})
    assert (await b.expect("presence"))["status"] == "hidden"
    await amal.client()
    await b.no_frame("presence", wait=0.5)
    profile = (await badr.call("GET", f"/v1/users/{amal.id}")).json()
    assert profile["about"] == "" and profile["display_name"] == ""
    assert (await amal.call("GET", "/v1/blocks")).json() == {"blocked": [badr.id]}


async def test_first_message_from_a_stranger_is_marked(server):
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    await amal.knows(badr)
    a = await amal.client()
    b, c = await badr.client(), await chadi.client()
    await b.send_text("from a contact", to=amal.id)
    assert "stranger" not in await a.expect("deliver")
    await c.send_text("from a stranger", to=amal.id)
    first = await a.expect("deliver")
    assert first["stranger"] is True
    await c.send_text("second", to=amal.id)
    assert "stranger" not in await a.expect("deliver")
    # The sender is not told: that would reveal whether Amal saved Chadi's number.
    conv = first["conversation_id"]
    mine = (await chadi.call("GET", f"/v1/conversations/{conv}/messages")).json()["messages"]
    assert all("stranger" not in m for m in mine)
    theirs = (await amal.call("GET", f"/v1/conversations/{conv}/messages")).json()["messages"]
    assert [m.get("stranger", False) for m in theirs] == [True, False]


async def test_spammer_is_stopped_at_the_daily_limit_of_new_chats(server):
    """A scripted spammer with a harvested list of 1,000 numbers reaches 50 (the default limit) and no more."""
    (spammer,) = await people(server, "amal")
    targets = [(await server.make_user(f"+2010555{i:05d}"))[0] for i in range(1000)]
    s = await spammer.client()
    for i, target in enumerate(targets):
        await s.send({"type": "send", "id": f"m{i}", "to": target, "content": {"type": "text", "text": "ad"}})
    acks = [await s.expect("sent", id=f"m{i}") for i in range(50)]
    errors = [await s.expect("error", timeout=10) for _ in range(950)]
    assert len(acks) == 50
    assert {e["code"] for e in errors} == {"new_chat_limit"}
    assert errors[0]["retry_after"] > 0
    assert await count(server, conversations, conversations.c.kind == "direct") == 50
    assert await count(server, messages) == 50
    # Writing to someone who has the spammer's number is not a new chat with a stranger: it goes through.
    friend_id, _, friend_token = await server.make_user("+201155500000")
    async with server.http(friend_token) as c:
        await c.post("/v1/contacts", json={"contacts": [{"phone": spammer.phone, "name": "Amal"}]})
    ok = await s.send_text("hi friend", to=friend_id)
    assert ok["seq"] == 1


async def test_message_rate_limit(server_factory):
    async with server_factory(messages_per_minute=10) as server:
        amal, badr = await people(server, "amal", "badr")
        a = await amal.client()
        for i in range(12):
            await a.send({"type": "send", "id": f"r{i}", "to": badr.id, "content": {"type": "text", "text": "x"}})
        acks = [await a.expect("sent", id=f"r{i}") for i in range(10)]
        err = await a.expect("error")
        assert err["code"] == "rate_limited" and 0 < err["retry_after"] <= 6
        assert len(acks) == 10
        assert await count(server, messages) == 10


async def test_reports_and_operator_actions(server, tmp_path):
    amal, badr = await people(server, "amal", "badr")
    b = await badr.client()
    conv = None
    for i in range(3):
        conv = (await b.send_text(f"scam {i}", to=amal.id))["conversation_id"]
    r = await amal.call(
        "POST",
        "/v1/reports",
        json={"user_id": badr.id, "conversation_id": conv, "reason": "scam", "messages": [1, 3], "block": True},
    )
    assert r.status_code == 201
    r = await amal.call("POST", "/v1/reports", json={"conversation_id": conv, "messages": [99]})
    assert r.status_code == 400
    reports = await server.hub.safety.reports()
    assert len(reports) == 1
    assert [e["content"]["text"] for e in reports[0].evidence] == ["scam 0", "scam 2"]
    assert (await amal.call("GET", "/v1/blocks")).json()["blocked"] == [badr.id]
    # The operator suspends the account: its live connection can no longer send, and it cannot log in.
    user = await server.hub.safety.moderate(badr.id, "suspend")
    assert user.status == "suspended"
    await b.send({"type": "send", "id": "after", "to": amal.id, "content": {"type": "text", "text": "x"}})
    assert (await b.expect("error"))["code"] == "account_suspended"
    r = await badr.call("GET", "/v1/me")
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_suspended"
    # Nor can it log in again by SMS.
    async with server.http() as c:
        await c.post("/v1/auth/code", json={"phone": badr.phone})
        r = await c.post("/v1/auth/verify", json={"phone": badr.phone, "code": server.codes[badr.phone]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "account_suspended"
    await server.hub.safety.moderate(badr.phone, "restore")
    assert (await badr.call("GET", "/v1/me")).status_code == 200
    assert await server.hub.safety.reports() == []  # restoring closes the reports
    assert len(await server.hub.safety.reports(include_closed=True)) == 1


async def test_many_complaints_throttle_an_account(server_factory):
    async with server_factory(complaint_threshold=3, new_stranger_chats_per_day=50) as server:
        spammer, a, b, c, d = await people(server, "amal", "badr", "chadi", "dina", "ehab")
        s = await spammer.client()
        for victim in (a, b):
            await s.send_text("promo", to=victim.id)
            await victim.call("POST", "/v1/blocks", json={"user_id": spammer.id})
        await s.send_text("promo", to=c.id)  # two complaints: not yet throttled
        await c.call("POST", "/v1/reports", json={"user_id": spammer.id, "reason": "spam"})
        user = await server.hub.accounts.get_user(spammer.id)
        assert user.throttled_until is not None
        await s.send({"type": "send", "id": "next", "to": d.id, "content": {"type": "text", "text": "promo"}})
        assert (await s.expect("error"))["code"] == "new_chat_limit"


def test_admin_cli_reports_and_suspend(tmp_path):
    data = tmp_path / "var"
    cli = [sys.executable, "-m", "hudhud.cli", "admin"]

    env = {**os.environ, **database_env(data)}

    def run(*args):
        return subprocess.run(
            [*cli, *args, "--data-dir", str(data)], env=env, capture_output=True, text=True, check=True
        ).stdout

    subprocess.run(
        [sys.executable, "-m", "hudhud.cli", "admin", "create-user", "+201001234567", "--data-dir", str(data)],
        env=env,
        check=True,
        capture_output=True,
    )
    assert "no open reports" in run("reports")
    assert "warnings 1" in run("warn", "01001234567")
    assert "status suspended" in run("suspend", "+201001234567")
    assert "status active" in run("restore", "+201001234567")


async def test_forwarding_counts_hops_and_limits_viral_messages(server):
    amal, badr = await people(server, "amal", "badr")
    a, b = await amal.client(), await badr.client()
    conv = (await a.send_text("chain letter", to=badr.id))["conversation_id"]
    # Forward it around: each hop adds one to the count.
    source = {"conversation_id": conv, "seq": 1}
    for hop in range(1, 6):
        await b.send({"type": "forward", "id": f"f{hop}", "source": source, "targets": [{"to": amal.id}]})
        sent = await b.expect("sent", id=f"f{hop}#0")
        got = await a.expect("deliver", seq=sent["seq"])
        assert got["forward_count"] == hop and got["content"]["text"] == "chain letter"
        source = {"conversation_id": conv, "seq": sent["seq"]}
    # Now it has been forwarded five times: one chat at a time.
    _, _, ctok = await server.make_user("+201201234567")
    await b.send(
        {"type": "forward", "id": "many", "source": source, "targets": [{"to": amal.id}, {"conversation_id": conv}]}
    )
    assert (await b.expect("error"))["code"] == "forward_limit"
    await b.send({"type": "forward", "id": "one", "source": source, "targets": [{"conversation_id": conv}]})
    assert (await b.expect("sent", id="one#0"))["seq"] > 0
    # A message one cannot see cannot be forwarded.
    c = await server.client(ctok)
    await c.send({"type": "forward", "id": "x", "source": source, "targets": [{"to": amal.id}]})
    assert (await c.expect("error"))["code"] == "not_found"


async def test_broadcast_reaches_only_those_who_have_the_sender(server):
    amal, badr, chadi, dina = await people(server, "amal", "badr", "chadi", "dina")
    await badr.knows(amal)
    await chadi.knows(amal)
    await chadi.call("POST", "/v1/blocks", json={"user_id": amal.id})  # has her, but blocked her
    r = await amal.call(
        "POST", "/v1/broadcast-lists", json={"name": "Customers", "members": [badr.id, chadi.id, dina.id]}
    )
    list_id = r.json()["list_id"]
    b, d = await badr.client(), await dina.client()
    a = await amal.client()
    await a.send({"type": "broadcast", "id": "bc1", "list_id": list_id, "content": {"type": "text", "text": "sale"}})
    done = await a.expect("broadcast_sent")
    # Every recipient's copy is stored and answered alike: the sender cannot tell who saved her number.
    assert done["total"] == 3 and done["reached"] == 3
    assert {m["user_id"] for m in done["messages"]} == {badr.id, chadi.id, dina.id}
    got = await b.expect("deliver")
    to_badr = next(m for m in done["messages"] if m["user_id"] == badr.id)
    assert got["content"]["text"] == "sale" and got["conversation_id"] == to_badr["conversation_id"]
    await d.no_frame("deliver", wait=0.3)
    # Only Badr has it: the others have no chat with Amal at all, and their copies stay with her.
    for person in (chadi, dina):
        listed = (await person.call("GET", "/v1/conversations")).json()["conversations"]
        assert listed == []
    # Sent again with the same id: no second copy.
    await a.send({"type": "broadcast", "id": "bc1", "list_id": list_id, "content": {"type": "text", "text": "sale"}})
    assert (await a.expect("broadcast_sent"))["messages"] == done["messages"]
    await b.no_frame("deliver", wait=0.3)
    lists = (await amal.call("GET", "/v1/broadcast-lists")).json()["lists"]
    assert lists[0]["name"] == "Customers" and len(lists[0]["members"]) == 3
    r = await badr.call("PUT", f"/v1/broadcast-lists/{list_id}/members", json={"members": []})
    assert r.status_code == 404
