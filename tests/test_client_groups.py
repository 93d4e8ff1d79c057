"""Groups, invitations, invite links, blocking, reports, broadcast lists and forwarding through the client: the
`hudhud` commands (run through `hudhud.cli.main` in a worker thread) and the SDK, against the real server."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from hudhud.client.commands import describe_system, render_history
from hudhud.client.sdk import BroadcastSent, Delivered, Forwarded, HudhudClient, SendRejected
from hudhud.client.state import Envelope, StateStore
from tests.clikit import Cli, _clean_env  # noqa: F401 - the fixture applies to this module
from tests.test_client_sdk import closed_port, fast_client, login_profile, next_event

AMAL, BADR, CAMIL, DINA = "+201001110001", "+201001110002", "+201001110003", "+201001110004"


class Person:
    def __init__(self, user_id: str, phone: str, profile: Path, cli: Cli) -> None:
        self.id = user_id
        self.phone = phone
        self.profile = profile
        self.cli = cli


@pytest.fixture
async def four(server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Person]:
    """Amal, Badr, Camil and Dina with logged-in profiles. Nobody has anybody in their contacts yet."""
    people = {}
    for name, phone in (("Amal", AMAL), ("Badr", BADR), ("Camil", CAMIL), ("Dina", DINA)):
        creds = await server.make_user(phone, name)
        profile = tmp_path / name.lower()
        login_profile(profile, server.url, phone, creds)
        people[name] = Person(creds[0], phone, profile, Cli(capsys, profile, server.url))
    return people


async def test_the_demo(server: Any, four: dict[str, Person]) -> None:
    amal, badr, camil, dina = four["Amal"], four["Badr"], four["Camil"], four["Dina"]
    # Badr has Amal in his contacts, so (by the default setting) she may add him; Camil lets nobody add him.
    await badr.cli.ok("contacts", "add", AMAL, "Amal")
    out = await camil.cli.ok("privacy", "--group-add", "nobody")
    assert "who can add you to groups: nobody" in out
    await amal.cli.ok("contacts", "add", BADR, "Badr")

    # -- three users make a group: Badr is added, Camil is invited --------------------------------------------
    out = await amal.cli.ok("group", "create", "Trip", "--description", "Sinai in May", "--member", "Badr",
                            "--member", CAMIL)  # fmt: skip
    assert "Created the group “Trip”" in out
    assert re.search(r"^Added: Badr$", out, re.M), out
    assert re.search(r"^Invited .*: .*\+201001110003", out, re.M), out
    conv_id = re.search(r"\((c\w+)\)", out).group(1)  # type: ignore[union-attr]

    out = await camil.cli.ok("invitations")
    assert "“Trip”" in out and "expires" in out
    invitation_id = out.split()[0]
    out = await camil.cli.ok("chats")
    assert "Hudhud notices" in out and "invited you to join the group “Trip”" in out
    out = await camil.cli.ok("invitations", "accept", invitation_id)
    assert f"Joined “Trip” ({conv_id})" in out
    rc, _, err = await camil.cli("invitations", "accept", invitation_id)
    assert rc == 1 and "invitation_invalid" in err

    out = await amal.cli.ok("group", "info", "Trip")
    assert "Sinai in May" in out and "3 members" in out and "(owner)" in out
    out = await badr.cli.ok("chats")
    assert "“Trip” (group)" in out
    out = await badr.cli.ok("history", "Trip")
    assert "* Amal added you" in out  # he sees the group from his joining on
    assert "joined (invited by Amal)" in out
    out = await amal.cli.ok("history", "Trip")
    assert "* you created the group “Trip”" in out and "* you added Badr" in out

    # Members talk; then the group becomes an announcement group and Badr's send fails clearly.
    out = await badr.cli.ok("send", "Trip", "who brings the tent?")
    assert "✓ sent to “Trip”" in out
    await amal.cli.ok("group", "settings", "Trip", "--announce", "on")
    rc, out, err = await badr.cli("send", "Trip", "me!")
    assert rc == 1 and "only admins can send messages to this group" in err and "admins_only" in err
    store = StateStore(badr.profile)
    assert store.outbox() == []  # refused for good: it left the outbox
    store.close()
    out = await amal.cli.ok("send", "Trip", "I do.")
    assert "✓ sent" in out
    out = await badr.cli.ok("history", "Trip")
    assert "* Amal changed the settings: only admins can send messages" in out
    assert "Amal: I do." in out

    # -- a link join, approved by an admin --------------------------------------------------------------------
    await amal.cli.ok("group", "settings", "Trip", "--approve", "on")
    out = await amal.cli.ok("group", "link", "Trip", "--max-uses", "5", "--expires", "3600")
    code = re.search(r"hudhud group join (\S+)`", out).group(1)  # type: ignore[union-attr]
    out = await dina.cli.ok("group", "join", code)
    assert "an admin of the group must approve" in out
    rc, _, err = await dina.cli("group", "info", conv_id)
    assert rc == 1 and "not_member" in err
    out = await amal.cli.ok("group", "requests", "Trip")
    assert dina.id in out
    rc, _, err = await badr.cli("group", "approve", "Trip", dina.id)
    assert rc == 1 and "not_admin" in err  # Badr is no admin
    out = await amal.cli.ok("group", "approve", "Trip", "Dina")  # by the display name of who asked
    assert "joined “Trip”" in out
    out = await dina.cli.ok("history", "Trip")
    assert "joined with an invite link, approved by" in out
    out = await amal.cli.ok("group", "promote", "Trip", "Badr")
    assert "Badr is now an admin" in out
    out = await badr.cli.ok("send", "Trip", "admins may talk")
    assert "✓ sent" in out

    # -- a block takes effect ---------------------------------------------------------------------------------
    # Dina writes to Camil, who does not know her: the first message is marked as from a stranger.
    await dina.cli.ok("send", CAMIL, "hello stranger")
    out = await camil.cli.ok("history", DINA)
    assert "hello stranger" in out and "not in your contacts" in out
    out = await camil.cli.ok("block", DINA, "--report")
    assert "Blocked and reported" in out
    out = await camil.cli.ok("block")
    assert dina.id in out
    out = await dina.cli.ok("send", CAMIL, "are you there?")  # accepted as usual: the block is silent
    assert "✓ sent" in out
    out = await camil.cli.ok("history", DINA)
    assert "hello stranger" in out and "are you there?" not in out
    # ... and she cannot put him into a group: the result looks like an invitation, but none arrives.
    await dina.cli.ok("group", "create", "Spam", "--member", CAMIL)
    async with HudhudClient(camil.profile) as c:
        assert [i["subject"] for i in await c.invitations()] == []
    out = await camil.cli.ok("unblock", DINA)
    assert "Unblocked" in out

    # -- a broadcast reaches only those who have the sender in their contacts -----------------------------------
    out = await amal.cli.ok("broadcast", "create", "Friends", "Badr", CAMIL, DINA)
    assert "with 3 recipients" in out
    out = await amal.cli.ok("broadcast", "list")
    assert "“Friends”" in out
    async with fast_client(badr.profile) as b:
        stream = b.events()
        b.start()
        out = await amal.cli.ok("broadcast", "send", "Friends", "party at mine")
        assert "sent to 3 of 3" in out
        got = await next_event(
            stream, lambda e: isinstance(e, Delivered) and e.message.content.get("text") == "party at mine"
        )
        assert isinstance(got, Delivered) and got.message.sender_user_id == amal.id
    out = await camil.cli.ok("history", AMAL)
    assert "No messages" in out

    # -- removal and leaving, as the members see them -----------------------------------------------------------
    await amal.cli.ok("group", "remove", "Trip", "Dina")
    out = await dina.cli.ok("history", conv_id)
    assert "* you were removed by" in out
    out = await camil.cli.ok("group", "leave", "Trip", "--report", "--reason", "not for me")
    assert "You left “Trip”" in out and "reported" in out
    out = await dina.cli.ok("chats")
    assert "“Trip” (group)" in out  # still listed, with the subject, after the removal
    out = await amal.cli.ok("history", "Trip")
    assert re.search(r"\* you removed ~?Dina", out) and re.search(r"\* .* left$", out, re.M), out


async def test_forward_counts_hops_dedupes_and_reports_refused_targets(server: Any, four: dict[str, Person]) -> None:
    amal, badr = four["Amal"], four["Badr"]
    async with fast_client(badr.profile) as b:
        await b.add_contacts([(AMAL, "Amal")])
    async with fast_client(amal.profile) as a:
        a.start()
        sent = await a.wait_sent(await a.send_text("original", to=badr.id), timeout=5)
        assert sent is not None
        conv, seq = sent.conversation_id, sent.seq
        # Each forward of the latest copy is one more hop.
        first_job = ""
        for _hop in range(5):
            job = await a.forward(conv, seq, [badr.id])
            first_job = first_job or job
            done = await a.wait_forwarded(job, timeout=5)
            assert isinstance(done, Forwarded) and done.errors == ()
            copy = done.messages[0]
            assert copy is not None and copy.conversation_id == conv and copy.seq > seq
            seq = copy.seq
        messages, _ = await a.history(conv)
        assert [m.forward_count for m in messages] == [0, 1, 2, 3, 4, 5]
        assert messages[-1].forwarded_many_times and not messages[-2].forwarded_many_times
        assert messages[-1].content == {"type": "text", "text": "original"}

        # The same request id again makes nothing new: the server answers with the first copy.
        again = await a.wait_forwarded(await a.forward(conv, sent.seq, [badr.id], msg_id=first_job), timeout=5)
        assert again is not None and again.messages[0] is not None
        assert again.messages[0].seq == sent.seq + 1 and again.messages[0].duplicate
        # A finished forward's outcome stays available.
        late = await a.wait_forwarded(first_job)
        assert late is not None and late.messages[0] is not None and late.messages[0].seq == sent.seq + 1

        # Forwarded many times: one chat at a time.
        group = await a.create_group("Everyone", members=[badr.id])
        job = await a.forward(conv, seq, [badr.id, group["conversation_id"]])
        with pytest.raises(SendRejected) as refused:
            await a.wait_forwarded(job, timeout=5)
        assert refused.value.code == "forward_limit"
        assert a.outbox() == []
        with pytest.raises(SendRejected):  # and so it stays
            await a.wait_forwarded(job)

        # A broadcast to a list that is not mine is refused, now and later.
        job = await a.broadcast_text("b0000000000000000", "hello?")
        for _ in range(2):
            with pytest.raises(SendRejected) as refused:
                await a.wait_broadcast(job, timeout=5)
            assert refused.value.code == "not_found"

        # One target refuses (Badr's announcement group, where Amal is no admin), the other takes it.
        await a.add_contacts([(BADR, "Badr")])  # so that Badr may add her to his group
        async with fast_client(badr.profile) as b:
            own = await b.create_group("News", members=[amal.id])
            await b.update_group_settings(own["conversation_id"], only_admins_send=True)
        done = await a.wait_forwarded(await a.forward(conv, sent.seq, [own["conversation_id"], badr.id]), 5)
        assert done is not None
        assert done.messages[0] is None and done.messages[1] is not None
        assert [code for code, _ in done.errors] == ["admins_only"]


async def test_forward_and_broadcast_queued_offline_go_out_later(server: Any, four: dict[str, Person]) -> None:
    amal, badr, camil = four["Amal"], four["Badr"], four["Camil"]
    async with fast_client(badr.profile) as b:
        await b.add_contacts([(AMAL, "Amal")])  # Camil does not have Amal: broadcasts do not reach him
    async with fast_client(amal.profile) as a:
        a.start()
        sent = await a.wait_sent(await a.send_text("news", to=badr.id), timeout=5)
        assert sent is not None
        listed = await a.create_broadcast_list("Club", [badr.id, camil.id])
        assert [b["name"] for b in await a.broadcast_lists()] == ["Club"]

    down = f"http://127.0.0.1:{closed_port()}"
    async with fast_client(amal.profile, server=down) as a:
        forward_job = await a.forward(sent.conversation_id, sent.seq, [badr.id, camil.id])
        broadcast_job = await a.broadcast_text(listed["list_id"], "meeting at 8")
        a.start()
        assert await a.wait_broadcast(broadcast_job, timeout=0.3) is None
        assert {e.kind for e in a.outbox()} == {"forward", "broadcast"}

    async with fast_client(amal.profile) as a:
        stream = a.events()
        a.start()
        forwarded = await a.wait_forwarded(forward_job, timeout=5)
        result = await a.wait_broadcast(broadcast_job, timeout=5)
        assert forwarded is not None and all(forwarded.messages)
        assert isinstance(result, BroadcastSent) and (result.reached, result.total) == (2, 2)
        assert sent.conversation_id in [m[0] for m in result.messages]
        seen = [e for e in stream.pending() if isinstance(e, Forwarded | BroadcastSent)]
        assert {type(e) for e in seen} == {Forwarded, BroadcastSent}
        assert a.outbox() == []
        # Sending the broadcast again under its id changes nothing.
        again = await a.wait_broadcast(await a.broadcast_text(listed["list_id"], "meeting at 8"), timeout=5)
        assert again is not None and again.reached == 2
        repeat = await a.wait_broadcast(
            await a.broadcast(listed["list_id"], {"type": "text", "text": "meeting at 8"}, msg_id=broadcast_job), 5
        )
        assert repeat is not None and repeat.messages == result.messages
    async with fast_client(badr.profile) as b:
        messages, _ = await b.history(sent.conversation_id)
        assert [m.content["text"] for m in messages] == ["news", "news", "meeting at 8", "meeting at 8"]
        assert messages[1].forward_count == 1


async def test_listen_history_and_chats_render_groups(server: Any, four: dict[str, Person]) -> None:
    amal, badr = four["Amal"], four["Badr"]
    async with fast_client(badr.profile) as b:
        await b.add_contacts([(AMAL, "Amal")])
    async with fast_client(amal.profile) as a:
        a.start()
        group = await a.create_group("Book club", members=[badr.id])
        conv_id = group["conversation_id"]
        await a.update_group(conv_id, subject="Readers")
        sent = await a.wait_sent(await a.send_text("read Mahfouz", to=badr.id), timeout=5)
        assert sent is not None
    # Badr forwards Amal's message into the group with the CLI.
    out = await badr.cli.ok("forward", "Amal", str(sent.seq), "Readers")
    assert "✓ forwarded to “Readers”" in out
    rc, out, err = await badr.cli("forward", "Amal", "99", "Readers")
    assert rc == 1 and "there is no message #99" in err

    rc, out, err = await amal.cli("listen", "--count", "1", "--timeout", "5")
    assert rc == 0, err
    assert "[Readers] ~Badr" in out or "[Readers] +201001110002" in out
    assert "[Forwarded] read Mahfouz" in out

    rc, out, err = await badr.cli("listen", "--count", "3", "--timeout", "5")
    assert rc == 0, err
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert "[Readers] #2 * Amal added you" in lines[0]
    assert "[Readers] #3 * Amal changed the subject to “Readers”" in lines[1]
    assert lines[2].endswith("Amal #1: read Mahfouz")
    assert len(lines) == 3  # his own forward is not delivered back to the device that made it

    out = await badr.cli.ok("chats")
    assert "“Readers” (group)" in out and "Amal" in out
    out = await badr.cli.ok("group", "info", conv_id)
    assert "“Readers”" in out and "(owner)" in out and "all members" in out
    out = await badr.cli.ok("report", "Amal", "--messages", "1", "--reason", "spam")
    assert "Reported Amal, sharing 1 message" in out
    rc, _, err = await badr.cli("group", "rename", "Nope", "x")
    assert rc == 1 and "no group called 'Nope'" in err


async def test_suspension_stops_the_session(server: Any, four: dict[str, Person]) -> None:
    amal = four["Amal"]
    async with fast_client(amal.profile) as a:
        a.start()
        await a.wait_synced(timeout=5)
        await server.hub.safety.moderate(amal.id, "suspend")
        await asyncio.wait_for(a._task, 5)  # type: ignore[arg-type]
        assert a.state.value == "logged_out"
        assert a.store.token  # kept: the operator may restore the account
    rc, _, err = await amal.cli("chats")
    assert rc == 1 and "account_suspended" in err


def test_system_messages_read_as_sentences() -> None:
    names = {"ua": "Amal", "ub": "Badr", "uc": "Camil"}

    def say(event: str, me: str = "uz", **fields: Any) -> str:
        return describe_system({"type": "system", "event": event, "actor": "ua", **fields}, names, me)

    assert say("created", subject="Trip") == "Amal created the group “Trip”"
    assert say("added", users=["ub", "uc"]) == "Amal added Badr and Camil"
    assert say("added", me="ub", users=["ub"]) == "Amal added you"
    assert say("removed", me="ub", users=["ub"]) == "you were removed by Amal"
    assert say("removed", users=["ub"]) == "Amal removed Badr"
    assert say("left", users=["ua"], new_owner="ub") == "Amal left; Badr is now the owner"
    assert say("promoted", users=["ub"]) == "Amal made Badr an admin"
    assert say("demoted", users=["ub"]) == "Amal dismissed Badr as admin"
    assert say("info_changed", subject="Hike\x1b[2J") == "Amal changed the subject to “Hike\\x1b[2J”"
    assert say("settings_changed", only_admins_send=True, approve_joins=False) == (
        "Amal changed the settings: only admins can send messages; new members join without approval"
    )
    assert say("joined", users=["uc"], via="invitation", invited_by="ua") == "Camil joined (invited by Amal)"
    assert say("joined", users=["uc"], via="link", approved_by="ua") == (
        "Camil joined with an invite link, approved by Amal"
    )
    assert "invited you to join the group “Trip”" in say("invitation", subject="Trip", invitation_id="i1")
    assert say("future_thing") == "Amal: future_thing"

    added = {"type": "system", "event": "added", "actor": "ua", "users": ["ub"]}
    system = Envelope("c1", 1, "s1", "ua", "sys", 0.0, added, True)
    many = Envelope("c1", 2, "m2", "ub", "d", 0.0, {"type": "text", "text": "hi"}, forward_count=7, stranger=True)
    lines = render_history([system, many], [], "ub", names, color=False)
    assert lines[0].endswith("* Amal added you")
    assert lines[1].endswith("Badr: [Forwarded many times] hi  ✓ sent")
    assert len(lines) == 2  # my own message is never from a stranger


def test_a_state_file_from_before_groups_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    db = sqlite3.connect(tmp_path / "state.db")
    db.executescript(
        """
        CREATE TABLE outbox (pos INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, to_user TEXT,
            conversation_id TEXT, content TEXT NOT NULL, created_at REAL NOT NULL);
        CREATE TABLE messages (conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, id TEXT NOT NULL,
            sender_user TEXT NOT NULL, sender_device TEXT NOT NULL, ts REAL NOT NULL, content TEXT NOT NULL,
            own INTEGER NOT NULL, status TEXT, PRIMARY KEY (conversation_id, seq));
        INSERT INTO outbox(id, to_user, content, created_at) VALUES ('m1', 'u1', '{"type": "text"}', 1.0);
        INSERT INTO messages VALUES ('c1', 1, 'x', 'u2', 'd2', 1.0, '{"type": "text"}', 0, NULL);
        """
    )
    db.close()
    store = StateStore(tmp_path)
    try:
        assert [(e.id, e.kind, e.target) for e in store.outbox()] == [("m1", "send", "to:u1")]
        cached = store.cached_message("c1", 1)
        assert cached is not None and not cached.system and cached.forward_count == 0
        store.outbox_put("f1", {"source": {}, "targets": [{"to": "u1"}, {"conversation_id": "c9"}]}, kind="forward")
        assert store.outbox()[-1].targets == ("to:u1", "c9")
    finally:
        store.close()
    StateStore(tmp_path).close()  # opening again changes nothing
