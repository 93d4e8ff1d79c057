"""The storage contract: every query behaves the same on SQLite and on PostgreSQL (both real)."""

import asyncio
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hudhud.errors import NotMember
from hudhud.store import accounts as aq
from hudhud.store import messages as q
from hudhud.store import migrate
from hudhud.store.db import Database
from hudhud.store.schema import metadata

pytestmark = pytest.mark.usefixtures("database_url")


@pytest.fixture
async def db(database_url):
    await migrate.upgrade(database_url)
    database = Database(database_url)
    await database.start()
    yield database
    await database.close()


async def users(db, *phones):
    ids = []
    for i, phone in enumerate(phones):
        uid = f"u{i}"
        await db.write(lambda c, uid=uid, phone=phone: aq.insert_user(c, uid, phone, "", 1.0))
        await db.write(lambda c, uid=uid: aq.insert_device(c, f"d{uid}", uid, "", f"hash{uid}", 1.0))
        ids.append(uid)
    return ids


async def test_migrations_create_exactly_the_schema(database_url):
    await migrate.upgrade(database_url)
    database = Database(database_url)

    def diff(conn):
        return compare_metadata(MigrationContext.configure(conn), metadata)

    try:
        assert await database.read(diff) == []
    finally:
        await database.close()


async def test_migrations_go_down_and_up(database_url):
    await migrate.upgrade(database_url)
    await migrate.downgrade(database_url, "base")
    await migrate.upgrade(database_url)


async def test_migration_0004_fills_in_who_wrote_and_who_started_existing_chats(database_url):
    """Chats written before 0004: the member who sent a message "wrote", and the sender of seq 1 started it."""
    from sqlalchemy import text

    await migrate.upgrade(database_url, "0003")
    database = Database(database_url)
    await database.start()

    def old_rows(conn):
        for uid, phone in (("ua", "+201001234567"), ("ub", "+201101234567"), ("uc", "+201201234567")):
            conn.execute(text("INSERT INTO users (id, phone, created_at) VALUES (:u, :p, 1.0)"), {"u": uid, "p": phone})
        for conv, key in (("c1", "ua:ub"), ("c2", "ua:uc")):
            conn.execute(
                text(
                    "INSERT INTO conversations (id, kind, direct_key, last_seq, created_at)"
                    " VALUES (:c, 'direct', :k, 0, 1.0)"
                ),
                {"c": conv, "k": key},
            )
            for uid in key.split(":"):
                conn.execute(
                    text("INSERT INTO members (conversation_id, user_id) VALUES (:c, :u)"), {"c": conv, "u": uid}
                )
        for conv, seq, sender in (("c1", 1, "ub"), ("c1", 2, "ua"), ("c2", 1, "ua")):
            conn.execute(
                text(
                    "INSERT INTO messages (conversation_id, seq, sender_id, sender_device_id, client_msg_id,"
                    " created_at, content) VALUES (:c, :s, :u, 'd', :m, 1.0, :b)"
                ),
                {"c": conv, "s": seq, "u": sender, "m": f"{conv}{seq}", "b": b"{}"},
            )

    try:
        await database.write(old_rows)
    finally:
        await database.close()
    await migrate.upgrade(database_url)
    database = Database(database_url)
    await database.start()
    try:
        c1 = {m.user_id: m.wrote for m in await database.read(lambda c: q.list_members(c, "c1"))}
        c2 = {m.user_id: m.wrote for m in await database.read(lambda c: q.list_members(c, "c2"))}
        assert c1 == {"ua": True, "ub": True} and c2 == {"ua": True, "uc": False}
        assert (await database.read(lambda c: q.get_conversation(c, "c1"))).created_by == "ub"
        assert (await database.read(lambda c: q.get_conversation(c, "c2"))).created_by == "ua"
    finally:
        await database.close()


async def test_direct_conversation_is_shared_and_unique(db):
    a, b = await users(db, "+201001234567", "+201101234567")
    c1 = await db.write(lambda c: q.create_direct(c, "c1", a, b, 1.0))
    c2 = await db.write(lambda c: q.create_direct(c, "c2", b, a, 1.0))
    assert c1 == c2 == "c1"
    assert await db.read(lambda c: q.find_direct(c, b, a)) == "c1"
    assert [m.user_id for m in await db.read(lambda c: q.list_members(c, "c1"))] == sorted([a, b])


async def test_sequence_is_gapless_under_concurrent_writes(db):
    a, b = await users(db, "+201001234567", "+201101234567")
    await db.write(lambda c: q.create_direct(c, "c1", a, b, 1.0))

    async def send(i):
        return await db.write(lambda c: q.append_message(c, "c1", a, f"d{a}", f"m{i}", b"{}", 1.0))

    seqs = await asyncio.gather(*(send(i) for i in range(200)))
    assert sorted(seqs) == list(range(1, 201))
    # Group commit: the 200 writes shared far fewer transactions.
    assert db.batches < 200
    page = await db.read(lambda c: q.fetch_after(c, "c1", b, 150, 500))
    assert [m.seq for m in page] == list(range(151, 201))
    assert [m.client_msg_id for m in page][:2] == ["m150", "m151"]


async def test_client_id_is_unique_per_device(db):
    a, b = await users(db, "+201001234567", "+201101234567")
    await db.write(lambda c: q.create_direct(c, "c1", a, b, 1.0))
    await db.write(lambda c: q.append_message(c, "c1", a, f"d{a}", "same", b"{}", 1.0))
    # The send path's dedupe: the earlier message, with the direct chat and the block flag, in one query.
    context = await db.read(lambda c: q.send_context(c, a, f"d{a}", "same", b))
    assert context is not None
    sender, earlier, direct_id, blocked, wrote = context
    # a started the chat, so a counts as having written in it; b has not.
    assert (sender.id, earlier, direct_id, blocked, wrote) == (a, ("c1", 1, 1.0), "c1", False, True)
    peer_side = await db.read(lambda c: q.send_context(c, b, f"d{b}", "x", a))
    assert peer_side is not None and peer_side[2] == "c1" and peer_side[4] is False
    fresh = await db.read(lambda c: q.send_context(c, a, f"d{a}", "other", None))
    assert fresh is not None and fresh[1] is None and fresh[2] is None
    with pytest.raises(Exception):  # noqa: B017 - the engines raise different IntegrityError classes
        await db.write(lambda c: q.append_message(c, "c1", a, f"d{a}", "same", b"{}", 1.0))
    # The failed write left nothing behind, and the sequence did not move.
    conv = await db.read(lambda c: q.get_conversation(c, "c1"))
    assert conv.last_seq == 1


async def test_failed_operation_does_not_take_its_batch_down(db):
    a, b = await users(db, "+201001234567", "+201101234567")
    await db.write(lambda c: q.create_direct(c, "c1", a, b, 1.0))

    def refuse(conn):
        raise NotMember("no")

    async def good(i):
        return await db.write(lambda c: q.append_message(c, "c1", a, f"d{a}", f"g{i}", b"{}", 1.0))

    results = await asyncio.gather(good(0), db.write(refuse), good(1), return_exceptions=True)
    assert isinstance(results[1], NotMember)
    assert sorted(results[0::2]) == [1, 2]


async def test_cursor_only_moves_forward_and_sync_resumes_there(db):
    a, b = await users(db, "+201001234567", "+201101234567")
    await db.write(lambda c: q.create_direct(c, "c1", a, b, 1.0))
    for i in range(5):
        await db.write(lambda c, i=i: q.append_message(c, "c1", a, f"d{a}", f"m{i}", b"{}", 1.0))
    assert await db.read(lambda c: q.sync_starts(c, f"d{b}", b)) == {"c1": (0, 5)}
    await db.write(lambda c: q.advance_cursor(c, f"d{b}", "c1", 3))
    await db.write(lambda c: q.advance_cursor(c, f"d{b}", "c1", 2))  # stale ack: ignored
    assert await db.read(lambda c: q.sync_starts(c, f"d{b}", b)) == {"c1": (3, 5)}
    assert await db.read(lambda c: q.resume_position(c, f"d{b}", b, "c1")) == (3, 5)
    await db.write(lambda c: q.advance_cursor(c, f"d{b}", "c1", 5))
    assert await db.read(lambda c: q.sync_starts(c, f"d{b}", b)) == {}


async def test_watermarks_move_forward_and_read_implies_delivered(db):
    a, b = await users(db, "+201001234567", "+201101234567")
    await db.write(lambda c: q.create_direct(c, "c1", a, b, 1.0))
    moved = await db.write(lambda c: q.advance_watermarks(c, "c1", b, delivered=4))
    assert (moved.delivered_seq, moved.read_seq) == (4, 0)
    assert await db.write(lambda c: q.advance_watermarks(c, "c1", b, delivered=3)) is None
    moved = await db.write(lambda c: q.advance_watermarks(c, "c1", b, read=6))
    assert (moved.delivered_seq, moved.read_seq) == (6, 6)


async def test_contacts_and_discovery_usage(db):
    a, b = await users(db, "+201001234567", "+201101234567")
    await db.write(lambda c: aq.upsert_contacts(c, a, {"+201101234567": "B", "+201501234567": "X"}, 1.0))
    await db.write(lambda c: aq.upsert_contacts(c, a, {"+201101234567": "Badr"}, 2.0))
    book = await db.read(lambda c: aq.list_contacts(c, a))
    assert [(x.phone, x.name, x.user_id) for x in book] == [("+201101234567", "Badr", b), ("+201501234567", "X", None)]
    await db.write(lambda c: aq.add_discovery_use(c, a, "2026-01-01", 3))
    await db.write(lambda c: aq.add_discovery_use(c, a, "2026-01-01", 4))
    assert await db.read(lambda c: aq.discovery_used(c, a, "2026-01-01")) == 7
    await db.write(lambda c: aq.add_discovery_use(c, a, "2026-01-02", 1))
    assert await db.read(lambda c: aq.discovery_used(c, a, "2026-01-01")) == 0  # old days are dropped


async def test_a_write_lock_held_by_another_process_makes_only_the_writer_wait(database_url):
    """Small batches commit on the event loop, which must never wait for SQLite's write lock: while another
    process (an operator's command, say) holds it, the batch goes to the writer thread, which waits for it, and
    commits once the lock is released. Reads go on meanwhile."""
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock")
    await migrate.upgrade(database_url)
    database = Database(database_url)
    await database.start()
    other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        a, b = await users(database, "+201001234567", "+201101234567")
        other.execute("BEGIN IMMEDIATE")
        pending = database.submit(lambda c: q.create_direct(c, "c1", a, b, 1.0), quick=True)
        assert await database.read(lambda c: q.find_direct(c, a, b)) is None  # the event loop is free
        await asyncio.sleep(0.2)
        assert not pending.done()  # waiting for the lock, not failed
        other.execute("COMMIT")
        assert await asyncio.wait_for(pending, 10) == "c1"
        assert database._inline_batches == 0  # it was committed by the writer thread
        assert await database.read(lambda c: q.find_direct(c, a, b)) == "c1"
        # With the lock free again, the next small batch commits on the event loop as before.
        before = database._inline_batches
        assert await database.submit(lambda c: q.append_message(c, "c1", a, f"d{a}", "m1", b"{}", 1.0), quick=True) == 1
        assert database._inline_batches == before + 1
    finally:
        other.close()
        await database.close()


async def test_a_connection_left_in_a_transaction_is_never_reused(database_url):
    """A task cancelled while its BEGIN is on the wire (a device's delivery feed when the device goes away) leaves
    its asyncpg connection inside a transaction that asyncpg counts as its outermost and SQLAlchemy does not
    know of, and the pool takes it back as it is. Made here directly. Every write acknowledged afterwards must
    be committed (another pool reads it at once), and nothing may stay idle in transaction."""
    from sqlalchemy import text

    if not database_url.startswith("postgresql"):
        pytest.skip("asyncpg's transactions; SQLite's pool has no such state")
    await migrate.upgrade(database_url)
    db = Database(database_url)
    await db.start()
    other = Database(database_url)
    try:
        assert db._async is not None
        async with db._async.connect() as aconn:
            raw = (await aconn.get_raw_connection()).driver_connection
            assert raw is not None
            await raw.transaction().start()  # what the cancelled BEGIN leaves behind
        for i in range(12):  # more than the pool holds, so every pooled connection takes one
            uid = f"u{i}"
            await db.write(lambda c, uid=uid, i=i: aq.insert_user(c, uid, f"+2010{i:08d}", "", 1.0))
            assert await other.read(lambda c, uid=uid: aq.get_user(c, uid)) is not None, uid
            await db.write(lambda c, uid=uid: aq.update_user(c, uid, last_seen_at=2.0))
        idle = await other.read(
            lambda c: c.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
                )
            ).scalar()
        )
        assert idle == 0
    finally:
        await other.close()
        await db.close()


def test_a_batch_locks_its_conversations_in_one_order() -> None:
    """The rows a PostgreSQL batch locks first (store/db.py `_conversations_to_lock`): each conversation once,
    sorted, and not the pair keys of first messages (their conversation may not exist yet)."""
    from hudhud.store.db import _conversations_to_lock

    batch = [(None, None, True, k) for k in ["c2", "c1", "c2", None, "to:ua:ub", "c3", "c1"]]
    assert _conversations_to_lock(batch) == ["c1", "c2", "c3"]  # type: ignore[arg-type]
