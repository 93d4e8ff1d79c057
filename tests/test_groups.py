"""Groups with consent, over the real server: roles, settings, membership windows, invitations, links."""

import asyncio

import pytest
from sqlalchemy import func, select

from hudhud.clock import ManualClock
from hudhud.store.schema import messages
from tests.groupkit import create_group, events, people


async def test_consent_decides_added_or_invited(server):
    amal, badr, chadi, dina = await people(server, "amal", "badr", "chadi", "dina")
    await badr.knows(amal)  # default "my contacts": Badr has Amal, so Amal may add him
    await dina.privacy(group_add="everyone")  # Dina lets anyone add her
    await chadi.knows(amal)
    await chadi.privacy(group_add="nobody")  # Chadi has Amal in contacts but lets nobody add him
    ehab_user_id, _, _ = await server.make_user("+201001234568", "Ehab")  # default, does not know Amal
    result = await create_group(amal, "Family", badr, chadi, dina)
    assert sorted(result["added"]) == sorted([badr.id, dina.id])
    assert result["invited"] == [chadi.id]
    r = await amal.call("POST", f"/v1/groups/{result['conversation_id']}/members", json={"user_ids": [ehab_user_id]})
    assert r.json() == {"conversation_id": result["conversation_id"], "added": [], "invited": [ehab_user_id]}
    info = (await amal.call("GET", f"/v1/groups/{result['conversation_id']}")).json()
    assert {m["user_id"]: m["role"] for m in info["members"]} == {
        amal.id: "owner",
        badr.id: "member",
        dina.id: "member",
    }


async def test_invitation_in_inbox_then_accept(server):
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    await badr.knows(amal)
    c = await chadi.client()
    group = await create_group(amal, "Book club", badr, chadi)
    conv = group["conversation_id"]
    # Chadi is not in the group: he receives a private invitation in his inbox, nothing from the group.
    notice = await c.expect("deliver")
    assert notice["system"] is True and notice["content"]["event"] == "invitation"
    assert notice["content"]["conversation_id"] == conv and notice["content"]["subject"] == "Book club"
    assert notice["conversation_id"] != conv
    invites = (await chadi.call("GET", "/v1/invitations")).json()["invitations"]
    assert [i["conversation_id"] for i in invites] == [conv]
    r = await chadi.call("GET", f"/v1/conversations/{conv}/messages")
    assert r.status_code == 403
    b = await badr.client()
    r = await chadi.call("POST", f"/v1/invitations/{invites[0]['invitation_id']}/accept")
    assert r.json() == {"conversation_id": conv}
    joined = await c.expect("deliver", conversation_id=conv)
    assert joined["content"]["event"] == "joined" and joined["content"]["via"] == "invitation"
    assert (await b.expect("deliver", conversation_id=conv, seq=joined["seq"]))["content"]["users"] == [chadi.id]
    # Only the new member's window: Chadi's history starts at his joining.
    hist = (await chadi.call("GET", f"/v1/conversations/{conv}/messages")).json()["messages"]
    assert [m["seq"] for m in hist] == [joined["seq"]]
    again = await chadi.call("POST", f"/v1/invitations/{invites[0]['invitation_id']}/accept")
    assert again.status_code == 404 and again.json()["error"]["code"] == "invitation_invalid"


async def test_invitation_expires_after_72_hours(server_factory):
    clock = ManualClock()
    async with server_factory(clock=clock) as server:
        amal, chadi = await people(server, "amal", "chadi")
        await create_group(amal, "Later", chadi)
        inv = (await chadi.call("GET", "/v1/invitations")).json()["invitations"][0]
        clock.advance(72 * 3600 + 1)
        assert (await chadi.call("GET", "/v1/invitations")).json()["invitations"] == []
        r = await chadi.call("POST", f"/v1/invitations/{inv['invitation_id']}/accept")
        assert r.status_code == 404 and r.json()["error"]["code"] == "invitation_invalid"


async def test_someone_who_blocked_the_admin_gets_nothing_and_the_admin_cannot_tell(server):
    amal, chadi, dina = await people(server, "amal", "chadi", "dina")
    await chadi.privacy(group_add="everyone")
    r = await chadi.call("POST", "/v1/blocks", json={"user_id": amal.id})
    assert r.status_code == 204
    c = await chadi.client()
    result = await create_group(amal, "Promo", chadi, dina)
    assert result["added"] == [] and sorted(result["invited"]) == sorted([chadi.id, dina.id])
    await c.no_frame("deliver", wait=0.5)
    assert (await chadi.call("GET", "/v1/invitations")).json()["invitations"] == []


async def test_sharing_a_group_does_not_reveal_numbers(server):
    amal, badr, dina = await people(server, "amal", "badr", "dina")
    for p in (badr, dina):
        await p.privacy(group_add="everyone")
    await badr.knows(amal)
    conv = (await create_group(amal, "Strangers", badr, dina))["conversation_id"]
    (entry,) = (await badr.call("GET", "/v1/conversations")).json()["conversations"]
    assert entry["subject"] == "Strangers"
    phones = {m["user_id"]: m["phone"] for m in entry["members"]}
    assert phones == {amal.id: amal.phone, badr.id: badr.phone, dina.id: None}
    assert (await badr.call("GET", f"/v1/users/{dina.id}")).json()["phone"] is None
    assert conv


async def test_roles_and_permissions(server):
    amal, badr, dina = await people(server, "amal", "badr", "dina")
    for p in (badr, dina):
        await p.privacy(group_add="everyone")
    conv = (await create_group(amal, "Team", badr, dina))["conversation_id"]
    r = await badr.call("POST", f"/v1/groups/{conv}/members/{dina.id}/promote")
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_admin"
    r = await badr.call("DELETE", f"/v1/groups/{conv}/members/{dina.id}")
    assert r.json()["error"]["code"] == "not_admin"
    r = await badr.call("PATCH", f"/v1/groups/{conv}/settings", json={"only_admins_send": True})
    assert r.json()["error"]["code"] == "not_admin"
    assert (await amal.call("POST", f"/v1/groups/{conv}/members/{badr.id}/promote")).status_code == 204
    # An admin may manage members but not remove the owner.
    r = await badr.call("DELETE", f"/v1/groups/{conv}/members/{amal.id}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_admin"
    assert (await badr.call("DELETE", f"/v1/groups/{conv}/members/{dina.id}")).status_code == 204
    assert (await amal.call("POST", f"/v1/groups/{conv}/members/{badr.id}/demote")).status_code == 204
    hist = (await amal.call("GET", f"/v1/conversations/{conv}/messages")).json()["messages"]
    assert events(hist) == ["created", "added", "promoted", "removed", "demoted"]
    r = await dina.call("GET", f"/v1/groups/{conv}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_member"


async def test_announcement_group_and_admin_only_info(server):
    amal, badr = await people(server, "amal", "badr")
    await badr.privacy(group_add="everyone")
    conv = (await create_group(amal, "News", badr))["conversation_id"]
    b = await badr.client()
    # Info is editable by members until the admins say otherwise.
    assert (await badr.call("PATCH", f"/v1/groups/{conv}", json={"subject": "Our news"})).status_code == 204
    await amal.call("PATCH", f"/v1/groups/{conv}/settings", json={"only_admins_send": True, "only_admins_edit": True})
    r = await badr.call("PATCH", f"/v1/groups/{conv}", json={"subject": "Mine now"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_admin"
    await b.send({"type": "send", "id": "m1", "conversation_id": conv, "content": {"type": "text", "text": "hi"}})
    assert (await b.expect("error"))["code"] == "admins_only"
    a = await amal.client()
    sent = await a.send_text("announcement", conversation_id=conv)
    got = await b.expect("deliver", seq=sent["seq"])
    assert got["content"]["text"] == "announcement"
    info = (await badr.call("GET", f"/v1/groups/{conv}")).json()
    assert info["subject"] == "Our news" and info["settings"]["only_admins_send"] is True
    assert (
        await server.hub.db.read(
            lambda c: c.execute(
                select(func.count()).select_from(messages).where(messages.c.client_msg_id == "m1")
            ).scalar_one()
        )
        == 0
    )


async def test_removed_member_gets_nothing_more(server):
    amal, badr, dina = await people(server, "amal", "badr", "dina")
    for p in (badr, dina):
        await p.privacy(group_add="everyone")
    conv = (await create_group(amal, "Club", badr, dina))["conversation_id"]
    a, b = await amal.client(), await badr.client()
    assert events(b.take_all("deliver", conversation_id=conv)) == ["added"]
    before = await a.send_text("before", conversation_id=conv)
    await b.expect("deliver", seq=before["seq"])
    await amal.call("DELETE", f"/v1/groups/{conv}/members/{badr.id}")
    removal = await b.expect("deliver", conversation_id=conv, seq=before["seq"] + 1)
    assert removal["content"]["event"] == "removed" and removal["content"]["users"] == [badr.id]
    after = await a.send_text("after", conversation_id=conv)
    await b.no_frame("deliver", wait=0.5)
    # Reconnecting does not bring it either, and history stops at the removal.
    await b.close()
    b2 = await badr.client()
    # (Unacknowledged messages come again, up to his removal and never past it.)
    assert [f["seq"] for f in b2.take_all("deliver", conversation_id=conv)] == [2, before["seq"], removal["seq"]]
    hist = (await badr.call("GET", f"/v1/conversations/{conv}/messages")).json()["messages"]
    assert hist[-1]["seq"] == removal["seq"] and after["seq"] > removal["seq"]
    await b2.send({"type": "send", "id": "x", "conversation_id": conv, "content": {"type": "text", "text": "?"}})
    assert (await b2.expect("error"))["code"] == "not_member"
    # His chat list shows the group as it was when he was removed, and nobody's receipts but his own.
    (gone,) = [c for c in (await badr.call("GET", "/v1/conversations")).json()["conversations"] if c["kind"] == "group"]
    assert gone["last_seq"] == removal["seq"]
    assert [m["user_id"] for m in gone["members"]] == [badr.id]
    assert [r["user_id"] for r in gone["receipts"]] == [badr.id]
    await b2.send({"type": "ack", "conversation_id": conv, "seq": after["seq"]})
    assert (await b2.expect("error"))["code"] == "invalid_request"


async def test_leave_and_rejoin_by_link_starts_a_new_window(server):
    amal, badr = await people(server, "amal", "badr")
    await badr.privacy(group_add="everyone")
    conv = (await create_group(amal, "Open", badr))["conversation_id"]
    assert (await badr.call("POST", f"/v1/groups/{conv}/leave", json={})).status_code == 204
    a = await amal.client()
    gap = await a.send_text("while Badr was away", conversation_id=conv)
    link = (await amal.call("POST", f"/v1/groups/{conv}/links", json={})).json()
    r = await badr.call("POST", "/v1/groups/join", json={"code": link["code"]})
    assert r.json() == {"conversation_id": conv, "status": "joined"}
    b = await badr.client()
    seen = [f["seq"] for f in b.frames if f.get("type") == "deliver" and f["conversation_id"] == conv]
    assert gap["seq"] not in seen
    back = await a.send_text("welcome back", conversation_id=conv)
    assert (await b.expect("deliver", seq=back["seq"]))["content"]["text"] == "welcome back"
    r = await badr.call("POST", "/v1/groups/join", json={"code": link["code"]})
    assert r.json()["error"]["code"] == "already_member"


async def test_owner_leaving_hands_the_group_on(server):
    amal, badr, dina = await people(server, "amal", "badr", "dina")
    for p in (badr, dina):
        await p.privacy(group_add="everyone")
    conv = (await create_group(amal, "Heirs", badr, dina))["conversation_id"]
    await amal.call("POST", f"/v1/groups/{conv}/members/{dina.id}/promote")
    await amal.call("POST", f"/v1/groups/{conv}/leave", json={})
    roles = {m["user_id"]: m["role"] for m in (await badr.call("GET", f"/v1/groups/{conv}")).json()["members"]}
    assert roles == {dina.id: "owner", badr.id: "member"}


async def test_links_revoked_expired_used_up_and_approval(server_factory):
    clock = ManualClock()
    async with server_factory(clock=clock) as server:
        amal, badr, chadi, dina = await people(server, "amal", "badr", "chadi", "dina")
        conv = (await create_group(amal, "Links"))["conversation_id"]

        async def link(**body):
            return (await amal.call("POST", f"/v1/groups/{conv}/links", json=body)).json()["code"]

        revoked = await link()
        assert (await amal.call("DELETE", f"/v1/groups/{conv}/links/{revoked}")).status_code == 204
        expiring = await link(expires_in=3600)
        once = await link(max_uses=1)
        r = await badr.call("POST", "/v1/groups/join", json={"code": revoked})
        assert r.status_code == 404 and r.json()["error"]["code"] == "link_invalid"
        assert (await badr.call("POST", "/v1/groups/join", json={"code": once})).json()["status"] == "joined"
        r = await chadi.call("POST", "/v1/groups/join", json={"code": once})
        assert r.json()["error"]["code"] == "link_invalid"
        clock.advance(3601)
        r = await chadi.call("POST", "/v1/groups/join", json={"code": expiring})
        assert r.json()["error"]["code"] == "link_invalid"
        r = await badr.call("POST", f"/v1/groups/{conv}/links", json={})
        assert r.json()["error"]["code"] == "not_admin"
        # Approval mode: joining files a request that an admin approves or rejects.
        await amal.call("PATCH", f"/v1/groups/{conv}/settings", json={"approve_joins": True})
        code = await link()
        assert (await chadi.call("POST", "/v1/groups/join", json={"code": code})).json()["status"] == "requested"
        assert (await chadi.call("POST", "/v1/groups/join", json={"code": code})).json()["status"] == "requested"
        assert (await dina.call("POST", "/v1/groups/join", json={"code": code})).json()["status"] == "requested"
        uses = {x["code"]: x["uses"] for x in (await amal.call("GET", f"/v1/groups/{conv}/links")).json()["links"]}
        assert uses[code] == 2  # asking twice spends the link once
        assert (await chadi.call("GET", f"/v1/groups/{conv}")).status_code == 403
        reqs = (await amal.call("GET", f"/v1/groups/{conv}/requests")).json()["requests"]
        assert {r["user_id"] for r in reqs} == {chadi.id, dina.id}
        assert (await amal.call("POST", f"/v1/groups/{conv}/requests/{chadi.id}/approve")).status_code == 204
        assert (await amal.call("POST", f"/v1/groups/{conv}/requests/{dina.id}/reject")).status_code == 204
        members = {m["user_id"] for m in (await amal.call("GET", f"/v1/groups/{conv}")).json()["members"]}
        assert members == {amal.id, badr.id, chadi.id}
        assert (await amal.call("GET", f"/v1/groups/{conv}/requests")).json()["requests"] == []


async def test_size_limit(server_factory):
    async with server_factory(max_group_size=3) as server:
        amal, badr, chadi, dina = await people(server, "amal", "badr", "chadi", "dina")
        for p in (badr, chadi, dina):
            await p.privacy(group_add="everyone")
        r = await amal.call("POST", "/v1/groups", json={"subject": "Big", "members": [badr.id, chadi.id, dina.id]})
        assert r.status_code == 409 and r.json()["error"]["code"] == "group_full"
        assert (await amal.call("GET", "/v1/conversations")).json()["conversations"] == []  # nothing half made
        conv = (await create_group(amal, "Small", badr, chadi))["conversation_id"]
        r = await amal.call("POST", f"/v1/groups/{conv}/members", json={"user_ids": [dina.id]})
        assert r.json()["error"]["code"] == "group_full"


async def test_group_message_stored_once_and_fanned_out_to_every_device(server):
    amal, badr, dina = await people(server, "amal", "badr", "dina")
    for p in (badr, dina):
        await p.privacy(group_add="everyone")
    conv = (await create_group(amal, "Fan-out", badr, dina))["conversation_id"]
    _, badr_laptop = await server.add_device(badr.phone, "laptop")
    clients = [await badr.client(), await server.client(badr_laptop), await dina.client()]
    a = await amal.client()
    sent = await a.send_text("one for all", conversation_id=conv, msg_id="fan")
    for c in clients:
        assert (await c.expect("deliver", seq=sent["seq"]))["id"] == "fan"
    count = await server.hub.db.read(
        lambda c: c.execute(
            select(func.count()).select_from(messages).where(messages.c.client_msg_id == "fan")
        ).scalar_one()
    )
    assert count == 1


async def test_offline_member_catches_up_on_membership_and_messages(server):
    amal, badr, chadi, dina = await people(server, "amal", "badr", "chadi", "dina")
    for p in (badr, chadi, dina):
        await p.privacy(group_add="everyone")
    conv = (await create_group(amal, "Changes", badr))["conversation_id"]
    a = await amal.client()
    await a.send_text("one", conversation_id=conv)
    await amal.call("POST", f"/v1/groups/{conv}/members", json={"user_ids": [chadi.id]})
    await a.send_text("two", conversation_id=conv)
    await amal.call("PATCH", f"/v1/groups/{conv}", json={"subject": "Renamed"})
    await amal.call("DELETE", f"/v1/groups/{conv}/members/{chadi.id}")
    await amal.call("POST", f"/v1/groups/{conv}/members", json={"user_ids": [dina.id]})
    await a.send_text("three", conversation_id=conv)
    b = await badr.client()  # Badr was offline through all of it
    got = b.take_all("deliver", conversation_id=conv)
    assert [f["seq"] for f in got] == list(range(2, len(got) + 2))  # from his joining on, none missing
    kinds = [f["content"].get("event") or f["content"]["text"] for f in got]
    assert kinds == ["added", "one", "added", "two", "info_changed", "removed", "added", "three"]


async def test_exit_and_report(server):
    amal, badr = await people(server, "amal", "badr")
    await badr.privacy(group_add="everyone")
    conv = (await create_group(amal, "Spammy", badr))["conversation_id"]
    a = await amal.client()
    for i in range(7):
        await a.send_text(f"buy now {i}", conversation_id=conv)
    r = await badr.call("POST", f"/v1/groups/{conv}/leave", json={"report": True, "reason": "spam"})
    assert r.status_code == 204
    reports = await server.hub.safety.reports()
    assert len(reports) == 1 and reports[0].conversation_id == conv and reports[0].reason == "spam"
    assert [m["content"]["text"] for m in reports[0].evidence] == [f"buy now {i}" for i in range(2, 7)]
    assert (await badr.call("GET", f"/v1/groups/{conv}")).status_code == 403


@pytest.mark.parametrize("bad", [{"subject": ""}, {"subject": "x" * 101}, {"subject": "ok", "members": ["unobody"]}])
async def test_bad_group_input(server, bad):
    (amal,) = await people(server, "amal")
    r = await amal.call("POST", "/v1/groups", json=bad)
    assert r.status_code in (400, 404)
    assert (await amal.call("GET", "/v1/conversations")).json()["conversations"] == []


async def test_concurrent_changes_keep_one_order(server):
    amal, badr, dina = await people(server, "amal", "badr", "dina")
    for p in (badr, dina):
        await p.privacy(group_add="everyone")
    conv = (await create_group(amal, "Race", badr, dina))["conversation_id"]
    a, b, d = await amal.client(), await badr.client(), await dina.client()
    await asyncio.gather(
        *(c.send_text(f"{n}{i}", conversation_id=conv) for n, c in (("a", a), ("b", b)) for i in range(20))
    )
    seq_d = [f["seq"] for f in [await d.expect("deliver", conversation_id=conv) for _ in range(41)]]
    assert seq_d == list(range(2, 43))  # her joining, then all 40 messages in the one order
