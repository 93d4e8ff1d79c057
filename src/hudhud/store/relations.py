"""Queries about how two users stand with each other, which consent rules are built on: who has whose number in
their address book, who has written to whom, who started a chat with or added or invited whom, and discovery
counted per client address and for the whole service.

"Wrote" is recorded on the member row of a direct chat (`members.wrote`) the first time that member sends in it,
so asking "did X write to V" is one indexed lookup, never a scan of the chat's messages."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, delete, exists, or_, select, update

from hudhud.store.messages import _insert, direct_key
from hudhud.store.schema import contacts, conversations, discovery_counters, invitations, members, users


def mark_wrote(conn: Connection, conv_id: str, user_id: str) -> None:
    conn.execute(
        update(members).where(members.c.conversation_id == conv_id, members.c.user_id == user_id).values(wrote=True)
    )


def owners_with_number(conn: Connection, owner_ids: Iterable[str], phone: str) -> set[str]:
    """Which of `owner_ids` have `phone` in their address book."""
    ids = list(set(owner_ids))
    if not ids:
        return set()
    rows = conn.execute(select(contacts.c.owner_id).where(contacts.c.phone == phone, contacts.c.owner_id.in_(ids)))
    return {r[0] for r in rows}


def wrote_to(conn: Connection, writer_ids: Iterable[str], reader_id: str) -> set[str]:
    """Which of `writer_ids` have sent a message to `reader_id` in their direct chat."""
    keys = {direct_key(w, reader_id): w for w in set(writer_ids) if w != reader_id}
    if not keys:
        return set()
    rows = conn.execute(
        select(conversations.c.direct_key)
        .join(members, members.c.conversation_id == conversations.c.id)
        .where(
            conversations.c.direct_key.in_(list(keys)),
            members.c.user_id != reader_id,
            members.c.wrote.is_(True),
        )
    )
    return {keys[r[0]] for r in rows}


def chat_partners(conn: Connection, user_id: str, phones: Iterable[str]) -> set[str]:
    """Which of `phones` belong to someone `user_id` has a direct chat with in which either of them wrote."""
    wanted = list(set(phones))
    if not wanted:
        return set()
    me = members.alias("me")
    other = members.alias("other")
    rows = conn.execute(
        select(users.c.phone)
        .select_from(
            me.join(conversations, and_(conversations.c.id == me.c.conversation_id, conversations.c.kind == "direct"))
            .join(other, and_(other.c.conversation_id == me.c.conversation_id, other.c.user_id != me.c.user_id))
            .join(users, users.c.id == other.c.user_id)
        )
        .where(me.c.user_id == user_id, users.c.phone.in_(wanted), or_(me.c.wrote.is_(True), other.c.wrote.is_(True)))
    )
    return {r[0] for r in rows}


def contacted_first(target_id: str, complainant: ColumnElement[Any]) -> ColumnElement[bool]:
    """A SQL condition: `target_id` reached `complainant` (a column of user ids) first, by starting a direct chat
    with them, adding them to a group, or inviting them to one. Only complaints from such people count."""
    started = (
        exists()
        .select_from(members.join(conversations, conversations.c.id == members.c.conversation_id))
        .where(
            conversations.c.kind == "direct",
            conversations.c.created_by == target_id,
            members.c.user_id == complainant,
        )
    )
    added = exists().where(members.c.user_id == complainant, members.c.added_by == target_id)
    invited = exists().where(invitations.c.invitee_id == complainant, invitations.c.inviter_id == target_id)
    return or_(started, added, invited)


def discovery_used(conn: Connection, scope: str, period: str) -> int:
    row = conn.execute(
        select(discovery_counters.c.used).where(
            discovery_counters.c.scope == scope, discovery_counters.c.period == period
        )
    ).first()
    return int(row[0]) if row else 0


def add_discovery(conn: Connection, scope: str, period: str, used: int) -> None:
    stmt = _insert(conn, discovery_counters).values(scope=scope, period=period, used=used)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[discovery_counters.c.scope, discovery_counters.c.period],
            set_={"used": discovery_counters.c.used + used},
        )
    )
    # Periods sort as text; older ones of this scope are no longer needed.
    conn.execute(
        delete(discovery_counters).where(discovery_counters.c.scope == scope, discovery_counters.c.period < period)
    )
