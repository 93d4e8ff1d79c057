"""Queries for chat state: pinned, archived, muted, per member (services/chatstate.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from hudhud.store.schema import chat_states


@dataclass(frozen=True, slots=True)
class ChatState:
    conversation_id: str
    user_id: str
    pinned_at: float | None = None
    archived: bool = False
    muted_until: float | None = None


def _state(row: Any) -> ChatState:
    return ChatState(row.conversation_id, row.user_id, row.pinned_at, bool(row.archived), row.muted_until)


def get(conn: Connection, conv_id: str, user_id: str) -> ChatState | None:
    row = conn.execute(
        select(chat_states).where(chat_states.c.conversation_id == conv_id, chat_states.c.user_id == user_id)
    ).first()
    return _state(row) if row else None


def for_user(conn: Connection, user_id: str) -> dict[str, ChatState]:
    rows = conn.execute(select(chat_states).where(chat_states.c.user_id == user_id)).all()
    return {r.conversation_id: _state(r) for r in rows}


def pinned_count(conn: Connection, user_id: str) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(chat_states)
            .where(chat_states.c.user_id == user_id, chat_states.c.pinned_at.is_not(None))
        ).scalar_one()
    )


def put(conn: Connection, state: ChatState, exists: bool, now: float) -> None:
    values = {
        "pinned_at": state.pinned_at,
        "archived": state.archived,
        "muted_until": state.muted_until,
        "updated_at": now,
    }
    if exists:
        conn.execute(
            update(chat_states)
            .where(chat_states.c.conversation_id == state.conversation_id, chat_states.c.user_id == state.user_id)
            .values(**values)
        )
    else:
        conn.execute(insert(chat_states).values(conversation_id=state.conversation_id, user_id=state.user_id, **values))


def erase_user(conn: Connection, user_id: str) -> None:
    conn.execute(delete(chat_states).where(chat_states.c.user_id == user_id))
