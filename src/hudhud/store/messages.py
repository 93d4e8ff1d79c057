"""Queries for conversations, members, messages, device cursors and receipt watermarks.

Each conversation has its own sequence (`conversations.last_seq`), assigned inside the writing transaction, so
every member sees one order. A device's position is kept per conversation (`device_cursors`); catch-up is
"everything after my cursor in each of my conversations". A message is stored once whatever the number of
recipients.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, String, and_, bindparam, exists, false, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from hudhud.protocol.content import servable
from hudhud.store import sql
from hudhud.store.accounts import _user
from hudhud.store.records import Conversation, Member, Message, User
from hudhud.store.schema import blocks, conversations, device_cursors, members, messages, users


def _insert(conn: Connection, table: Any) -> Any:
    """An INSERT that knows ON CONFLICT on both engines."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_MESSAGE_COLUMNS = [c.key for c in messages.c]


def _message(row: Any) -> Message:
    # Content is served only in the shape the send path allows today, whatever an older version stored.
    return Message(
        row.conversation_id,
        row.seq,
        row.sender_id,
        row.sender_device_id,
        row.client_msg_id,
        row.created_at,
        servable(bytes(row.content)),
        row.kind,
        row.forward_count,
        bool(row.withheld),
        bool(row.stranger),
    )


def _conversation(r: Any) -> Conversation:
    """From a row with the conversation's columns by name (alone, or joined with columns that do not clash)."""
    return Conversation(
        r.id,
        r.kind,
        r.last_seq,
        r.created_at,
        r.subject,
        r.description,
        r.created_by,
        bool(r.only_admins_send),
        bool(r.only_admins_edit),
        bool(r.approve_joins),
    )


def _member(row: Any) -> Member:
    return Member(
        row.conversation_id,
        row.user_id,
        row.role,
        row.joined_seq,
        row.left_seq,
        row.delivered_seq,
        row.read_seq,
        bool(row.wrote),
        row.added_by,
    )


def direct_key(a: str, b: str) -> str:
    return ":".join(sorted((a, b)))


def direct_members(key: str) -> list[str]:
    """The members of a direct chat, from its key (one member for a chat with oneself)."""
    return sorted(set(key.split(":")))


def find_direct(conn: Connection, a: str, b: str) -> str | None:
    stmt = sql.prepared(
        conn,
        "find_direct",
        lambda _: select(conversations.c.id).where(conversations.c.direct_key == bindparam("key")),
        ["key"],
    )
    found = sql.run(conn, stmt, {"key": direct_key(a, b)})
    return str(found[0][0]) if found else None


def create_direct(conn: Connection, conv_id: str, a: str, b: str, now: float, a_wrote: bool = True) -> str:
    """Create the direct conversation of a and b, started by a who is writing its first message, or return the
    one another node created first. `a_wrote`: b will see that message (not so for one withheld from b)."""
    conn.execute(
        _insert(conn, conversations)
        .values(id=conv_id, kind="direct", direct_key=direct_key(a, b), last_seq=0, created_at=now, created_by=a)
        .on_conflict_do_nothing()
    )
    existing = find_direct(conn, a, b)
    assert existing is not None
    for user_id in {a, b}:
        conn.execute(
            _insert(conn, members)
            .values(
                conversation_id=existing, user_id=user_id, role="member", joined_seq=0, wrote=a_wrote and user_id == a
            )
            .on_conflict_do_nothing()
        )
    return existing


def get_conversation(conn: Connection, conv_id: str) -> Conversation | None:
    stmt = sql.prepared(
        conn, "get_conversation", lambda _: select(conversations).where(conversations.c.id == bindparam("c")), ["c"]
    )
    rows = sql.run(conn, stmt, {"c": conv_id})
    return _conversation(rows[0]) if rows else None


def conversation_with_members(
    conn: Connection, conv_id: str, sender_id: str
) -> tuple[Conversation, list[Member], set[str]] | None:
    """A conversation, all its member rows, and which members have blocked `sender_id`, in one query."""
    stmt = sql.prepared(
        conn,
        "conversation_with_members",
        lambda _: (
            select(
                conversations,
                members,
                exists()
                .where(blocks.c.blocker_id == members.c.user_id, blocks.c.blocked_id == bindparam("s"))
                .label("blocks_sender"),
            )
            .join(members, members.c.conversation_id == conversations.c.id)
            .where(conversations.c.id == bindparam("c"))
        ),
        ["c", "s"],
    )
    rows = sql.run(conn, stmt, {"c": conv_id, "s": sender_id})
    if not rows:
        return None
    conv = _conversation(rows[0])
    return conv, [_member(r) for r in rows], {r.user_id for r in rows if r.blocks_sender}


def send_context(
    conn: Connection, user_id: str, device_id: str, client_msg_id: str, peer: str | None
) -> tuple[User, tuple[str, int, float] | None, str | None, bool, bool] | None:
    """What a send needs to know before it writes, in one query: the sender; (conversation, seq, time) of the
    message this device already sent with this client id, if this is a resend; and, for a message to `peer`,
    their direct chat, whether `peer` has blocked the sender and whether the sender has written in that chat
    before. None if the sender does not exist."""

    def build(_: str) -> Any:
        earlier = messages.alias("earlier")
        direct = (
            select(conversations.c.id)
            .where(conversations.c.direct_key == bindparam("key", type_=String))
            .scalar_subquery()
        )
        return (
            select(
                users,
                earlier.c.conversation_id.label("dup_conversation_id"),
                earlier.c.seq.label("dup_seq"),
                earlier.c.created_at.label("dup_created_at"),
                direct.label("direct_id"),
                exists()
                .where(blocks.c.blocker_id == bindparam("peer", type_=String), blocks.c.blocked_id == users.c.id)
                .label("blocked"),
                exists()
                .where(members.c.conversation_id == direct, members.c.user_id == users.c.id, members.c.wrote.is_(True))
                .label("wrote"),
            )
            .select_from(
                users.outerjoin(
                    earlier,
                    and_(earlier.c.sender_device_id == bindparam("d"), earlier.c.client_msg_id == bindparam("m")),
                )
            )
            .where(users.c.id == bindparam("u"))
        )

    stmt = sql.prepared(conn, "send_context", build, ["u", "d", "m", "key", "peer"])
    key = direct_key(user_id, peer) if peer is not None else None
    rows = sql.run(conn, stmt, {"u": user_id, "d": device_id, "m": client_msg_id, "key": key, "peer": peer})
    if not rows:
        return None
    r = rows[0]
    earlier = (str(r.dup_conversation_id), int(r.dup_seq), float(r.dup_created_at)) if r.dup_seq is not None else None
    return _user(r), earlier, r.direct_id, bool(r.blocked), bool(r.wrote)


def get_member(conn: Connection, conv_id: str, user_id: str) -> Member | None:
    stmt = sql.prepared(
        conn,
        "get_member",
        lambda _: select(members).where(
            members.c.conversation_id == bindparam("c"), members.c.user_id == bindparam("u")
        ),
        ["c", "u"],
    )
    rows = sql.run(conn, stmt, {"c": conv_id, "u": user_id})
    return _member(rows[0]) if rows else None


def member_position(conn: Connection, conv_id: str, user_id: str) -> tuple[Member, int, str, bool, str | None] | None:
    """The user's membership row, the conversation's last seq and kind, whether the user shares read receipts,
    and the direct chat's key (its two members), in one query."""
    stmt = sql.prepared(
        conn,
        "member_position",
        lambda _: (
            select(
                members,
                conversations.c.last_seq,
                conversations.c.kind,
                conversations.c.direct_key,
                users.c.read_receipts,
            )
            .join(conversations, conversations.c.id == members.c.conversation_id)
            .join(users, users.c.id == members.c.user_id)
            .where(members.c.conversation_id == bindparam("c"), members.c.user_id == bindparam("u"))
        ),
        ["c", "u"],
    )
    rows = sql.run(conn, stmt, {"c": conv_id, "u": user_id})
    if not rows:
        return None
    row = rows[0]
    return _member(row), int(row.last_seq), str(row.kind), bool(row.read_receipts), row.direct_key


def active_member_ids(conn: Connection, conv_id: str) -> list[str]:
    stmt = sql.prepared(
        conn,
        "active_member_ids",
        lambda _: select(members.c.user_id).where(
            members.c.conversation_id == bindparam("c"), members.c.left_seq.is_(None)
        ),
        ["c"],
    )
    return [r[0] for r in sql.run(conn, stmt, {"c": conv_id})]


def list_members(conn: Connection, conv_id: str) -> list[Member]:
    rows = (conn.execute(select(members).where(members.c.conversation_id == conv_id).order_by(members.c.user_id))).all()
    return [_member(r) for r in rows]


def append_message(
    conn: Connection,
    conv_id: str,
    sender_id: str,
    device_id: str,
    client_msg_id: str,
    content: bytes,
    now: float,
    *,
    kind: str = "user",
    forward_count: int = 0,
    withheld: bool = False,
    stranger: bool = False,
) -> int:
    bump = sql.prepared(
        conn,
        "bump_seq",
        lambda _: (
            update(conversations)
            .where(conversations.c.id == bindparam("c"))
            .values(last_seq=conversations.c.last_seq + 1)
            .returning(conversations.c.last_seq)
        ),
        ["c"],
    )
    seq = sql.run(conn, bump, {"c": conv_id})[0][0]
    add = sql.prepared(conn, "insert_message", lambda _: insert(messages), _MESSAGE_COLUMNS)
    sql.execute(
        conn,
        add,
        {
            "conversation_id": conv_id,
            "seq": seq,
            "sender_id": sender_id,
            "sender_device_id": device_id,
            "client_msg_id": client_msg_id,
            "created_at": now,
            "content": content,
            "kind": kind,
            "forward_count": forward_count,
            "withheld": withheld,
            "stranger": stranger,
        },
    )
    return int(seq)


def sync_starts(conn: Connection, device_id: str, user_id: str) -> dict[str, tuple[int, int]]:
    """For every conversation of the user with something this device has not acknowledged:
    conversation id -> (position to resume after, last visible seq)."""

    def build(dialect: str) -> Any:
        cursor = func.coalesce(device_cursors.c.acked_seq, literal(0))
        start = (
            func.max(cursor, members.c.joined_seq)
            if dialect == "sqlite"
            else func.greatest(cursor, members.c.joined_seq)
        )
        end = func.coalesce(members.c.left_seq, conversations.c.last_seq)
        return (
            select(members.c.conversation_id, start.label("start"), end.label("end"))
            .select_from(
                members.join(conversations, conversations.c.id == members.c.conversation_id).outerjoin(
                    device_cursors,
                    and_(
                        device_cursors.c.device_id == bindparam("d"),
                        device_cursors.c.conversation_id == members.c.conversation_id,
                    ),
                )
            )
            .where(members.c.user_id == bindparam("u"))
        )

    out: dict[str, tuple[int, int]] = {}
    for row in sql.run(conn, sql.prepared(conn, "sync_starts", build, ["d", "u"]), {"d": device_id, "u": user_id}):
        if row.end > row.start:
            out[row.conversation_id] = (int(row.start), int(row.end))
    return out


def receipt_rows(conn: Connection, user_id: str) -> list[tuple[Member, bool]]:
    """The user's own member row in each of their conversations, and the other member's row in each direct
    chat, each with whether that member shares read receipts, in one query."""

    def build(_: str) -> Any:
        me = members.alias("me")
        return (
            select(members, users.c.read_receipts)
            .select_from(
                me.join(conversations, conversations.c.id == me.c.conversation_id)
                .join(
                    members,
                    and_(
                        members.c.conversation_id == me.c.conversation_id,
                        or_(members.c.user_id == me.c.user_id, conversations.c.kind == "direct"),
                    ),
                )
                .join(users, users.c.id == members.c.user_id)
            )
            .where(me.c.user_id == bindparam("u"))
        )

    rows = sql.run(conn, sql.prepared(conn, "receipt_rows", build, ["u"]), {"u": user_id})
    return [(_member(r), bool(r.read_receipts)) for r in rows]


def resume_position(conn: Connection, device_id: str, user_id: str, conv_id: str) -> tuple[int, int]:
    """(position to resume after, last visible seq) for one conversation; (0, 0) if not a member."""
    member = get_member(conn, conv_id, user_id)
    if member is None:
        return (0, 0)
    row = (
        conn.execute(
            select(device_cursors.c.acked_seq).where(
                device_cursors.c.device_id == device_id, device_cursors.c.conversation_id == conv_id
            )
        )
    ).first()
    conv = get_conversation(conn, conv_id)
    last = conv.last_seq if conv else 0
    end = member.left_seq if member.left_seq is not None else last
    return (max(int(row[0]) if row else 0, member.joined_seq), end)


def _visible_after(columns: list[Any]) -> Any:
    """SELECT `columns` of the messages after seq :after that user :u may see in conversation :c, in seq order,
    at most :limit: inside their membership window, and not withheld from them (a withheld message is visible
    to its sender only)."""
    return (
        select(*columns)
        .join(
            members,
            and_(members.c.conversation_id == messages.c.conversation_id, members.c.user_id == bindparam("u")),
        )
        .where(
            messages.c.conversation_id == bindparam("c"),
            messages.c.seq > bindparam("after"),
            messages.c.seq > members.c.joined_seq,
            or_(members.c.left_seq.is_(None), messages.c.seq <= members.c.left_seq),
            or_(messages.c.withheld == false(), messages.c.sender_id == bindparam("u")),
        )
        .order_by(messages.c.seq)
        .limit(bindparam("limit"))
    )


def fetch_page(
    conn: Connection, conv_id: str, user_id: str, after: int, limit: int, max_bytes: int
) -> tuple[list[Message], bool]:
    """Like `fetch_after`, but also at most `max_bytes` of content (and at least one message), so that what a
    reader holds at once does not grow with message size. Returns (messages, whether more may follow). The
    sizes are read first (SQLite reads a blob's length from the record header, without the blob)."""
    values = {"u": user_id, "c": conv_id, "after": after, "limit": limit}
    sizes = sql.run(
        conn,
        sql.prepared(
            conn,
            "fetch_sizes_after",
            lambda _: _visible_after([messages.c.seq, func.length(messages.c.content)]),
            ["u", "c", "after", "limit"],
        ),
        values,
    )
    total = n = 0
    for row in sizes:
        if n and total + row[1] > max_bytes:
            break
        total += row[1]
        n += 1
    if n == 0:
        return [], False
    more = n < len(sizes) or len(sizes) == limit
    return fetch_after(conn, conv_id, user_id, after, n), more


def fetch_after(conn: Connection, conv_id: str, user_id: str, after: int, limit: int) -> list[Message]:
    """Messages after seq `after` that `user_id` may see: inside their membership window, and not withheld
    from them (a withheld message is visible to its sender only)."""
    rows = sql.run(
        conn,
        sql.prepared(conn, "fetch_after", lambda _: _visible_after([messages]), ["u", "c", "after", "limit"]),
        {"u": user_id, "c": conv_id, "after": after, "limit": limit},
    )
    return [_message(r) for r in rows]


def history(conn: Connection, conv_id: str, member: Member, before: int | None, limit: int) -> list[Message]:
    """The newest `limit` messages visible to `member` before seq `before`, oldest first."""
    q = select(messages).where(messages.c.conversation_id == conv_id, messages.c.seq > member.joined_seq)
    if member.left_seq is not None:
        q = q.where(messages.c.seq <= member.left_seq)
    if before is not None:
        q = q.where(messages.c.seq < before)
    q = q.where(or_(messages.c.withheld == false(), messages.c.sender_id == member.user_id))
    rows = (conn.execute(q.order_by(messages.c.seq.desc()).limit(limit))).all()
    return [_message(r) for r in reversed(rows)]


def advance_cursor(conn: Connection, device_id: str, conv_id: str, seq: int) -> None:
    def build(_: str) -> Any:
        stmt = _insert(conn, device_cursors).values(
            device_id=bindparam("d"), conversation_id=bindparam("c"), acked_seq=bindparam("s")
        )
        return stmt.on_conflict_do_update(
            index_elements=[device_cursors.c.device_id, device_cursors.c.conversation_id],
            set_={"acked_seq": stmt.excluded.acked_seq},
            where=stmt.excluded.acked_seq > device_cursors.c.acked_seq,
        )

    sql.execute(
        conn, sql.prepared(conn, "advance_cursor", build, ["d", "c", "s"]), {"d": device_id, "c": conv_id, "s": seq}
    )


def advance_watermarks(
    conn: Connection, conv_id: str, user_id: str, *, delivered: int = 0, read: int = 0
) -> Member | None:
    """Raise the user's delivered/read watermarks (reading implies delivery). Returns the member row if
    anything moved, else None."""

    def build(dialect: str) -> Any:
        greatest = func.max if dialect == "sqlite" else func.greatest
        return (
            update(members)
            .where(
                members.c.conversation_id == bindparam("c"),
                members.c.user_id == bindparam("u"),
                or_(members.c.delivered_seq < bindparam("d"), members.c.read_seq < bindparam("r")),
            )
            .values(
                delivered_seq=greatest(members.c.delivered_seq, bindparam("d")),
                read_seq=greatest(members.c.read_seq, bindparam("r")),
            )
            .returning(*members.c)
        )

    delivered = max(delivered, read)
    rows = sql.run(
        conn,
        sql.prepared(conn, "advance_watermarks", build, ["c", "u", "d", "r"]),
        {"c": conv_id, "u": user_id, "d": delivered, "r": read},
    )
    return _member(rows[0]) if rows else None


def user_conversations(conn: Connection, user_id: str) -> list[tuple[Conversation, Member]]:
    q = (
        select(conversations, members)
        .select_from(members.join(conversations, conversations.c.id == members.c.conversation_id))
        .where(members.c.user_id == user_id)
        .order_by(conversations.c.created_at)
    )
    # The member columns do not clash with the conversation's, so `_member` reads them from the joined row.
    return [(_conversation(r), _member(r)) for r in conn.execute(q).all()]


def members_of_many(conn: Connection, conv_ids: list[str]) -> dict[str, list[Member]]:
    if not conv_ids:
        return {}
    rows = (conn.execute(select(members).where(members.c.conversation_id.in_(conv_ids)))).all()
    out: dict[str, list[Member]] = {}
    for r in rows:
        out.setdefault(r.conversation_id, []).append(_member(r))
    return out


def last_messages(conn: Connection, conv_ids: list[str]) -> dict[str, Message]:
    if not conv_ids:
        return {}
    q = (
        select(messages)
        .join(
            conversations,
            and_(conversations.c.id == messages.c.conversation_id, conversations.c.last_seq == messages.c.seq),
        )
        .where(messages.c.conversation_id.in_(conv_ids))
    )
    return {r.conversation_id: _message(r) for r in (conn.execute(q)).all()}
