"""`hudhud admin migrate-sqlite-to-postgres`: a single-box installation, moved onto PostgreSQL with its data
directory, is the same installation. Devices keep their tokens and resume from where they acknowledged, every
chat reads back the same, and new messages, codes and media go on from there."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import mediakit as mk
from tests.groupkit import PHONES, Person
from tests.opskit import Admin, everything, hudhud_ok, on, populate, send
from tests.support import RawClient, running_server

pytestmark = pytest.mark.postgres

DINA = PHONES["dina"]


@pytest.fixture
def admin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Admin:
    return Admin(capsys, monkeypatch)


async def deliveries(client: RawClient) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for frame in client.take_all("deliver"):
        frame.pop("type")
        out.setdefault(frame["conversation_id"], []).append(frame)
    return out


async def settle(client: RawClient) -> None:
    """Wait until the frames sent before have been carried out: replies come in order, and an ack's waits for
    its commit."""
    await client.send({"type": "ping"})
    await client.expect("pong")


@pytest.mark.sqlite_only("the installation it moves is a SQLite one")
async def test_an_installation_moves_to_postgres_whole(tmp_path: Path, postgres_url: str, admin: Admin) -> None:
    async with running_server(tmp_path) as server:
        inst = await populate(server)
        second_id, second_token = await server.add_device(inst.badr.phone, "laptop")
        # Dina registers by SMS (a verification code, a code_sends row), writes to Chadi as a stranger and is
        # blocked by him: her next message is withheld from him.
        login = await server.register(DINA, "phone")
        dina = Person(server, "dina", login["user_id"], login["token"])
        d = await dina.client()
        await send(d, {"type": "text", "text": "hello?"}, to=inst.chadi.id)
        r = await inst.chadi.call("POST", "/v1/blocks", json={"user_id": dina.id})
        assert r.status_code == 204, r.text
        await send(d, {"type": "text", "text": "hello??"}, to=inst.chadi.id)
        # Badr's phone has acknowledged the first three messages of his chat with Amal and all of the group.
        b = await server.client(inst.badr.token)
        group_seqs = [f["seq"] for f in b.take_all("deliver", conversation_id=inst.group)]
        await b.send({"type": "ack", "conversation_id": inst.direct, "seq": 3})
        await b.send({"type": "ack", "conversation_id": inst.group, "seq": max(group_seqs)})
        await settle(b)
        await b.close()
        before = {p.name: await everything(p) for p in (inst.amal, inst.badr, inst.chadi, dina)}
    texts = {name: [m["content"].get("text") for h in before[name]["history"].values() for m in h] for name in before}
    assert "hello?" in texts["chadi"] and "hello??" not in texts["chadi"] and "hello??" in texts["dina"]

    out = await hudhud_ok(
        "admin",
        "migrate-sqlite-to-postgres",
        "--from",
        f"sqlite:///{tmp_path / 'var' / 'hudhud.db'}",
        "--to",
        postgres_url,
    )
    assert "messages" in out

    async with running_server(tmp_path, database_url=postgres_url) as moved:
        assert moved.hub.db.dialect == "postgresql"
        people = on(moved, inst.amal, inst.badr, inst.chadi, dina)
        for person in people:
            assert await everything(person) == before[person.name], person.name
        amal, badr = people[:2]
        history = before["badr"]["history"]

        # Badr's phone resumes after what it acknowledged; his laptop, which never connected, gets everything.
        phone = await moved.client(badr.token)
        got = await deliveries(phone)
        assert got == {
            inst.direct: [m for m in history[inst.direct] if m["seq"] > 3 and m["sender"]["user_id"] != badr.id]
        }
        laptop = await moved.client(second_token)
        got = await deliveries(laptop)
        want = {c: [m for m in h if m["sender"]["device_id"] != second_id] for c, h in history.items()}
        assert got == {c: h for c, h in want.items() if h}
        assert [m["seq"] for m in got[inst.direct]] == sorted(m["seq"] for m in got[inst.direct])

        # New messages take the next seq in each chat, and reach both devices.
        a = await moved.client(amal.token)
        for conv, target in ((inst.direct, {"to": badr.id}), (inst.group, {"conversation_id": inst.group})):
            last = before["amal"]["history"][conv][-1]["seq"]
            sent = await send(a, {"type": "text", "text": "on PostgreSQL now"}, **target)
            assert sent["seq"] == last + 1 and sent["conversation_id"] == conv
            for device in (phone, laptop):
                assert (await device.expect("deliver", conversation_id=conv, seq=last + 1))["id"]
        # Codes (a serial key in code_sends) and media go on: a new account registers, media uploads and the old
        # media downloads.
        ehab = await moved.register(PHONES["ehab"], "phone")
        assert ehab["new_account"] is True
        for media_id, data in inst.media.items():
            r = await badr.call("GET", f"/v1/media/{media_id}")
            assert r.status_code == 200 and r.content == data
        async with amal.http() as c:
            fresh = await mk.upload(c, "document", mk.pdf(3), "application/pdf")
        assert fresh["status"] == "ready"

    # A target that holds data is refused.
    rc, _, err = await admin(
        "admin",
        "migrate-sqlite-to-postgres",
        "--from",
        f"sqlite:///{tmp_path / 'var' / 'hudhud.db'}",
        "--to",
        postgres_url,
    )
    assert rc == 1 and "is not empty" in err


async def test_a_source_behind_the_schema_or_a_bad_url_is_refused(
    tmp_path: Path, postgres_url: str, admin: Admin
) -> None:
    source = f"sqlite:///{tmp_path / 'var' / 'hudhud.db'}"
    rc, _, err = await admin("admin", "migrate-sqlite-to-postgres", "--from", source, "--to", postgres_url)
    assert rc == 1 and "no SQLite database" in err
    await admin.ok("admin", "migrate", "--data-dir", str(tmp_path / "var"), "--revision", "0006")
    rc, _, err = await admin("admin", "migrate-sqlite-to-postgres", "--from", source, "--to", postgres_url)
    assert rc == 1 and "hudhud admin migrate --database-url" in err
    await admin.ok("admin", "migrate", "--data-dir", str(tmp_path / "var"))
    rc, _, err = await admin(
        "admin", "migrate-sqlite-to-postgres", "--from", source, "--to", "postgresql://root@127.0.0.1:1/nothing"
    )
    assert rc == 1 and "cannot connect" in err
    rc, _, err = await admin("admin", "migrate-sqlite-to-postgres", "--from", postgres_url, "--to", source)
    assert rc == 1 and "--from must be a SQLite URL" in err
