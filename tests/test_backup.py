"""`hudhud admin backup` and `hudhud admin restore-backup` on both engines, run as their own processes beside a
real server: a backup taken while messages are being written restores into a fresh installation whose server
gives back every message of the backup exactly, media included, and nothing that came after it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from hudhud.store.migrate import alembic_config
from hudhud.store.schema import messages
from tests.groupkit import Person
from tests.opskit import Admin, Installation, everything, hudhud, hudhud_ok, on, populate, send, writer
from tests.support import POSTGRES_URL, RawClient, ServerHandle, running_server
from tests.support import _admin as _execute
from tests.support import run_coroutine as _run

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()  # the newest migration


@pytest.fixture
def second_postgres_url(postgres_url: str) -> Iterator[str]:
    """Another fresh database on the same PostgreSQL server, to restore into."""
    name = f"hudhud_t_{uuid.uuid4().hex[:12]}"
    _run(_execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        _run(_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def backup_while_writing(inst: Installation, *argv: str) -> tuple[dict[str, Any], int]:
    """Run `hudhud admin backup ARGV` while Amal keeps writing to Badr and to the group; one more message goes
    out after the backup is done. Returns the manifest and how many messages were acknowledged before the
    backup process started (all of them must be in it)."""
    a = await inst.amal.client()
    stop, counter, going = asyncio.Event(), [0], asyncio.Event()
    targets = [{"to": inst.badr.id}, {"conversation_id": inst.group}]
    task = asyncio.create_task(writer(a, targets, stop, counter, going))
    await going.wait()
    acked_before = counter[0]
    out = await hudhud_ok("admin", "backup", *argv, "--json")
    stop.set()
    await task
    await send(a, {"type": "text", "text": "after the backup"}, to=inst.badr.id)
    await a.close()
    manifest: dict[str, Any] = json.loads(out)
    return manifest, inst.sent + acked_before


async def check_restored(
    restored: ServerHandle, inst: Installation, source: dict[str, Any], least: int, manifest: dict[str, Any]
) -> None:
    """Every chat of every person on the restored server is the start of the same chat on the source: the same
    envelopes, byte for byte, from seq 1 up to where the backup's snapshot was taken."""
    total_source = total_restored = 0
    for person in on(restored, inst.amal, inst.badr, inst.chadi):
        got = await everything(person)
        want = source[person.name]
        assert [c["conversation_id"] for c in got["chats"]] == [c["conversation_id"] for c in want["chats"]]
        for conv, messages_ in got["history"].items():
            full = want["history"][conv]
            assert messages_ == full[: len(messages_)], f"{person.name} in {conv}"
            seqs = [m["seq"] for m in messages_]  # no gap (a group member's history starts after joining)
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        if person.name == "amal":
            total_restored = sum(len(h) for h in got["history"].values())
            total_source = sum(len(h) for h in want["history"].values())
    # Amal is in every conversation that holds user messages. The messages acknowledged before the backup began
    # are in it (a message is acknowledged once committed); the one sent after it finished is not.
    user_restored = sum(
        1 for h in (await everything(on(restored, inst.amal)[0]))["history"].values() for m in h if not m.get("system")
    )
    assert least <= user_restored
    assert total_restored < total_source
    count = await restored.hub.db.read(lambda c: c.execute(select(func.count()).select_from(messages)).scalar_one())
    assert count == manifest["messages"] == manifest["tables"]["messages"]
    # Media came back with the database: a member downloads the same bytes.
    for media_id, data in inst.media.items():
        r = await on(restored, inst.badr)[0].call("GET", f"/v1/media/{media_id}")
        assert r.status_code == 200, r.text
        assert r.content == data


def others(history: dict[str, list[dict[str, Any]]], person: Person) -> dict[str, list[dict[str, Any]]]:
    """The messages of each chat that a device of `person` is delivered: all but those it sent itself."""
    out = {conv: [m for m in h if m["sender"]["user_id"] != person.id] for conv, h in history.items()}
    return {conv: h for conv, h in out.items() if h}


async def caught_up(server: ServerHandle, person: Person) -> dict[str, list[dict[str, Any]]]:
    """What this person's device receives on connecting (it has acknowledged nothing), by conversation."""
    c: RawClient = await server.client(person.token)
    out: dict[str, list[dict[str, Any]]] = {}
    for frame in c.take_all("deliver"):
        frame.pop("type")
        out.setdefault(frame["conversation_id"], []).append(frame)
    await c.close()
    return out


@pytest.mark.sqlite_only("backs up a SQLite installation (the PostgreSQL case is the next test)")
async def test_sqlite_backup_while_writing_restores_every_message(server_factory: Any, tmp_path: Path) -> None:
    async with server_factory() as server:
        inst = await populate(server)
        manifest, least = await backup_while_writing(
            inst, str(tmp_path / "backup"), "--data-dir", str(tmp_path / "var")
        )
        source = {p.name: await everything(p) for p in (inst.amal, inst.badr, inst.chadi)}
    assert manifest["engine"] == "sqlite" and manifest["alembic_revision"] == HEAD
    assert manifest["media"]["included"] and manifest["media"]["missing"] == []
    assert (tmp_path / "backup" / "hudhud.db").is_file() and not (tmp_path / "backup" / "hudhud.db-wal").exists()
    stored = {
        p.relative_to(tmp_path / "var" / "media" / "store")
        for p in (tmp_path / "var" / "media" / "store").rglob("*")
        if p.is_file()
    }
    copied = {
        p.relative_to(tmp_path / "backup" / "media") for p in (tmp_path / "backup" / "media").rglob("*") if p.is_file()
    }
    assert stored == copied and len(copied) >= 3  # the picture, its thumbnail and the document

    fresh = tmp_path / "restored"
    await hudhud_ok("admin", "restore-backup", str(tmp_path / "backup"), "--data-dir", str(fresh / "var"))
    async with running_server(fresh) as restored:
        await check_restored(restored, inst, source, least, manifest)
        got = await caught_up(restored, on(restored, inst.badr)[0])
        badr = await everything(on(restored, inst.badr)[0])
        assert got == others(badr["history"], inst.badr)
        restored_amal = (await everything(on(restored, inst.amal)[0]))["history"]

    # The source holds more than the backup now: restoring over it is refused, unless --force.
    rc, _, err = await hudhud("admin", "restore-backup", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "var"))
    assert rc == 1 and "already holds data" in err and "--force" in err
    await hudhud_ok("admin", "restore-backup", str(tmp_path / "backup"), "--data-dir", str(tmp_path / "var"), "--force")
    async with running_server(tmp_path) as again:
        count = await again.hub.db.read(lambda c: c.execute(select(func.count()).select_from(messages)).scalar_one())
        assert count == manifest["messages"]
        amal = on(again, inst.amal)[0]
        assert (await everything(amal))["history"] == restored_amal


@pytest.mark.postgres
async def test_postgres_backup_while_writing_restores_every_message(
    server_factory: Any, tmp_path: Path, postgres_url: str, second_postgres_url: str
) -> None:
    async with server_factory(database_url=postgres_url) as server:
        inst = await populate(server)
        data_dir = str(tmp_path / "var")
        manifest, least = await backup_while_writing(
            inst, str(tmp_path / "backup"), "--database-url", postgres_url, "--data-dir", data_dir
        )
        source = {p.name: await everything(p) for p in (inst.amal, inst.badr, inst.chadi)}
        # The source has data: restoring into it is refused (and leaves it alone while its server runs).
        rc, _, err = await hudhud(
            "admin", "restore-backup", str(tmp_path / "backup"), "--database-url", postgres_url, "--data-dir", data_dir
        )
        assert rc == 1 and "already holds data" in err
    assert manifest["engine"] == "postgresql" and manifest["database_file"] == "hudhud.pgdump"
    assert (tmp_path / "backup" / "hudhud.pgdump").read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
    assert manifest["media"]["included"] and manifest["media"]["files"] >= 3

    fresh = tmp_path / "restored"
    args = ("--database-url", second_postgres_url, "--data-dir", str(fresh / "var"))
    await hudhud_ok("admin", "restore-backup", str(tmp_path / "backup"), *args)
    async with running_server(fresh, database_url=second_postgres_url) as restored:
        await check_restored(restored, inst, source, least, manifest)
        got = await caught_up(restored, on(restored, inst.badr)[0])
        badr = await everything(on(restored, inst.badr)[0])
        assert got == others(badr["history"], inst.badr)
        # The restored database goes on where the backup stopped: the next message takes the next seq.
        a = await restored.client(inst.amal.token)
        last = max(m["seq"] for m in badr["history"][inst.direct])
        assert (await send(a, {"type": "text", "text": "back"}, to=inst.badr.id))["seq"] == last + 1
    # --force replaces a database that has data (pg_restore --clean).
    await hudhud_ok("admin", "restore-backup", str(tmp_path / "backup"), *args, "--force")
    async with running_server(fresh, database_url=second_postgres_url) as again:
        count = await again.hub.db.read(lambda c: c.execute(select(func.count()).select_from(messages)).scalar_one())
        assert count == manifest["messages"]


@pytest.fixture
def admin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Admin:
    return Admin(capsys, monkeypatch)


def leftovers(where: Path) -> list[str]:
    """Directories a failed backup left behind (there must be none)."""
    return [p.name for p in where.iterdir() if ".partial-" in p.name or p.name == "b"]


@pytest.mark.sqlite_only("SQLite's own errors")
async def test_sqlite_errors_say_what_is_wrong(tmp_path: Path, admin: Admin) -> None:
    data = str(tmp_path / "var")
    rc, _, err = await admin("admin", "backup", str(tmp_path / "b"), "--data-dir", data)
    assert rc == 1 and "no SQLite database" in err
    await admin.ok("admin", "migrate", "--data-dir", data)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    rc, _, err = await admin("admin", "backup", str(tmp_path / "full"), "--data-dir", data)
    assert rc == 1 and "not an empty directory" in err
    rc, _, err = await admin("admin", "backup", str(tmp_path / "no" / "such" / "dir"), "--data-dir", data)
    assert rc == 1 and "does not exist" in err
    assert leftovers(tmp_path) == []
    rc, _, err = await admin("admin", "restore-backup", str(tmp_path / "full"), "--data-dir", data)
    assert rc == 1 and "not a Hudhud backup" in err
    # A backup from a newer Hudhud (a schema revision this one does not know) is refused.
    await admin.ok("admin", "backup", str(tmp_path / "good"), "--data-dir", data)
    manifest = tmp_path / "good" / "manifest.json"
    original = manifest.read_text()
    manifest.write_text(original.replace(f'"alembic_revision": "{HEAD}"', '"alembic_revision": "0099"'))
    rc, _, err = await admin("admin", "restore-backup", str(tmp_path / "good"), "--data-dir", str(tmp_path / "new"))
    assert rc == 1 and "revision 0099" in err and "does not know" in err
    manifest.write_text(original)
    # A damaged database file is caught before the target is touched.
    db = tmp_path / "good" / "hudhud.db"
    db.write_bytes(db.read_bytes()[:4096])
    rc, _, err = await admin("admin", "restore-backup", str(tmp_path / "good"), "--data-dir", str(tmp_path / "new"))
    assert rc == 1 and "damaged" in err
    assert not (tmp_path / "new" / "hudhud.db").exists()


@pytest.mark.postgres
async def test_postgres_errors_say_what_is_wrong(tmp_path: Path, postgres_url: str, admin: Admin) -> None:
    await admin.ok("admin", "migrate", "--database-url", postgres_url)
    dest = str(tmp_path / "b")
    rc, _, err = await admin("admin", "backup", dest, "--database-url", postgres_url, env={"PATH": "/nonexistent"})
    assert rc == 1 and "pg_dump not found" in err
    unreachable = "postgresql://root@127.0.0.1:1/nothing"
    rc, _, err = await admin("admin", "backup", dest, "--database-url", unreachable)
    assert rc == 1 and "cannot connect to the PostgreSQL database" in err
    assert leftovers(tmp_path) == []
    await admin.ok("admin", "backup", dest, "--database-url", postgres_url, "--data-dir", str(tmp_path / "var"))
    rc, _, err = await admin("admin", "restore-backup", dest, "--database-url", unreachable)
    assert rc == 1 and "cannot connect" in err
    rc, _, err = await admin(
        "admin", "restore-backup", dest, "--database-url", postgres_url, "--force", env={"PATH": "/nonexistent"}
    )
    assert rc == 1 and "pg_restore not found" in err
    # A PostgreSQL backup does not go into SQLite, and the other way round.
    rc, _, err = await admin("admin", "restore-backup", dest, "--data-dir", str(tmp_path / "lite"))
    assert rc == 1 and "postgresql database and the target is sqlite" in err
    await admin.ok("admin", "migrate", "--data-dir", str(tmp_path / "lite"))
    await admin.ok("admin", "backup", str(tmp_path / "lb"), "--data-dir", str(tmp_path / "lite"))
    rc, _, err = await admin("admin", "restore-backup", str(tmp_path / "lb"), "--database-url", postgres_url)
    assert rc == 1 and "migrate-sqlite-to-postgres" in err
