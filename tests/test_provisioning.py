"""Provisioning and deleting accounts: `hudhud admin create-users`, `revoke-device`, `delete-user`, a user's
own `DELETE /v1/me` and `hudhud delete-account` (docs/protocol.md section 3.6a, docs/deploy.md)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hudhud.cli import main
from hudhud.store import accounts as aq
from hudhud.store import media as mq
from hudhud.store.schema import blocks
from tests import mediakit as mk
from tests.clikit import Cli, _clean_env  # noqa: F401 - the fixture applies to this module
from tests.groupkit import create_group, people
from tests.support import database_for, running_server
from tests.test_client_sdk import login_profile


async def admin(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    if "--data-dir" in argv and (url := database_for(Path(argv[argv.index("--data-dir") + 1]))):
        argv = (*argv, "--database-url", url)  # HUDHUD_TEST_DATABASE=postgresql: the data directory's database
    rc = await asyncio.to_thread(main, ["admin", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


# -- create-users -----------------------------------------------------------------------------------------------


async def test_create_users_from_csv_in_one_process(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "var"
    rc, out, _ = await admin(
        capsys, "create-user", "+201001234567", "--name", "Amal", "--json", "--data-dir", str(data)
    )
    assert rc == 0
    amal = json.loads(out)
    assert set(amal) == {"user_id", "phone", "device_id", "token"} and amal["phone"] == "+201001234567"
    numbers = [f"+1202555{n:04d}" for n in range(100, 200)] + [f"+44207946{n:04d}" for n in range(0, 200)]
    lines = ["phone,name", *(f"{n},Staff {i}" for i, n in enumerate(numbers)), "", "not a number,Nobody"]
    lines += ["+201001234567,Amal again", f"{numbers[0]},Twice", "01101234567"]  # national format, no name
    csv = tmp_path / "staff.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.monotonic()
    rc, out, err = await admin(capsys, "create-users", str(csv), "--json", "--data-dir", str(data))
    elapsed = time.monotonic() - started
    assert rc == 1, "some rows failed"
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(numbers) + 4
    made = [r for r in rows if "token" in r]
    assert [r["phone"] for r in made] == [*numbers, "+201101234567"]
    assert made[0]["line"] == 2 and made[-1]["line"] == len(lines)
    errors = {r["line"]: r["error"]["code"] for r in rows if "error" in r}
    assert errors == {
        len(numbers) + 3: "invalid_phone",
        len(numbers) + 4: "user_exists",
        len(numbers) + 5: "user_exists",
    }
    assert "301 accounts created, 3 rows failed" in err
    assert elapsed < 10, f"{elapsed:.1f} s for {len(made)} accounts"
    # The tokens work on the server that opens this data directory.
    async with running_server(tmp_path) as s:
        for row in (made[0], made[-1], amal):
            async with s.http(row["token"]) as c:
                me = (await c.get("/v1/me")).json()
            assert me["user_id"] == row["user_id"]
        async with s.http(made[5]["token"]) as c:
            assert (await c.get("/v1/me")).json()["display_name"] == "Staff 5"


async def test_create_users_text_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "few.csv"
    csv.write_text("+12025550100,A\n+12025550101,B\n", encoding="utf-8")
    rc, out, err = await admin(capsys, "create-users", str(csv), "--data-dir", str(tmp_path / "var"))
    assert rc == 0 and "2 accounts created, 0 rows failed" in err
    first = out.splitlines()[0].split("  ")
    assert first[0] == "1" and first[2] == "+12025550100" and first[4].startswith("hh_")


# -- operator revoke and delete ---------------------------------------------------------------------------------


async def test_admin_revoke_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "var"
    rc, out, _ = await admin(capsys, "create-user", "+201001234567", "--json", "--data-dir", str(data))
    login = json.loads(out)
    rc, out, _ = await admin(capsys, "revoke-device", login["device_id"], "--data-dir", str(data))
    assert rc == 0 and login["device_id"] in out
    rc, _, err = await admin(capsys, "revoke-device", login["device_id"], "--data-dir", str(data))
    assert rc == 2 and "no such active device" in err
    async with running_server(tmp_path) as s, s.http(login["token"]) as c:
        r = await c.get("/v1/me")
        assert r.status_code == 401 and r.json()["error"]["code"] == "device_revoked"


async def test_admin_delete_user(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "var"
    rc, out, _ = await admin(capsys, "create-user", "+201001234567", "--json", "--data-dir", str(data))
    login = json.loads(out)
    rc, _, err = await admin(capsys, "delete-user", "+201001234567", "--data-dir", str(data))
    assert rc == 2 and "--yes" in err
    rc, out, _ = await admin(capsys, "delete-user", "01001234567", "--yes", "--json", "--data-dir", str(data))
    assert rc == 0 and json.loads(out)["user_id"] == login["user_id"]
    rc, _, err = await admin(capsys, "delete-user", login["user_id"], "--yes", "--data-dir", str(data))
    assert rc == 2 and "no such user" in err
    async with running_server(tmp_path) as s:
        async with s.http(login["token"]) as c:
            assert (await c.get("/v1/me")).status_code == 401
        again = await s.register("+201001234567")  # the number is free again: a new, empty account
        assert again["new_account"] is True and again["user_id"] != login["user_id"]


# -- a user deletes their own account ---------------------------------------------------------------------------


async def test_delete_my_account(server: Any) -> None:
    amal, badr, chadi, dina = await people(server, "amal", "badr", "chadi", "dina")
    await badr.knows(amal)
    await chadi.knows(amal)
    await amal.knows(badr, chadi)
    group = await create_group(amal, "Family", badr, chadi, dina)  # Dina does not have Amal: invited
    conv = group["conversation_id"]
    assert group["invited"] == [dina.id]
    async with amal.http() as c:
        unsent = await mk.upload(c, "image", mk.png())
        sent_media = await mk.upload(c, "image", mk.jpeg())
        r = await c.post("/v1/broadcast-lists", json={"name": "all", "members": [badr.id, chadi.id]})
        assert r.status_code == 201, r.text
        assert (await c.post("/v1/blocks", json={"user_id": dina.id})).status_code == 204
    a = await amal.client()
    direct = await a.send_text("hello Badr", to=badr.id)
    media_msg = {"type": "send", "id": "m1", "to": badr.id, "content": {"type": "media"}}
    await a.send({**media_msg, "media": [sent_media["media_id"]]})
    await a.expect("sent", id="m1")
    b = await badr.client()

    # The confirmation must be the account's number; without a token nothing happens whatever the body.
    r = await amal.call("DELETE", "/v1/me", json={"phone": badr.phone})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    async with server.http() as c:
        assert (await c.request("DELETE", "/v1/me", json={"phone": amal.phone})).status_code == 401
    r = await amal.call("DELETE", "/v1/me", json={"phone": "01001234567"})  # national format is fine
    assert r.status_code == 204, r.text

    # Devices: the token is refused and the live connection is closed as revoked.
    await asyncio.wait_for(a.closed.wait(), 5)
    assert a.close_code == 4401
    r = await amal.call("GET", "/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "device_revoked"
    # The group: Amal left with the usual system message, and the ownership went on.
    while (left := await b.expect("deliver", conversation_id=conv, system=True))["content"]["event"] != "left":
        pass
    assert left["content"]["users"] == [amal.id] and left["content"]["new_owner"] in (badr.id, chadi.id)
    info = (await badr.call("GET", f"/v1/groups/{conv}")).json()
    assert amal.id not in {m["user_id"] for m in info["members"]}
    assert "owner" in {m["role"] for m in info["members"]}
    # Messages already sent stay with the recipient, from an account with no name and no number.
    history = (await badr.call("GET", f"/v1/conversations/{direct['conversation_id']}/messages")).json()
    assert [m["content"].get("text") for m in history["messages"]][:1] == ["hello Badr"]
    chats = (await badr.call("GET", "/v1/conversations")).json()["conversations"]
    chat = next(c for c in chats if c["conversation_id"] == direct["conversation_id"])
    gone = next(m for m in chat["members"] if m["user_id"] == amal.id)
    assert gone == {"user_id": amal.id, "phone": None, "display_name": "", "picture": None}
    assert (await badr.call("GET", f"/v1/users/{amal.id}")).status_code == 404
    # Nobody can start a chat with the account; in a chat that exists, a message is stored for its sender
    # and delivered to nobody (as a message to a deleted WhatsApp account keeps one tick).
    d = await dina.client()
    await d.send({"type": "send", "id": "new", "to": amal.id, "content": {"type": "text", "text": "hi?"}})
    assert (await d.expect("error"))["code"] == "not_found"
    late = await b.send_text("still there?", to=amal.id)
    assert late["conversation_id"] == direct["conversation_id"]
    # Media: what was sent stays readable by the recipient; what was never sent is gone.
    assert (await badr.call("GET", f"/v1/media/{sent_media['media_id']}")).status_code == 200
    assert await server.hub.db.read(lambda c: mq.get_media(c, unsent["media_id"])) is None
    # The invitation Amal sent is void; the contacts, blocks and lists are gone.
    invites = (await dina.call("GET", "/v1/invitations")).json()["invitations"]
    assert invites == []
    hub = server.hub
    assert await hub.db.read(lambda c: aq.list_contacts(c, amal.id)) == []
    blocked = await hub.db.read(lambda c: c.execute(select(blocks).where(blocks.c.blocker_id == amal.id)).all())
    assert blocked == []
    row = await hub.db.read(lambda c: aq.get_users(c, [amal.id]))
    assert row[amal.id].status == "deleted" and row[amal.id].phone == "" and row[amal.id].display_name == ""
    # The number can sign up again: a new account with nothing of the old one.
    again = await server.register(amal.phone)
    assert again["new_account"] is True and again["user_id"] != amal.id


async def test_delete_account_command(server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    creds = await server.make_user("+201001234567", "Amal")
    profile = tmp_path / "amal"
    login_profile(profile, server.url, "+201001234567", creds)
    cli = Cli(capsys, profile, server.url)
    rc, _, err = await cli("delete-account", "--phone", "+201001234567")
    assert rc == 1 and "--yes" in err
    rc, out, _ = await cli("delete-account", "--phone", "+201001234567", "--yes")
    assert rc == 0 and "deleted" in out
    rc, _, err = await cli("chats")
    assert rc == 1 and "hudhud login" in err
    async with server.http(creds[2]) as c:
        assert (await c.get("/v1/me")).status_code == 401
