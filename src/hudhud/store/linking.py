"""Queries for link requests (pairing a new device with an account; services/linking.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from hudhud.store.schema import link_requests


@dataclass(frozen=True, slots=True)
class LinkRequest:
    id: str
    code: str
    secret_hash: str
    device_name: str
    client_ip: str
    created_at: float
    expires_at: float
    status: str
    user_id: str | None


def _request(row: Any) -> LinkRequest:
    return LinkRequest(
        row.id,
        row.code,
        row.secret_hash,
        row.device_name,
        row.client_ip,
        row.created_at,
        row.expires_at,
        row.status,
        row.user_id,
    )


def insert_request(
    conn: Connection,
    request_id: str,
    code: str,
    secret_hash: str,
    device_name: str,
    client_ip: str,
    now: float,
    expires_at: float,
) -> None:
    # Expired requests are of no use to anyone: keep the table small.
    conn.execute(delete(link_requests).where(link_requests.c.expires_at < now - 3600))
    conn.execute(
        insert(link_requests).values(
            id=request_id,
            code=code,
            secret_hash=secret_hash,
            device_name=device_name,
            client_ip=client_ip,
            created_at=now,
            expires_at=expires_at,
        )
    )


def requests_from(conn: Connection, client_ip: str, since: float) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(link_requests)
            .where(link_requests.c.client_ip == client_ip, link_requests.c.created_at >= since)
        ).scalar_one()
    )


def by_code(conn: Connection, code: str) -> LinkRequest | None:
    row = conn.execute(select(link_requests).where(link_requests.c.code == code)).first()
    return _request(row) if row else None


def by_id(conn: Connection, request_id: str) -> LinkRequest | None:
    row = conn.execute(select(link_requests).where(link_requests.c.id == request_id)).first()
    return _request(row) if row else None


def approve(conn: Connection, request_id: str, user_id: str) -> bool:
    """Approve a pending request for `user_id`; False if another approval got there first."""
    done = conn.execute(
        update(link_requests)
        .where(link_requests.c.id == request_id, link_requests.c.status == "pending")
        .values(status="approved", user_id=user_id)
    )
    return bool(done.rowcount)


def remove(conn: Connection, request_id: str) -> None:
    conn.execute(delete(link_requests).where(link_requests.c.id == request_id))
