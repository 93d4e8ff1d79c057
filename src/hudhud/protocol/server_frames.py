"""Frames the server sends, built as bytes. `content` is embedded as the stored JSON, never re-parsed."""

from __future__ import annotations

from typing import Any

import orjson

from hudhud.store.records import Message


def encode(frame: dict[str, Any]) -> bytes:
    return orjson.dumps(frame)


def welcome(v: int, user_id: str, device_id: str, server_time: float) -> bytes:
    return encode({"type": "welcome", "v": v, "user_id": user_id, "device_id": device_id, "server_time": server_time})


def envelope(m: Message, viewer_id: str | None = None) -> dict[str, Any]:
    """The message as clients see it, with its content embedded as stored."""
    body: dict[str, Any] = {
        "conversation_id": m.conversation_id,
        "seq": m.seq,
        "id": m.client_msg_id,
        "sender": {"user_id": m.sender_id, "device_id": m.sender_device_id},
        "ts": m.created_at,
        "content": orjson.Fragment(m.content),
    }
    if m.kind != "user":
        body["system"] = True
    if m.forward_count:
        body["forward_count"] = m.forward_count
    if m.stranger and viewer_id != m.sender_id:
        # Only the recipient learns that the sender is not in their contacts; telling the sender would reveal
        # whether the recipient saved their number.
        body["stranger"] = True
    return body


def deliver(m: Message, viewer_id: str | None = None) -> bytes:
    return encode({"type": "deliver", **envelope(m, viewer_id)})


def broadcast_sent(ref: Any, client_msg_id: str, list_id: str, total: int, reached: list[dict[str, Any]]) -> bytes:
    return encode(
        {
            "type": "broadcast_sent",
            "ref": ref,
            "id": client_msg_id,
            "list_id": list_id,
            "total": total,
            "reached": len(reached),
            "messages": reached,
        }
    )


def sent(ref: Any, client_msg_id: str, conversation_id: str, seq: int, ts: float, duplicate: bool) -> bytes:
    return encode(
        {
            "type": "sent",
            "ref": ref,
            "id": client_msg_id,
            "conversation_id": conversation_id,
            "seq": seq,
            "ts": ts,
            "duplicate": duplicate,
        }
    )


def synced() -> bytes:
    return encode({"type": "synced"})


def receipt(conversation_id: str, user_id: str, delivered_seq: int, read_seq: int | None) -> bytes:
    return encode(
        {
            "type": "receipt",
            "conversation_id": conversation_id,
            "user_id": user_id,
            "delivered_seq": delivered_seq,
            "read_seq": read_seq,
        }
    )


def typing(conversation_id: str, user_id: str, state: str) -> bytes:
    return encode({"type": "typing", "conversation_id": conversation_id, "user_id": user_id, "state": state})


def chat_state(conversation_id: str, state: dict[str, Any]) -> bytes:
    """Pinned, archived, muted changed for one of my chats (docs/protocol.md 3.13a), to all my devices."""
    return encode({"type": "chat_state", "conversation_id": conversation_id, **state})


def presence(user_id: str, status: str, last_seen: float | None) -> bytes:
    return encode({"type": "presence", "user_id": user_id, "status": status, "last_seen": last_seen})


def error(code: str, message: str, ref: Any = None, retry_after: float | None = None) -> bytes:
    body: dict[str, Any] = {"type": "error", "code": code, "message": message, "ref": ref}
    if retry_after is not None:
        body["retry_after"] = retry_after
    return encode(body)


def pong(ref: Any) -> bytes:
    return encode({"type": "pong", "ref": ref})
