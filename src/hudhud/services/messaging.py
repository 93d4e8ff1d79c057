"""Sending, acknowledging and reading messages; typing; conversation lists and history.

The path of a send: validate → one write operation in the next group commit (dedupe by the device's client
message id, membership, sequence number, insert) → after commit, ring each member's doorbell on the bus →
each connected device's feed reads what it lacks from the store and sends it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection

from hudhud import ids
from hudhud.bus import Bus
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ContentTooLarge, InvalidRequest, NotFound, NotMember
from hudhud.store import accounts as aq
from hudhud.store import messages as q
from hudhud.store.db import Database
from hudhud.store.records import Conversation, Member, Message, User


@dataclass(frozen=True)
class SendResult:
    conversation_id: str
    seq: int
    created_at: float
    client_msg_id: str
    duplicate: bool


@dataclass(frozen=True)
class ReceiptView:
    conversation_id: str
    user_id: str
    delivered_seq: int
    read_seq: int | None  # None: this reader does not share read receipts with this viewer


@dataclass(frozen=True)
class ConversationSummary:
    conversation: Conversation
    me: Member
    members: list[Member]
    users: dict[str, User]
    last_message: Message | None
    receipts: list[ReceiptView]


def check_client_msg_id(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not value.isprintable():
        raise InvalidRequest("id (the client message id) is 1 to 64 printable characters")
    return value


def encode_content(content: object, limit: int) -> bytes:
    """The payload as stored: the client's JSON, re-serialised compactly. The server checks only its type
    (an object, or a string for opaque ciphertext) and its size."""
    if not isinstance(content, dict | str):
        raise InvalidRequest("content is a JSON object (or a string for opaque payloads)")
    data = orjson.dumps(content)
    if len(data) > limit:
        raise ContentTooLarge(f"content is {len(data)} bytes; the limit is {limit}")
    return data


def receipt_view(viewer: User, member: Member, reader: User) -> ReceiptView:
    """What `viewer` may see of `member`'s receipts. As in WhatsApp, read receipts are shared only between
    users who both have them on; you always see your own."""
    shared = viewer.id == reader.id or (viewer.read_receipts and reader.read_receipts)
    return ReceiptView(
        member.conversation_id, member.user_id, member.delivered_seq, member.read_seq if shared else None
    )


class MessagingService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._s = settings

    async def send(
        self,
        user_id: str,
        device_id: str,
        client_msg_id: str,
        content: bytes,
        *,
        conversation_id: str | None = None,
        to_user: str | None = None,
    ) -> SendResult:
        return await self.send_in_order(
            user_id, device_id, client_msg_id, content, conversation_id=conversation_id, to_user=to_user
        )

    def send_in_order(
        self,
        user_id: str,
        device_id: str,
        client_msg_id: str,
        content: bytes,
        *,
        conversation_id: str | None = None,
        to_user: str | None = None,
    ) -> Awaitable[SendResult]:
        """Queue the send for the next group commit before returning, so that sends a device makes one after
        another get sequence numbers in that order even while several are in flight. Await the result."""
        if (conversation_id is None) == (to_user is None):
            raise InvalidRequest("give exactly one of conversation_id and to")
        new_conv_id = ids.new_id("c")
        clock = self._clock

        def op(conn: Connection) -> tuple[SendResult, list[str]]:
            now = clock.now()  # taken inside the writer, so timestamps follow sequence order
            earlier = q.find_by_client_id(conn, device_id, client_msg_id)
            if earlier is not None:
                return SendResult(earlier.conversation_id, earlier.seq, earlier.created_at, client_msg_id, True), []
            if conversation_id is not None:
                member = q.get_member(conn, conversation_id, user_id)
                if member is None or member.left_seq is not None:
                    raise NotMember("you are not a member of this conversation")
                conv_id = conversation_id
            else:
                assert to_user is not None
                existing = q.find_direct(conn, user_id, to_user)
                if existing is None:
                    if aq.get_user(conn, to_user) is None:
                        raise NotFound("no such user")
                    existing = q.create_direct(conn, new_conv_id, user_id, to_user, now)
                conv_id = existing
            seq = q.append_message(conn, conv_id, user_id, device_id, client_msg_id, content, now)
            audience = q.active_member_ids(conn, conv_id)
            return SendResult(conv_id, seq, now, client_msg_id, False), audience

        return self._announce(self._db.submit(op))

    async def _announce(self, pending: Awaitable[tuple[SendResult, list[str]]]) -> SendResult:
        result, audience = await pending
        notice = {"t": "msg", "c": result.conversation_id, "s": result.seq}
        for member_id in audience:
            await self._bus.publish(f"user:{member_id}", notice)
        return result

    async def ack(self, user_id: str, device_id: str, conversation_id: str, seq: int) -> None:
        """The device has everything in the conversation through `seq` (its cursor moves there); the user's
        delivered watermark moves with it, which the other members see as two ticks."""
        await self._watermark(user_id, conversation_id, seq, device_id=device_id)

    async def read(self, user_id: str, conversation_id: str, seq: int) -> None:
        await self._watermark(user_id, conversation_id, seq, read=True)

    async def _watermark(
        self, user_id: str, conversation_id: str, seq: int, *, device_id: str | None = None, read: bool = False
    ) -> None:
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise InvalidRequest("seq is a non-negative integer")

        def op(conn: Connection) -> list[str]:
            found = q.member_position(conn, conversation_id, user_id)
            if found is None:
                raise NotMember("you are not a member of this conversation")
            member, last_seq = found
            if seq > last_seq:
                raise InvalidRequest(f"seq {seq} is beyond the last message ({last_seq})")
            if device_id is not None:
                q.advance_cursor(conn, device_id, conversation_id, seq)
            moved = q.advance_watermarks(
                conn, conversation_id, user_id, delivered=0 if read else seq, read=seq if read else 0
            )
            if moved is None:
                return []
            if moved.delivered_seq == member.delivered_seq:
                # Only the read position moved. Someone who does not share read receipts must not reveal even
                # the moment they read: tell only their own devices.
                reader = aq.get_user(conn, user_id)
                if reader is not None and not reader.read_receipts:
                    return [user_id]
            return q.active_member_ids(conn, conversation_id)

        audience = await self._db.write(op)
        notice = {"t": "rcpt", "c": conversation_id, "u": user_id}
        for member_id in audience:
            await self._bus.publish(f"user:{member_id}", notice)

    async def typing(self, user_id: str, conversation_id: str, state: str) -> None:
        if state not in ("composing", "paused"):
            raise InvalidRequest("state is composing or paused")
        members = await self._db.read(lambda c: q.list_members(c, conversation_id))
        if not any(m.user_id == user_id and m.left_seq is None for m in members):
            raise NotMember("you are not a member of this conversation")
        notice = {"t": "typing", "c": conversation_id, "u": user_id, "st": state}
        for m in members:
            if m.user_id != user_id and m.left_seq is None:
                await self._bus.publish(f"user:{m.user_id}", notice)

    async def receipt_for(self, viewer_id: str, conversation_id: str, reader_id: str) -> ReceiptView | None:
        def op(conn: Connection) -> ReceiptView | None:
            member = q.get_member(conn, conversation_id, reader_id)
            users = aq.get_users(conn, [viewer_id, reader_id])
            if member is None or viewer_id not in users or reader_id not in users:
                return None
            return receipt_view(users[viewer_id], member, users[reader_id])

        return await self._db.read(op)

    async def conversations(self, user_id: str) -> list[ConversationSummary]:
        def op(conn: Connection) -> list[ConversationSummary]:
            mine = q.user_conversations(conn, user_id)
            conv_ids = [c.id for c, _ in mine]
            all_members = q.members_of_many(conn, conv_ids)
            users = aq.get_users(conn, [m.user_id for ms in all_members.values() for m in ms] + [user_id])
            lasts = q.last_messages(conn, conv_ids)
            out = []
            for conv, me in mine:
                ms = all_members.get(conv.id, [])
                last = lasts.get(conv.id)
                if last is not None and not (me.joined_seq < last.seq <= (me.left_seq or last.seq)):
                    last = None
                rcpts = [receipt_view(users[user_id], m, users[m.user_id]) for m in ms]
                out.append(ConversationSummary(conv, me, ms, users, last, rcpts))
            return out

        return await self._db.read(op)

    async def history(
        self, user_id: str, conversation_id: str, before: int | None, limit: int
    ) -> tuple[list[Message], list[ReceiptView]]:
        limit = max(1, min(limit, 500))

        def op(conn: Connection) -> tuple[list[Message], list[ReceiptView]]:
            member = q.get_member(conn, conversation_id, user_id)
            if member is None:
                raise NotMember("you are not a member of this conversation")
            msgs = q.history(conn, conversation_id, member, before, limit)
            ms = q.list_members(conn, conversation_id)
            users = aq.get_users(conn, [m.user_id for m in ms] + [user_id])
            return msgs, [receipt_view(users[user_id], m, users[m.user_id]) for m in ms]

        return await self._db.read(op)
