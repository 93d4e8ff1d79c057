"""Queries for groups, invitations, invite links, join requests, blocks, reports, broadcast lists and daily
counters. Membership changes are recorded as system messages in the conversation, so every member sees them in
sequence order and a member who was offline catches up on them like on any message."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, delete, func, insert, select, update

from hudhud import ids
from hudhud.store import sql
from hudhud.store.messages import _insert, append_message
from hudhud.store.relations import contacted_first
from hudhud.store.schema import (
    blocks,
    broadcast_lists,
    broadcast_members,
    conversations,
    daily_counters,
    invitations,
    invite_links,
    join_requests,
    members,
    reports,
)

SYSTEM_DEVICE = ""  # sender_device_id of messages written by the server


def create_group(conn: Connection, conv_id: str, owner_id: str, subject: str, description: str, now: float) -> None:
    conn.execute(
        insert(conversations).values(
            id=conv_id,
            kind="group",
            direct_key=None,
            last_seq=0,
            created_at=now,
            subject=subject,
            description=description,
            created_by=owner_id,
        )
    )
    conn.execute(insert(members).values(conversation_id=conv_id, user_id=owner_id, role="owner", joined_seq=0))


def append_system(conn: Connection, conv_id: str, actor_id: str, event: str, now: float, **fields: Any) -> int:
    """A server-written message: {"type": "system", "event": ..., "actor": ..., **fields}."""
    content = orjson.dumps({"type": "system", "event": event, "actor": actor_id, **fields})
    seq = append_message(conn, conv_id, actor_id, SYSTEM_DEVICE, ids.new_id("s"), content, now, kind="system")
    return seq


def ensure_inbox(conn: Connection, user_id: str, new_id: str, now: float) -> str:
    """The user's inbox: a one-member conversation for notices from the server (group invitations), so they
    reach every device with the same guarantees as messages."""
    key = f"inbox:{user_id}"
    found = conn.execute(select(conversations.c.id).where(conversations.c.direct_key == key)).first()
    if found:
        return str(found[0])
    conn.execute(insert(conversations).values(id=new_id, kind="inbox", direct_key=key, last_seq=0, created_at=now))
    join(conn, new_id, user_id, 1)
    return new_id


def active_count(conn: Connection, conv_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(members)
            .where(members.c.conversation_id == conv_id, members.c.left_seq.is_(None))
        ).scalar_one()
    )


def join(
    conn: Connection, conv_id: str, user_id: str, visible_from: int, role: str = "member", added_by: str | None = None
) -> None:
    """Make the user a member who sees messages from seq `visible_from` on (a rejoin starts a new period).
    `added_by` is the admin who added them directly, if one did."""
    stmt = _insert(conn, members).values(
        conversation_id=conv_id,
        user_id=user_id,
        role=role,
        joined_seq=visible_from - 1,
        left_seq=None,
        delivered_seq=0,
        read_seq=0,
        added_by=added_by,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[members.c.conversation_id, members.c.user_id],
            set_={"role": role, "joined_seq": visible_from - 1, "left_seq": None, "added_by": added_by},
        )
    )


def leave(conn: Connection, conv_id: str, user_id: str, last_visible: int) -> None:
    conn.execute(
        update(members)
        .where(members.c.conversation_id == conv_id, members.c.user_id == user_id)
        .values(left_seq=last_visible, role="member")
    )


def set_role(conn: Connection, conv_id: str, user_id: str, role: str) -> None:
    conn.execute(
        update(members).where(members.c.conversation_id == conv_id, members.c.user_id == user_id).values(role=role)
    )


def update_group(conn: Connection, conv_id: str, **values: Any) -> None:
    if values:
        conn.execute(update(conversations).where(conversations.c.id == conv_id).values(**values))


# -- invitations ----------------------------------------------------------------------------------------------


def add_invitation(
    conn: Connection, inv_id: str, conv_id: str, inviter: str, invitee: str, now: float, expires_at: float
) -> None:
    # A new invitation to the same group replaces a pending one.
    conn.execute(
        update(invitations)
        .where(
            invitations.c.conversation_id == conv_id,
            invitations.c.invitee_id == invitee,
            invitations.c.status == "pending",
        )
        .values(status="revoked")
    )
    conn.execute(
        insert(invitations).values(
            id=inv_id,
            conversation_id=conv_id,
            inviter_id=inviter,
            invitee_id=invitee,
            created_at=now,
            expires_at=expires_at,
        )
    )


def get_invitation(conn: Connection, inv_id: str) -> Any:
    return conn.execute(select(invitations).where(invitations.c.id == inv_id)).first()


def pending_invitations(conn: Connection, invitee: str, now: float) -> list[Any]:
    return list(
        conn.execute(
            select(invitations, conversations.c.subject)
            .join(conversations, conversations.c.id == invitations.c.conversation_id)
            .where(
                invitations.c.invitee_id == invitee, invitations.c.status == "pending", invitations.c.expires_at > now
            )
            .order_by(invitations.c.created_at)
        ).all()
    )


def set_invitation_status(conn: Connection, inv_id: str, status: str) -> None:
    conn.execute(update(invitations).where(invitations.c.id == inv_id).values(status=status))


# -- links and requests ---------------------------------------------------------------------------------------


def add_link(
    conn: Connection, code: str, conv_id: str, creator: str, now: float, expires_at: float | None, max_uses: int | None
) -> None:
    conn.execute(
        insert(invite_links).values(
            code=code,
            conversation_id=conv_id,
            created_by=creator,
            created_at=now,
            expires_at=expires_at,
            max_uses=max_uses,
        )
    )


def get_link(conn: Connection, code: str) -> Any:
    return conn.execute(select(invite_links).where(invite_links.c.code == code)).first()


def list_links(conn: Connection, conv_id: str) -> list[Any]:
    return list(
        conn.execute(
            select(invite_links)
            .where(invite_links.c.conversation_id == conv_id, invite_links.c.revoked_at.is_(None))
            .order_by(invite_links.c.created_at)
        ).all()
    )


def use_link(conn: Connection, code: str) -> None:
    conn.execute(update(invite_links).where(invite_links.c.code == code).values(uses=invite_links.c.uses + 1))


def revoke_link(conn: Connection, conv_id: str, code: str, now: float) -> bool:
    res = conn.execute(
        update(invite_links)
        .where(
            invite_links.c.code == code, invite_links.c.conversation_id == conv_id, invite_links.c.revoked_at.is_(None)
        )
        .values(revoked_at=now)
    )
    return (res.rowcount or 0) > 0


def add_request(conn: Connection, conv_id: str, user_id: str, code: str | None, now: float) -> bool:
    res = conn.execute(
        _insert(conn, join_requests)
        .values(conversation_id=conv_id, user_id=user_id, link_code=code, created_at=now)
        .on_conflict_do_nothing()
    )
    return (res.rowcount or 0) > 0


def list_requests(conn: Connection, conv_id: str) -> list[Any]:
    return list(
        conn.execute(
            select(join_requests).where(join_requests.c.conversation_id == conv_id).order_by(join_requests.c.created_at)
        ).all()
    )


def take_request(conn: Connection, conv_id: str, user_id: str) -> bool:
    res = conn.execute(
        delete(join_requests).where(join_requests.c.conversation_id == conv_id, join_requests.c.user_id == user_id)
    )
    return (res.rowcount or 0) > 0


# -- blocks ---------------------------------------------------------------------------------------------------


def block(conn: Connection, blocker: str, blocked: str, now: float) -> bool:
    res = conn.execute(
        _insert(conn, blocks).values(blocker_id=blocker, blocked_id=blocked, created_at=now).on_conflict_do_nothing()
    )
    return (res.rowcount or 0) > 0


def unblock(conn: Connection, blocker: str, blocked: str) -> bool:
    res = conn.execute(delete(blocks).where(blocks.c.blocker_id == blocker, blocks.c.blocked_id == blocked))
    return (res.rowcount or 0) > 0


def is_blocked(conn: Connection, blocker: str, blocked: str) -> bool:
    stmt = sql.prepared(
        conn,
        "is_blocked",
        lambda _: select(blocks.c.created_at).where(
            blocks.c.blocker_id == bindparam("a"), blocks.c.blocked_id == bindparam("b")
        ),
        ["a", "b"],
    )
    return bool(sql.run(conn, stmt, {"a": blocker, "b": blocked}))


def blocked_by_me(conn: Connection, blocker: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            select(blocks.c.blocked_id).where(blocks.c.blocker_id == blocker).order_by(blocks.c.created_at)
        ).all()
    ]


def who_blocked(conn: Connection, user_ids: list[str], blocked: str) -> set[str]:
    """Which of `user_ids` have blocked `blocked`."""
    if not user_ids:
        return set()
    return {
        r[0]
        for r in conn.execute(
            select(blocks.c.blocker_id).where(blocks.c.blocked_id == blocked, blocks.c.blocker_id.in_(user_ids))
        )
    }


def complainants_since(conn: Connection, user_id: str, since: float) -> int:
    """Distinct users who blocked or reported `user_id` since `since`, counting only people `user_id` reached
    first (started a chat with, added or invited): accounts that never heard from a user cannot complain it into
    throttling."""
    blockers = select(blocks.c.blocker_id.label("who")).where(
        blocks.c.blocked_id == user_id, blocks.c.created_at >= since, contacted_first(user_id, blocks.c.blocker_id)
    )
    reporters = select(reports.c.reporter_id.label("who")).where(
        reports.c.target_user_id == user_id,
        reports.c.created_at >= since,
        contacted_first(user_id, reports.c.reporter_id),
    )
    union = blockers.union(reporters).subquery()
    return int(conn.execute(select(func.count()).select_from(union)).scalar_one())


# -- reports --------------------------------------------------------------------------------------------------


def add_report(
    conn: Connection,
    report_id: str,
    reporter: str,
    target_user: str | None,
    conv_id: str | None,
    reason: str,
    evidence: bytes,
    now: float,
) -> None:
    conn.execute(
        insert(reports).values(
            id=report_id,
            reporter_id=reporter,
            target_user_id=target_user,
            conversation_id=conv_id,
            reason=reason,
            evidence=evidence,
            created_at=now,
        )
    )


def list_reports(conn: Connection, include_closed: bool) -> list[Any]:
    q = select(reports).order_by(reports.c.created_at)
    if not include_closed:
        q = q.where(reports.c.status == "open")
    return list(conn.execute(q).all())


def close_reports(conn: Connection, target_user: str) -> None:
    conn.execute(update(reports).where(reports.c.target_user_id == target_user).values(status="closed"))


# -- broadcast lists ------------------------------------------------------------------------------------------


def add_broadcast_list(
    conn: Connection, list_id: str, owner: str, name: str, member_ids: list[str], now: float
) -> None:
    conn.execute(insert(broadcast_lists).values(id=list_id, owner_id=owner, name=name, created_at=now))
    set_broadcast_members(conn, list_id, member_ids)


def set_broadcast_members(conn: Connection, list_id: str, member_ids: list[str]) -> None:
    conn.execute(delete(broadcast_members).where(broadcast_members.c.list_id == list_id))
    for user_id in dict.fromkeys(member_ids):
        conn.execute(insert(broadcast_members).values(list_id=list_id, user_id=user_id))


def get_broadcast_list(conn: Connection, list_id: str) -> Any:
    return conn.execute(select(broadcast_lists).where(broadcast_lists.c.id == list_id)).first()


def broadcast_lists_of(conn: Connection, owner: str) -> list[tuple[Any, list[str]]]:
    lists = conn.execute(
        select(broadcast_lists).where(broadcast_lists.c.owner_id == owner).order_by(broadcast_lists.c.created_at)
    ).all()
    return [(row, broadcast_member_ids(conn, row.id)) for row in lists]


def broadcast_member_ids(conn: Connection, list_id: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(select(broadcast_members.c.user_id).where(broadcast_members.c.list_id == list_id)).all()
    ]


def delete_broadcast_list(conn: Connection, list_id: str) -> None:
    conn.execute(delete(broadcast_members).where(broadcast_members.c.list_id == list_id))
    conn.execute(delete(broadcast_lists).where(broadcast_lists.c.id == list_id))


# -- daily counters -------------------------------------------------------------------------------------------


def counter(conn: Connection, user_id: str, day: str, name: str) -> int:
    row = conn.execute(
        select(daily_counters.c.value).where(
            daily_counters.c.user_id == user_id, daily_counters.c.day == day, daily_counters.c.name == name
        )
    ).first()
    return int(row[0]) if row else 0


def bump_counter(conn: Connection, user_id: str, day: str, name: str, by: int = 1) -> None:
    stmt = _insert(conn, daily_counters).values(user_id=user_id, day=day, name=name, value=by)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[daily_counters.c.user_id, daily_counters.c.day, daily_counters.c.name],
            set_={"value": daily_counters.c.value + by},
        )
    )
    conn.execute(delete(daily_counters).where(daily_counters.c.user_id == user_id, daily_counters.c.day < day))
