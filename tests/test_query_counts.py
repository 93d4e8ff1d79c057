"""Pinned statement counts on the hot paths (as Zulip pins its query counts): a change that adds a statement to
every send or every ack shows up here, in review, rather than in a benchmark weeks later."""

import asyncio

import pytest
from sqlalchemy import event

from hudhud.errors import ClientError
from hudhud.store import messages as mq

# The counts are SQLite's: the counter hooks its trace callback, and on PostgreSQL the same work is counted
# differently (asyncpg's own BEGIN, reads inside a transaction, one pool for reads and writes).
pytestmark = pytest.mark.sqlite_only("counts statements through SQLite's trace hook")

# BEGIN IMMEDIATE, sender with dedupe, conversation with its members and their blocks, seq, insert
SEND_STATEMENTS = 5
# BEGIN IMMEDIATE, sender with dedupe and the direct chat and block, seq, insert
SEND_TO_STATEMENTS = 4
# BEGIN IMMEDIATE, position (with the reader's setting and the chat's members), cursor, watermarks
ACK_STATEMENTS = 4


class Counter:
    """Counts what reaches SQLite itself (its trace hook), so statements run on the driver directly, past
    SQLAlchemy, are counted too. Commits and rollbacks are left out: every transaction has one."""

    def __init__(self, *engines) -> None:
        self.n = 0
        self.statements: list[str] = []
        for engine in engines:
            if engine is not None:
                event.listen(engine, "checkout", self._hook)

    def _hook(self, dbapi_conn, record, proxy) -> None:
        dbapi_conn.set_trace_callback(self._count)

    def _count(self, statement: str) -> None:
        if statement.split()[0].upper() in ("COMMIT", "ROLLBACK"):
            return
        self.n += 1
        self.statements.append(statement[:70])

    def take(self) -> int:
        n, self.n = self.n, 0
        self.statements = []
        return n


@pytest.fixture
async def counted(server):
    db = server.hub.db
    # Writes run on the writer thread's connection, or, for a small batch, on the event loop's (store/db.py).
    return Counter(db._sync_write, db._inline_write), Counter(db._sync_read)


async def test_statements_per_send_and_ack_in_a_direct_chat(server, counted):
    writes, reads = counted
    _, _, a_tok = await server.make_user("+201001234567", "Amal")
    b_id, _, b_tok = await server.make_user("+201101234567", "Badr")
    a, b = await server.client(a_tok), await server.client(b_tok)
    first = await a.send_text("open the chat", to=b_id)
    await b.expect("deliver", seq=first["seq"])
    # Let both feeds settle: Amal's feed reads where the new chat starts when it first hears of it, and handles
    # that before the receipt that follows.
    await b.send({"type": "ack", "conversation_id": first["conversation_id"], "seq": first["seq"]})
    await a.expect("receipt", user_id=b_id, delivered_seq=first["seq"])
    writes.take()
    reads.take()
    sent = await a.send_text("hot path", conversation_id=first["conversation_id"])
    got = await b.expect("deliver", seq=sent["seq"])
    assert writes.take() == SEND_STATEMENTS
    assert reads.take() == 0  # the recipient's device took the message from memory
    await b.send({"type": "ack", "conversation_id": got["conversation_id"], "seq": got["seq"]})
    await a.expect("receipt", user_id=b_id, delivered_seq=got["seq"])
    assert writes.take() == ACK_STATEMENTS
    assert reads.take() == 0  # the receipt travelled with its doorbell
    again = await a.send_text("by number", to=b_id)
    assert again["conversation_id"] == first["conversation_id"]
    await b.expect("deliver", seq=again["seq"])
    assert writes.take() == SEND_TO_STATEMENTS
    assert reads.take() == 0


async def test_acks_waiting_for_the_same_commit_are_one_write(server, counted):
    """A device acking each message of a burst: the acks that wait for the same commit are merged into one
    write of the highest, each caller still gets its own answer, and one beyond the end fails alone."""
    writes, _ = counted
    _, _, a_tok = await server.make_user("+201001234567", "Amal")
    b_id, b_dev, _ = await server.make_user("+201101234567", "Badr")
    a = await server.client(a_tok)
    sent = [await a.send_text(f"m{i}", to=b_id) for i in range(5)]
    conv = sent[0]["conversation_id"]
    writes.take()
    msg = server.hub.messaging
    # No await between these: all five are queued before the writer can start on the first.
    acks = [msg.ack(b_id, b_dev, conv, s["seq"]) for s in sent] + [msg.ack(b_id, b_dev, conv, 99)]
    outcomes = await asyncio.gather(*acks, return_exceptions=True)
    assert outcomes[:5] == [None] * 5
    assert isinstance(outcomes[5], ClientError) and outcomes[5].code == "invalid_request"
    assert writes.take() == ACK_STATEMENTS  # one write for all of them
    member = await server.hub.db.read(lambda c: mq.get_member(c, conv, b_id))
    assert member.delivered_seq == sent[-1]["seq"]
    # Amal sees one receipt, at the highest.
    got = await a.expect("receipt", user_id=b_id)
    assert got["delivered_seq"] == sent[-1]["seq"]
    await a.no_frame("receipt", user_id=b_id)
