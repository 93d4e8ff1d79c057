"""Queries for users, devices, verification codes, contacts and the discovery budget."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from hudhud.store import chatstate, sql
from hudhud.store.records import CodeRow, Contact, Device, User
from hudhud.store.schema import (
    blocks,
    broadcast_lists,
    broadcast_members,
    code_sends,
    contacts,
    conversations,
    daily_counters,
    device_cursors,
    devices,
    discovery_usage,
    invitations,
    join_requests,
    members,
    messages,
    users,
    verification_codes,
)

DELETED = "deleted"  # users.status of an erased account: the row stays as the author of what others keep


def _user(row: Any) -> User:
    return User(
        row.id,
        "" if row.status == DELETED else row.phone,
        row.display_name,
        row.about,
        row.created_at,
        bool(row.read_receipts),
        row.last_seen_privacy,
        row.last_seen_at,
        row.group_add_privacy,
        row.status,
        row.warnings,
        row.throttled_until,
        row.phone_privacy,
        row.group_invites,
        None if row.status == DELETED else row.picture,
    )


def _device(row: Any) -> Device:
    return Device(row.id, row.user_id, row.name, row.created_at, row.last_active_at, row.revoked_at)


def get_user(conn: Connection, user_id: str) -> User | None:
    stmt = sql.prepared(conn, "get_user", lambda _: select(users).where(users.c.id == bindparam("u")), ["u"])
    rows = sql.run(conn, stmt, {"u": user_id})
    return _user(rows[0]) if rows and rows[0].status != DELETED else None


def get_user_by_phone(conn: Connection, phone: str) -> User | None:
    row = (conn.execute(select(users).where(users.c.phone == phone))).first()
    return _user(row) if row and row.status != DELETED else None


def get_users(conn: Connection, user_ids: Iterable[str]) -> dict[str, User]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    stmt = sql.built(conn, "get_users", lambda _: select(users).where(users.c.id.in_(bindparam("ids", expanding=True))))
    return {r.id: _user(r) for r in conn.execute(stmt, {"ids": ids}).all()}


def insert_user(conn: Connection, user_id: str, phone: str, display_name: str, now: float) -> None:
    conn.execute(insert(users).values(id=user_id, phone=phone, display_name=display_name, created_at=now))


def update_user(conn: Connection, user_id: str, **values: Any) -> None:
    if values:
        conn.execute(update(users).where(users.c.id == user_id).values(**values))


def insert_device(conn: Connection, device_id: str, user_id: str, name: str, token_hash: str, now: float) -> None:
    conn.execute(
        insert(devices).values(id=device_id, user_id=user_id, name=name, token_hash=token_hash, created_at=now)
    )


def active_devices(conn: Connection, user_id: str) -> list[Device]:
    rows = (
        conn.execute(
            select(devices)
            .where(devices.c.user_id == user_id, devices.c.revoked_at.is_(None))
            .order_by(devices.c.created_at)
        )
    ).all()
    return [_device(r) for r in rows]


def revoke_device(conn: Connection, user_id: str, device_id: str, now: float) -> bool:
    res = conn.execute(
        update(devices)
        .where(devices.c.id == device_id, devices.c.user_id == user_id, devices.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return (res.rowcount or 0) > 0


def revoke_device_by_id(conn: Connection, device_id: str, now: float) -> str | None:
    """Revoke a device whoever it belongs to (an operator's action); its user, or None if there is no such
    active device."""
    row = conn.execute(select(devices.c.user_id).where(devices.c.id == device_id, devices.c.revoked_at.is_(None)))
    user_id = row.scalar()
    if user_id is not None:
        conn.execute(update(devices).where(devices.c.id == device_id).values(revoked_at=now))
    return user_id


def current_groups(conn: Connection, user_id: str) -> list[str]:
    """The groups the user is a current member of."""
    rows = conn.execute(
        select(members.c.conversation_id)
        .join(conversations, conversations.c.id == members.c.conversation_id)
        .where(members.c.user_id == user_id, members.c.left_seq.is_(None), conversations.c.kind == "group")
    )
    return [r[0] for r in rows]


def erase_user(conn: Connection, user_id: str, now: float) -> list[str]:
    """Everything of an account that is only its own, in one transaction: devices revoked, address book,
    blocks (both ways), broadcast lists (its own, and its place in others'), join requests, pending
    invitations (sent and received), counters, a pending code; the profile blanked and the number released.
    The users row stays, marked deleted, as the sender of the messages others keep. Returns the devices that
    were active (their connections are to be closed)."""
    user = conn.execute(select(users.c.phone, users.c.status).where(users.c.id == user_id)).first()
    if user is None or user.status == DELETED:
        return []
    active = [
        r[0]
        for r in conn.execute(select(devices.c.id).where(devices.c.user_id == user_id, devices.c.revoked_at.is_(None)))
    ]
    conn.execute(
        update(devices).where(devices.c.user_id == user_id, devices.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    conn.execute(delete(contacts).where(contacts.c.owner_id == user_id))
    chatstate.erase_user(conn, user_id)
    conn.execute(delete(blocks).where((blocks.c.blocker_id == user_id) | (blocks.c.blocked_id == user_id)))
    own_lists = select(broadcast_lists.c.id).where(broadcast_lists.c.owner_id == user_id).scalar_subquery()
    conn.execute(
        delete(broadcast_members).where(
            (broadcast_members.c.user_id == user_id) | broadcast_members.c.list_id.in_(own_lists)
        )
    )
    conn.execute(delete(broadcast_lists).where(broadcast_lists.c.owner_id == user_id))
    conn.execute(delete(join_requests).where(join_requests.c.user_id == user_id))
    conn.execute(
        update(invitations)
        .where(
            (invitations.c.inviter_id == user_id) | (invitations.c.invitee_id == user_id),
            invitations.c.status == "pending",
        )
        .values(status="revoked")
    )
    conn.execute(delete(discovery_usage).where(discovery_usage.c.user_id == user_id))
    conn.execute(delete(daily_counters).where(daily_counters.c.user_id == user_id))
    conn.execute(delete(verification_codes).where(verification_codes.c.phone == user.phone))
    # The inbox (the server's notices to this user alone) goes whole; so do the devices' sync positions.
    inbox = (
        select(conversations.c.id)
        .join(members, members.c.conversation_id == conversations.c.id)
        .where(conversations.c.kind == "inbox", members.c.user_id == user_id)
    )
    inboxes = [r[0] for r in conn.execute(inbox)]
    own_devices = select(devices.c.id).where(devices.c.user_id == user_id).scalar_subquery()
    conn.execute(
        delete(device_cursors).where(
            device_cursors.c.device_id.in_(own_devices) | device_cursors.c.conversation_id.in_(inboxes)
        )
    )
    if inboxes:
        conn.execute(delete(messages).where(messages.c.conversation_id.in_(inboxes)))
        conn.execute(delete(members).where(members.c.conversation_id.in_(inboxes)))
        conn.execute(delete(conversations).where(conversations.c.id.in_(inboxes)))
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(
            phone=f"{DELETED}:{user_id}",  # unique, and never a number: the real one can sign up afresh
            display_name="",
            about="",
            picture=None,
            status=DELETED,
            last_seen_at=None,
            throttled_until=None,
            warnings=0,
        )
    )
    return active


def touch_devices(conn: Connection, when: dict[str, float]) -> None:
    """Set `last_active_at` of many devices in one statement (executemany)."""
    stmt = sql.built(
        conn,
        "touch_devices",
        lambda _: update(devices).where(devices.c.id == bindparam("d")).values(last_active_at=bindparam("t")),
    )
    conn.execute(stmt, [{"d": d, "t": t} for d, t in when.items()])


def device_and_status_by_token_hash(conn: Connection, token_hash: str) -> tuple[Device, str] | None:
    """The device holding a token and its user's account status, in one query."""
    stmt = sql.prepared(
        conn,
        "device_by_token",
        lambda _: (
            select(devices, users.c.status.label("user_status"))
            .join(users, users.c.id == devices.c.user_id)
            .where(devices.c.token_hash == bindparam("h"))
        ),
        ["h"],
    )
    rows = sql.run(conn, stmt, {"h": token_hash})
    return (_device(rows[0]), str(rows[0].user_status)) if rows else None


def device_standing(conn: Connection, device_id: str) -> str | None:
    """Why a connected device must be closed: "device_revoked" (revoked, or gone with its account),
    "account_suspended", or None if it may stay."""
    row = conn.execute(
        select(devices.c.revoked_at, users.c.status)
        .join(users, users.c.id == devices.c.user_id)
        .where(devices.c.id == device_id)
    ).first()
    if row is None or row.revoked_at is not None:
        return "device_revoked"
    return "account_suspended" if row.status == "suspended" else None


# -- verification codes -------------------------------------------------------------------------------------


def get_code(conn: Connection, phone: str) -> CodeRow | None:
    row = (conn.execute(select(verification_codes).where(verification_codes.c.phone == phone))).first()
    return CodeRow(row.phone, row.code_hash, row.created_at, row.expires_at, row.attempts) if row else None


def put_code(conn: Connection, phone: str, code_hash: str, now: float, expires_at: float) -> None:
    conn.execute(delete(verification_codes).where(verification_codes.c.phone == phone))
    conn.execute(
        insert(verification_codes).values(
            phone=phone, code_hash=code_hash, created_at=now, expires_at=expires_at, attempts=0
        )
    )


def count_code_attempt(conn: Connection, phone: str) -> None:
    conn.execute(
        update(verification_codes)
        .where(verification_codes.c.phone == phone)
        .values(attempts=verification_codes.c.attempts + 1)
    )


def delete_code(conn: Connection, phone: str) -> None:
    conn.execute(delete(verification_codes).where(verification_codes.c.phone == phone))


def code_sends_since(
    conn: Connection, *, phone: str | None = None, client_ip: str | None = None, since: float
) -> list[float]:
    q = select(code_sends.c.sent_at).where(code_sends.c.sent_at >= since)
    if phone is not None:
        q = q.where(code_sends.c.phone == phone)
    if client_ip is not None:
        q = q.where(code_sends.c.client_ip == client_ip)
    return [r[0] for r in (conn.execute(q.order_by(code_sends.c.sent_at))).all()]


def record_code_send(conn: Connection, phone: str, client_ip: str, now: float) -> None:
    conn.execute(insert(code_sends).values(phone=phone, client_ip=client_ip, sent_at=now))
    # Old rows are no use to the throttle; keep the table small.
    conn.execute(delete(code_sends).where(code_sends.c.sent_at < now - 86400))


# -- contacts and discovery ---------------------------------------------------------------------------------


def list_contacts(conn: Connection, owner_id: str) -> list[Contact]:
    q = (
        select(contacts.c.phone, contacts.c.name, users.c.id, users.c.display_name)
        .select_from(contacts.outerjoin(users, users.c.phone == contacts.c.phone))
        .where(contacts.c.owner_id == owner_id)
        .order_by(contacts.c.name, contacts.c.phone)
    )
    return [Contact(r[0], r[1], r[2], r[3]) for r in (conn.execute(q)).all()]


def contact_phones(conn: Connection, owner_id: str, phones: Sequence[str]) -> set[str]:
    if not phones:
        return set()
    rows = conn.execute(
        select(contacts.c.phone).where(contacts.c.owner_id == owner_id, contacts.c.phone.in_(list(phones)))
    )
    return {r[0] for r in rows.all()}


def upsert_contacts(conn: Connection, owner_id: str, entries: dict[str, str], now: float) -> None:
    existing = contact_phones(conn, owner_id, list(entries))
    for phone, name in entries.items():
        if phone in existing:
            conn.execute(
                update(contacts).where(contacts.c.owner_id == owner_id, contacts.c.phone == phone).values(name=name)
            )
        else:
            conn.execute(insert(contacts).values(owner_id=owner_id, phone=phone, name=name, added_at=now))


def delete_contact(conn: Connection, owner_id: str, phone: str) -> bool:
    res = conn.execute(delete(contacts).where(contacts.c.owner_id == owner_id, contacts.c.phone == phone))
    return (res.rowcount or 0) > 0


def has_contact(conn: Connection, owner_id: str, phone: str) -> bool:
    row = (
        conn.execute(
            select(func.count())
            .select_from(contacts)
            .where(and_(contacts.c.owner_id == owner_id, contacts.c.phone == phone))
        )
    ).scalar_one()
    return bool(row)


def discovery_used(conn: Connection, user_id: str, day: str) -> int:
    row = (
        conn.execute(
            select(discovery_usage.c.used).where(discovery_usage.c.user_id == user_id, discovery_usage.c.day == day)
        )
    ).first()
    return int(row[0]) if row else 0


def add_discovery_use(conn: Connection, user_id: str, day: str, n: int) -> None:
    used = discovery_used(conn, user_id, day)
    if used:
        conn.execute(
            update(discovery_usage)
            .where(discovery_usage.c.user_id == user_id, discovery_usage.c.day == day)
            .values(used=used + n)
        )
    else:
        conn.execute(insert(discovery_usage).values(user_id=user_id, day=day, used=n))
    conn.execute(delete(discovery_usage).where(discovery_usage.c.user_id == user_id, discovery_usage.c.day < day))
