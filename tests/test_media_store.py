"""The media queries on both engines (SQLite and a real PostgreSQL): who may read, what a message may refer
to, quotas, and what retention sweeps."""

from __future__ import annotations

import uuid

import pytest

from hudhud.store import accounts as aq
from hudhud.store import media as mq
from hudhud.store import messages as q
from hudhud.store import migrate
from hudhud.store.db import Database

pytestmark = pytest.mark.usefixtures("database_url")


@pytest.fixture
async def db(database_url):
    await migrate.upgrade(database_url)
    database = Database(database_url)
    await database.start()
    yield database
    await database.close()


async def setup(db):
    for i, uid in enumerate(("ua", "ub", "uc")):
        await db.write(lambda c, uid=uid, i=i: aq.insert_user(c, uid, f"+20100123456{i}", "", 1.0))
        await db.write(lambda c, uid=uid: aq.insert_device(c, f"d{uid}", uid, "", f"hash{uid}", 1.0))
    await db.write(lambda c: q.create_direct(c, "cab", "ua", "ub", 1.0))


async def ready_media(db, media_id, owner, size=100, *, key=None, at=10.0):
    def op(c):
        mq.insert_media(c, media_id, owner, "image", "image/jpeg", "", False, size, "a" * 64, at)
        mq.set_finished(
            c,
            media_id,
            status="ready",
            key=key or f"blob/aa/{media_id}",
            content_type="image/jpeg",
            blob_size=size,
            blob_sha256="b" * 64,
            width=1,
            height=1,
            thumbnail=False,
            preview=None,
            now=at,
        )

    await db.write(op)


async def send(db, conv, sender, media_ids, *, withheld=False):
    def op(c):
        seq = q.append_message(
            c,
            conv,
            sender,
            f"d{sender}",
            uuid.uuid4().hex,
            b"{}",
            5.0,
            withheld=withheld,
        )
        mq.attach(c, conv, seq, tuple(media_ids))
        return seq

    return await db.write(op)


async def test_readers_follow_membership_windows_and_withholding(db):
    await setup(db)
    await ready_media(db, "m1", "ua")
    await ready_media(db, "m2", "ua")
    assert await db.read(lambda c: mq.readable(c, "m1", "ua")) is not None
    assert await db.read(lambda c: mq.readable(c, "m1", "ub")) is None
    seq = await send(db, "cab", "ua", ["m1"])
    assert seq == 1
    assert (await db.read(lambda c: mq.readable(c, "m1", "ub"))).id == "m1"
    assert await db.read(lambda c: mq.readable(c, "m1", "uc")) is None
    # A withheld message (the recipient blocked the sender) gives the recipient nothing.
    await send(db, "cab", "ua", ["m2"], withheld=True)
    assert await db.read(lambda c: mq.readable(c, "m2", "ub")) is None
    assert await db.read(lambda c: mq.media_of_message(c, "cab", 2)) == ["m2"]
    # A member's window: Uc joins "cab" after seq 2 (as a group member would), then leaves at seq 3.
    from hudhud.store.schema import members

    await db.write(lambda c: c.execute(members.insert().values(conversation_id="cab", user_id="uc", joined_seq=2)))
    await ready_media(db, "m3", "ua")
    await ready_media(db, "m4", "ua")
    await send(db, "cab", "ua", ["m3"])  # seq 3
    await db.write(lambda c: c.execute(members.update().where(members.c.user_id == "uc").values(left_seq=3)))
    await send(db, "cab", "ua", ["m4"])  # seq 4
    assert await db.read(lambda c: mq.readable(c, "m1", "uc")) is None
    assert await db.read(lambda c: mq.readable(c, "m3", "uc")) is not None
    assert await db.read(lambda c: mq.readable(c, "m4", "uc")) is None


async def test_what_a_message_may_refer_to(db):
    await setup(db)
    await ready_media(db, "m1", "ua")
    await db.write(lambda c: mq.insert_media(c, "m9", "ua", "image", "", "", False, 10, "a" * 64, 1.0))
    await db.read(lambda c: mq.check_attachable(c, "ua", ("m1",)))
    for user, ids in (("ub", ("m1",)), ("ua", ("m9",)), ("ua", ("m1", "nope"))):
        with pytest.raises(mq.MediaNotFound):
            await db.read(lambda c, user=user, ids=ids: mq.check_attachable(c, user, ids))
    await send(db, "cab", "ua", ["m1"])
    await db.read(lambda c: mq.check_attachable(c, "ub", ("m1",)))  # Ub can read it now, so may pass it on
    # A forwarded copy refers to the source's media.
    await db.write(lambda c: q.create_direct(c, "cbc", "ub", "uc", 1.0))

    def forward(c):
        seq = q.append_message(c, "cbc", "ub", "dub", "fw", b"{}", 6.0)
        mq.copy_refs(c, ("cab", 1), "cbc", seq)

    await db.write(forward)
    assert (await db.read(lambda c: mq.readable(c, "m1", "uc"))).id == "m1"


async def test_usage_and_retention_queries(db):
    await setup(db)
    await ready_media(db, "m1", "ua", 100, key="blob/aa/shared", at=10.0)
    await ready_media(db, "m2", "ua", 50, key="blob/aa/shared", at=10.0)
    await ready_media(db, "m3", "ub", 70, key="blob/aa/other", at=10.0)
    await db.write(lambda c: mq.insert_media(c, "m4", "ua", "video", "", "", False, 1000, "a" * 64, 10.0))
    await db.write(lambda c: [mq.add_blob(c, k, 1, False, 10.0) for k in ("blob/aa/shared", "blob/aa/other")])
    assert await db.read(lambda c: mq.usage_bytes(c, "ua")) == 1150
    await send(db, "cab", "ua", ["m1"])
    assert [m.id for m in await db.read(lambda c: mq.expired(c, 20.0, 100.0, 100.0))] == []
    gone = await db.read(lambda c: mq.expired(c, 200.0, 100.0, 100.0))
    assert sorted(m.id for m in gone) == ["m2", "m3", "m4"]  # m1 was sent

    def sweep(c):
        for m in gone:
            mq.delete_media(c, m.id)
        return mq.start_blob_deletes(c, {m.store_key for m in gone if m.store_key} | mq.orphan_blobs(c))

    doomed = await db.write(sweep)
    assert doomed == ["blob/aa/other"]  # "shared" still backs m1
    assert await db.read(lambda c: mq.blob_state(c, "blob/aa/other")) == "deleting"
    await db.write(lambda c: mq.finish_blob_deletes(c, doomed))
    assert await db.read(lambda c: mq.blob_state(c, "blob/aa/other")) is None
    assert await db.read(lambda c: mq.blob_state(c, "blob/aa/shared")) == "stored"
    assert await db.read(lambda c: mq.usage_bytes(c, "ua")) == 100


async def test_staged_parts_compare_and_set(db):
    """A chunk is recorded only where the upload stands: of two chunks for one offset (two nodes, say) the second
    writes nothing and learns where the upload stands; a finished upload takes no chunk; deleting the upload
    hands back its parts' keys."""
    await setup(db)
    await db.write(lambda c: mq.insert_media(c, "mup", "ua", "document", "", "", False, 300, "a" * 64, 1.0))
    assert await db.write(lambda c: mq.add_part(c, "mup", 0, 100, "upload/first", 2.0)) is None
    assert await db.write(lambda c: mq.add_part(c, "mup", 0, 100, "upload/loser", 2.0)) == 100
    assert await db.write(lambda c: mq.add_part(c, "mup", 50, 10, "upload/wrong", 2.0)) == 100
    assert await db.write(lambda c: mq.add_part(c, "mup", 100, 200, "upload/second", 3.0)) is None
    record = await db.read(lambda c: mq.get_media(c, "mup"))
    assert record.staged == 300 and record.updated_at == 3.0
    assert await db.read(lambda c: mq.parts(c, "mup")) == [(0, 100, "upload/first"), (100, 200, "upload/second")]
    assert await db.write(lambda c: mq.add_part(c, "nope", 0, 1, "upload/x", 3.0)) == 0
    await db.write(lambda c: mq.mark_ready(c, "mup", 4.0))
    assert await db.write(lambda c: mq.add_part(c, "mup", 300, 1, "upload/late", 5.0)) == 300
    assert sorted(await db.write(lambda c: mq.delete_media(c, "mup"))) == ["upload/first", "upload/second"]
    assert await db.read(lambda c: mq.parts(c, "mup")) == []
