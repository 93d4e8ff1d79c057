"""Consent and abuse, attacked the way outside abusers did: a harvester, a marketer with a bought list, a blocked
user comparing answers, an invitation spammer, a many-account discoverer, a complaint brigade, and a sender
probing who saved their number. Each abuser controls their own account, address book, devices and accounts;
only the other person's choices may let them through."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from hudhud.store.schema import conversations, invitations, messages
from tests.groupkit import Person, create_group, people
from tests.support import ServerHandle


async def person(server: ServerHandle, phone: str, name: str = "") -> Person:
    user_id, _, token = await server.make_user(phone, name)
    p = Person.__new__(Person)
    p.server, p.name, p.id, p.token, p.phone = server, name, user_id, token, phone
    return p


async def crowd(server: ServerHandle, n: int, prefix: str = "+2012777") -> list[Person]:
    return [await person(server, f"{prefix}{i:05d}", f"p{i}") for i in range(n)]


async def count(server: ServerHandle, table: Any, *where: Any) -> int:
    return int(
        await server.hub.db.read(
            lambda c: c.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
        )
    )


async def save_numbers(who: Person, numbers: list[str]) -> None:
    r = await who.call("POST", "/v1/contacts", json={"contacts": [{"phone": n, "name": ""} for n in numbers]})
    assert r.status_code == 200, r.text


# -- 1. a user id must not turn into a phone number ------------------------------------------------------------


async def test_a_stranger_who_writes_first_does_not_get_the_number(server):
    """The harvester joins a public group by link, writes to every member by user id, and looks them up. No
    number comes back, from any endpoint, and no discovery budget was needed."""
    owner, badr, chadi = await people(server, "amal", "badr", "chadi")
    await badr.knows(owner)
    await chadi.knows(owner)
    group = await create_group(owner, "Buy and sell", badr, chadi)
    link = (await owner.call("POST", f"/v1/groups/{group['conversation_id']}/links", json={})).json()["code"]
    harvester = await person(server, "+201099988877", "Deals")
    assert (await harvester.call("POST", "/v1/groups/join", json={"code": link})).status_code == 200
    info = (await harvester.call("GET", f"/v1/groups/{group['conversation_id']}")).json()
    member_ids = [m["user_id"] for m in info["members"] if m["user_id"] != harvester.id]
    h = await harvester.client()
    for uid in member_ids:
        await h.send_text("hello friend", to=uid)
    for uid in member_ids:
        profile = (await harvester.call("GET", f"/v1/users/{uid}")).json()
        assert profile["phone"] is None, profile
    listed = (await harvester.call("GET", "/v1/conversations")).json()["conversations"]
    shown = {m["user_id"]: m["phone"] for c in listed for m in c["members"] if m["user_id"] != harvester.id}
    assert set(shown) == set(member_ids)
    assert set(shown.values()) == {None}
    # A member who answers chooses to show their number to the one they write to, and only to them.
    b = await badr.client()
    conv = next(
        c["conversation_id"]
        for c in listed
        if c["kind"] == "direct" and any(m["user_id"] == badr.id for m in c["members"])
    )
    await b.send_text("who is this?", conversation_id=conv)
    assert (await harvester.call("GET", f"/v1/users/{badr.id}")).json()["phone"] == badr.phone
    assert (await harvester.call("GET", f"/v1/users/{chadi.id}")).json()["phone"] is None


async def test_who_sees_my_number_is_my_setting(server):
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    await amal.knows(badr)  # Amal has Badr; nobody has Amal
    for who, expected in ((badr, amal.phone), (chadi, None)):
        assert (await who.call("GET", f"/v1/users/{amal.id}")).json()["phone"] == expected
    await amal.privacy(phone="everyone")
    assert (await chadi.call("GET", f"/v1/users/{amal.id}")).json()["phone"] == amal.phone
    await amal.privacy(phone="nobody")
    assert (await badr.call("GET", f"/v1/users/{amal.id}")).json()["phone"] is None
    # Someone who already has the number sees it whatever the setting: it tells them nothing new.
    await chadi.knows(amal)
    assert (await chadi.call("GET", f"/v1/users/{amal.id}")).json()["phone"] == amal.phone
    me = (await amal.call("GET", "/v1/me")).json()
    assert me["phone_privacy"] == "nobody"
    bad = await amal.call("PATCH", "/v1/me/privacy", json={"phone": "strangers"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"


# -- 2. saving the numbers first does not escape the limit of new chats with strangers ---------------------------


async def test_a_bought_list_saved_in_the_senders_contacts_still_counts_as_strangers(server_factory, tmp_path):
    async with server_factory(new_stranger_chats_per_day=5, discovery_daily_budget=10_000) as server:
        marketer = await person(server, "+201099900000", "Shop")
        targets = await crowd(server, 12)
        await save_numbers(marketer, [t.phone for t in targets])
        m = await marketer.client()
        for i, t in enumerate(targets):
            await m.send({"type": "send", "id": f"ad{i}", "to": t.id, "content": {"type": "text", "text": "sale!"}})
        outcomes = [await m.expect("sent", id=f"ad{i}") if i < 5 else await m.expect("error") for i in range(12)]
        assert [o["type"] for o in outcomes[:5]] == ["sent"] * 5
        assert {o["code"] for o in outcomes[5:]} == {"new_chat_limit"}
        assert await count(server, conversations, conversations.c.kind == "direct") == 5
        # A recipient who has the marketer's number is no stranger: their choice lets the message through.
        customer = targets[11]
        await save_numbers(customer, [marketer.phone])
        assert (await m.send_text("your order is ready", to=customer.id))["seq"] == 1


async def test_a_throttled_sender_reaches_no_stranger_even_with_their_numbers_saved(server_factory):
    async with server_factory(complaint_threshold=3, discovery_daily_budget=10_000) as server:
        spammer = await person(server, "+201099900001", "Spam")
        victims = await crowd(server, 3)
        s = await spammer.client()
        for v in victims:  # reached first by the spammer: their complaints count
            await s.send_text("buy now", to=v.id)
        for v in victims:
            assert (await v.call("POST", "/v1/blocks", json={"user_id": spammer.id})).status_code in (200, 201, 204)
        fresh = await crowd(server, 2, prefix="+2012888")
        await save_numbers(spammer, [f.phone for f in fresh])
        await s.send({"type": "send", "id": "x", "to": fresh[0].id, "content": {"type": "text", "text": "hi"}})
        assert (await s.expect("error"))["code"] == "new_chat_limit"


# -- 3. one rule for what a blocked user sees ------------------------------------------------------------------


async def test_a_blocked_user_sees_the_same_empty_profile_everywhere(server):
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    await amal.knows(badr, chadi)
    await badr.knows(amal, chadi)
    await chadi.knows(amal, badr)
    group = await create_group(chadi, "Family", amal, badr)
    a = await amal.client()
    conv = (await a.send_text("hi", to=badr.id))["conversation_id"]
    assert (await amal.call("POST", "/v1/blocks", json={"user_id": badr.id})).status_code in (200, 201, 204)
    await amal.call("PATCH", "/v1/me", json={"display_name": "Amal (new name)", "about": "after the block"})
    names = {
        "users": (await badr.call("GET", f"/v1/users/{amal.id}")).json()["display_name"],
        "contacts": next(
            c["display_name"]
            for c in (await badr.call("GET", "/v1/contacts")).json()["contacts"]
            if c["user_id"] == amal.id
        ),
        "group": next(
            m["display_name"]
            for m in (await badr.call("GET", f"/v1/groups/{group['conversation_id']}")).json()["members"]
            if m["user_id"] == amal.id
        ),
        "conversations": next(
            m["display_name"]
            for c in (await badr.call("GET", "/v1/conversations")).json()["conversations"]
            if c["conversation_id"] == conv
            for m in c["members"]
            if m["user_id"] == amal.id
        ),
    }
    assert names == dict.fromkeys(names, "")
    assert (await badr.call("GET", f"/v1/users/{amal.id}")).json()["about"] == ""
    # Re-adding the contact (the answer of discovery) shows nothing more.
    again = (await badr.call("POST", "/v1/contacts", json={"contacts": [{"phone": amal.phone, "name": "A"}]})).json()
    assert again["contacts"][0]["display_name"] == ""
    # Everyone else sees the new name.
    assert (await chadi.call("GET", f"/v1/users/{amal.id}")).json()["display_name"] == "Amal (new name)"


# -- 4. group invitations are no spam channel ------------------------------------------------------------------


async def test_invitations_to_strangers_share_the_daily_limit(server_factory):
    async with server_factory(new_stranger_chats_per_day=5) as server:
        spammer = await person(server, "+201099900002", "Promo")
        strangers = await crowd(server, 12)
        friend = await person(server, "+201099900003", "Friend")
        await save_numbers(friend, [spammer.phone])
        await friend.privacy(group_add="nobody")  # invited, but no stranger: not counted
        r = await spammer.call(
            "POST",
            "/v1/groups",
            json={"subject": "50% OFF TODAY", "members": [s.id for s in strangers[:4]] + [friend.id]},
        )
        assert r.status_code == 201 and len(r.json()["invited"]) == 5
        # One more stranger is fine; two more are over the limit of 5: refused whole, nothing written.
        r = await spammer.call(
            "POST", "/v1/groups", json={"subject": "MEGA SALE", "members": [s.id for s in strangers[4:6]]}
        )
        assert r.status_code == 429 and r.json()["error"]["code"] == "new_chat_limit"
        assert await count(server, invitations) == 5
        assert await count(server, conversations, conversations.c.subject == "MEGA SALE") == 0
        group = await spammer.call("POST", "/v1/groups", json={"subject": "Last one", "members": [strangers[4].id]})
        assert group.status_code == 201
        more = await spammer.call(
            "POST", f"/v1/groups/{group.json()['conversation_id']}/members", json={"user_ids": [strangers[5].id]}
        )
        assert more.status_code == 429
        # New chats are spent from the same budget.
        s = await spammer.client()
        await s.send({"type": "send", "id": "dm", "to": strangers[6].id, "content": {"type": "text", "text": "hi"}})
        assert (await s.expect("error"))["code"] == "new_chat_limit"


async def test_a_user_can_refuse_invitations_from_strangers(server):
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    await badr.privacy(group_invites="contacts")
    await chadi.privacy(group_invites="contacts")
    await chadi.knows(amal)
    await chadi.privacy(group_add="nobody")
    r = await create_group(amal, "Offers", badr, chadi)
    # Both answered alike; only Chadi, who has Amal, gets an invitation.
    assert sorted(r["invited"]) == sorted([badr.id, chadi.id]) and r["added"] == []
    assert (await badr.call("GET", "/v1/invitations")).json()["invitations"] == []
    assert [i["subject"] for i in (await chadi.call("GET", "/v1/invitations")).json()["invitations"]] == ["Offers"]
    assert (await badr.call("GET", "/v1/me")).json()["group_invites"] == "contacts"


# -- 5. discovery budgets beyond the account ---------------------------------------------------------------------


def from_address(p: Person, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(
        base_url=p.server.url, headers={"Authorization": f"Bearer {p.token}"}, transport=transport, timeout=10
    )


async def test_many_accounts_on_one_address_share_one_discovery_budget(server_factory):
    async with server_factory(discovery_daily_budget=100, discovery_daily_budget_per_address=120) as server:
        accounts = await crowd(server, 3, prefix="+2012999")
        spent = 0
        results = []
        for i, acct in enumerate(accounts):
            numbers = [f"+20100{i}{j:06d}" for j in range(30)]  # 30 unknown numbers cost 60 units
            async with from_address(acct, "127.0.0.1") as c:
                r = await c.post("/v1/contacts", json={"contacts": [{"phone": n, "name": ""} for n in numbers]})
            results.append(r.status_code)
            if r.status_code == 200:
                spent += 60
                assert r.json()["discovery_budget_left"] == 40
        assert results == [200, 200, 429]
        assert spent == 120
        # The same account from another address still has its own account budget left.
        async with from_address(accounts[2], "127.0.0.2") as c:
            r = await c.post("/v1/contacts", json={"contacts": [{"phone": "+201002000001", "name": ""}]})
        assert r.status_code == 200, r.text


async def test_numbers_one_never_wrote_to_cost_more(server):
    amal, badr = await people(server, "amal", "badr")
    b = await badr.client()
    await b.send_text("hi", to=amal.id)  # Badr wrote to Amal: looking him up costs her 1
    r = (await amal.call("POST", "/v1/contacts", json={"contacts": [{"phone": badr.phone, "name": "B"}]})).json()
    assert r["discovery_budget_left"] == 999
    # A number nobody wrote to costs 2, whether or not it has an account (the budget tells nothing about that).
    dina = await person(server, "+201501234567", "Dina")
    r = (await amal.call("POST", "/v1/contacts", json={"contacts": [{"phone": dina.phone, "name": "D"}]})).json()
    assert r["discovery_budget_left"] == 997
    r = (await amal.call("POST", "/v1/contacts", json={"contacts": [{"phone": "+201509999999", "name": "X"}]})).json()
    assert r["discovery_budget_left"] == 995


async def test_operators_hear_of_a_discovery_spike(server_factory, caplog):
    async with server_factory(discovery_alarm_per_hour=50) as server:
        accounts = await crowd(server, 2, prefix="+2012666")
        caplog.set_level(logging.WARNING, logger="hudhud.contacts")
        for i, acct in enumerate(accounts):
            numbers = [f"+20111{i}{j:06d}" for j in range(20)]
            assert (
                await acct.call("POST", "/v1/contacts", json={"contacts": [{"phone": n} for n in numbers]})
            ).status_code == 200
        metrics = (await accounts[0].call("GET", "/metrics")).text
        assert "hudhud_discovery_units_total 80.0" in metrics
        assert "hudhud_discovery_alarms_total 1.0" in metrics
        assert any("discovery spike" in r.getMessage() for r in caplog.records)


# -- 6. complaints count only from people the user reached first -----------------------------------------------------


async def test_a_brigade_of_fresh_accounts_cannot_complain_a_user_into_throttling(server_factory):
    async with server_factory(complaint_threshold=3) as server:
        target = await person(server, "+201099900010", "Journalist")
        brigade = await crowd(server, 6)
        t = await target.client()
        for b in brigade:
            # They even write to the target first, and the target answers each of them.
            c = await b.client()
            sent = await c.send_text("hey", to=target.id)
            await t.send_text("who is this?", conversation_id=sent["conversation_id"])
            assert (await b.call("POST", "/v1/blocks", json={"user_id": target.id})).status_code < 300
            assert (
                await b.call("POST", "/v1/reports", json={"user_id": target.id, "reason": "spam"})
            ).status_code < 300
        me = await server.hub.accounts.get_user(target.id)
        assert me.throttled_until is None
        # The target can still start chats with strangers.
        other = await person(server, "+201099900011")
        assert (await t.send_text("hello", to=other.id))["seq"] == 1


async def test_complaints_from_people_the_user_wrote_to_first_still_count(server_factory):
    async with server_factory(complaint_threshold=3) as server:
        spammer = await person(server, "+201099900012", "Spam")
        victims = await crowd(server, 3)
        s = await spammer.client()
        for v in victims[:1]:
            await s.send_text("buy", to=v.id)  # a chat the spammer started
        owner_group = await spammer.call("POST", "/v1/groups", json={"subject": "Deals", "members": [victims[1].id]})
        assert victims[1].id in owner_group.json()["invited"]  # an invitation the spammer sent
        await victims[2].privacy(group_add="everyone")
        added = await spammer.call("POST", "/v1/groups", json={"subject": "More deals", "members": [victims[2].id]})
        assert added.json()["added"] == [victims[2].id]  # a group the spammer added them to
        for v in victims:
            await v.call("POST", "/v1/reports", json={"user_id": spammer.id, "reason": "spam"})
        me = await server.hub.accounts.get_user(spammer.id)
        assert me.throttled_until is not None


# -- 7. what a sender may learn about who saved their number ---------------------------------------------------------


async def test_a_broadcast_answers_alike_for_those_who_saved_the_sender_and_those_who_did_not(server):
    sender = await person(server, "+201099900020", "Shop")
    savers = await crowd(server, 3)
    others = await crowd(server, 3, prefix="+2012555")
    for p in savers:
        await save_numbers(p, [sender.phone])
    await others[0].call("POST", "/v1/blocks", json={"user_id": sender.id})
    members = [p.id for pair in zip(savers, others, strict=True) for p in pair]
    list_id = (await sender.call("POST", "/v1/broadcast-lists", json={"name": "All", "members": members})).json()[
        "list_id"
    ]
    s = await sender.client()
    _, second_token = await server.add_device(sender.phone)
    other_device = await server.client(second_token)
    await s.send({"type": "broadcast", "id": "b1", "list_id": list_id, "content": {"type": "text", "text": "offer"}})
    done = await s.expect("broadcast_sent")
    assert done["reached"] == done["total"] == 6
    assert sorted(m["user_id"] for m in done["messages"]) == sorted(members)
    # The sender's other device gets a copy of every one, so it cannot tell either.
    copies = [await other_device.expect("deliver") for _ in range(6)]
    assert {c["conversation_id"] for c in copies} == {m["conversation_id"] for m in done["messages"]}
    # Only the savers received it; the others have nothing, not even an empty chat.
    for p in savers:
        (conv,) = (await p.call("GET", "/v1/conversations")).json()["conversations"]
        assert conv["last_message"]["content"]["text"] == "offer"
    for p in others:
        assert (await p.call("GET", "/v1/conversations")).json()["conversations"] == []
    assert await count(server, messages, messages.c.withheld.is_(True)) == 3


@pytest.mark.parametrize("reason", ["blocked", "invitations_from_contacts_only"])
async def test_a_group_add_answers_invited_whatever_kept_the_person_out(server, reason):
    amal, badr = await people(server, "amal", "badr")
    if reason == "blocked":
        await badr.knows(amal)
        await badr.call("POST", "/v1/blocks", json={"user_id": amal.id})
    else:
        await badr.privacy(group_invites="contacts")
    r = await create_group(amal, "Club", badr)
    assert r["invited"] == [badr.id] and r["added"] == []
    assert (await badr.call("GET", "/v1/invitations")).json()["invitations"] == []


async def test_a_withheld_broadcast_copy_is_no_conversation(server):
    """A broadcast to people who never saved the sender stores copies for the sender alone. They must not
    count as having written to those people: no cheaper discovery of their numbers, no number shown."""
    marketer = await person(server, "+201099900030", "Shop")
    target = await person(server, "+201099900031", "Target")
    r = await marketer.call("POST", "/v1/broadcast-lists", json={"name": "Leads", "members": [target.id]})
    m = await marketer.client()
    await m.send({"type": "broadcast", "id": "b1", "list_id": r.json()["list_id"], "content": {"type": "text"}})
    assert (await m.expect("broadcast_sent"))["reached"] == 1
    assert (await target.call("GET", f"/v1/users/{marketer.id}")).json()["phone"] is None
    found = (await marketer.call("POST", "/v1/contacts", json={"contacts": [{"phone": target.phone}]})).json()
    assert found["discovery_budget_left"] == 998  # a number nobody wrote to: 2 units
