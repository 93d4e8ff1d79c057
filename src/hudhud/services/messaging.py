"""Sending, acknowledging and reading messages; typing; conversation lists and history.

The path of a send: validate → one write operation in the next group commit (dedupe by the device's client
message id, membership, sequence number, insert) → after commit, ring each member's doorbell on the bus →
each connected device's feed reads what it lacks from the store and sends it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import Connection

from hudhud import ids
from hudhud.bus import Bus
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ClientError, ContentTooLarge, InvalidRequest, NotFound, NotMember
from hudhud.protocol import content as shape
from hudhud.services.recent import RecentMessages
from hudhud.services.safety import SafetyService, new_chat_check
from hudhud.services.visibility import Profile, profiles_for
from hudhud.store import accounts as aq
from hudhud.store import groups as gq
from hudhud.store import media as mq
from hudhud.store import messages as q
from hudhud.store import relations as rq
from hudhud.store.db import Database
from hudhud.store.records import Conversation, Member, Message, User


@dataclass(frozen=True)
class SendResult:
    conversation_id: str
    seq: int
    created_at: float
    client_msg_id: str
    duplicate: bool
    forward_count: int = 0


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
    profiles: dict[str, Profile]  # how each member appears to me (services/visibility.py)
    last_message: Message | None
    receipts: list[ReceiptView]


def check_client_msg_id(value: object, max_len: int = 64) -> str:
    """A client message id: 1 to `max_len` printable characters (64 for `send`; `forward` and `broadcast` keep
    room for the suffix of each copy's id)."""
    if not isinstance(value, str) or not 1 <= len(value) <= max_len or not value.isprintable():
        raise InvalidRequest(f"id (the client message id) is 1 to {max_len} printable characters")
    return value


def encode_content(content: object, limit: int) -> bytes:
    """The payload as stored: the client's JSON, re-serialised compactly. The server checks only its type
    (an object, or a string for opaque ciphertext), its size and its shape (`protocol.content`)."""
    if isinstance(content, str):
        data = orjson.dumps(content)
    elif isinstance(content, dict):
        try:
            data = orjson.dumps(content)
        except orjson.JSONEncodeError:  # the only thing decoded JSON can break here is orjson's depth limit
            raise InvalidRequest(f"content is nested more than {shape.MAX_DEPTH} levels deep") from None
    else:
        raise InvalidRequest("content is a JSON object (or a string for opaque payloads)")
    if len(data) > limit:
        raise ContentTooLarge(f"content is {len(data)} bytes; the limit is {limit}")
    if shape.may_break_rules(data) and (broken := shape.rule_broken(content)) is not None:
        raise InvalidRequest(broken)
    return data


def receipt_view(viewer: User, member: Member, reader: User) -> ReceiptView:
    """What `viewer` may see of `member`'s receipts. As in WhatsApp, read receipts are shared only between
    users who both have them on; you always see your own."""
    shared = viewer.id == reader.id or (viewer.read_receipts and reader.read_receipts)
    return ReceiptView(
        member.conversation_id, member.user_id, member.delivered_seq, member.read_seq if shared else None
    )


class MessagingService:
    def __init__(
        self, db: Database, bus: Bus, clock: Clock, settings: Settings, safety: SafetyService | None = None
    ) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._s = settings
        self._safety = safety
        self.recent: RecentMessages | None = RecentMessages()
        self._marks: dict[tuple[str, str | None, str, bool], _Mark] = {}  # watermark writes not yet running
        self.stored = 0  # new messages committed (for /metrics; a duplicate send is not one)

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
        forward_of: tuple[str, int] | None = None,
        rate_checked: bool = False,
        media: tuple[str, ...] = (),
        withhold: bool = False,
    ) -> asyncio.Future[SendResult]:
        """Queue the send for the next group commit before returning, so that sends a device makes one after
        another get sequence numbers in that order even while several are in flight. The future resolves once
        the message is committed and its doorbells have rung (no task per message: the WebSocket endpoint
        answers from a callback on it)."""
        if (conversation_id is None) == (to_user is None):
            raise InvalidRequest("give exactly one of conversation_id and to")
        op = self._send_op(
            user_id,
            device_id,
            client_msg_id,
            content,
            conversation_id,
            to_user,
            forward_of,
            rate_checked,
            media,
            withhold,
        )
        done: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()
        # Keyed by conversation for the lock order of a batch on PostgreSQL (store/db.py); a first message by
        # user id takes the key of the pair, whose direct chat it may create.
        key = conversation_id if conversation_id is not None else "to:" + ":".join(sorted((user_id, str(to_user))))
        self._db.submit(op, quick=True, key=key, lane=device_id).add_done_callback(lambda f: self._announce(f, done))
        return done

    def _send_op(
        self,
        user_id: str,
        device_id: str,
        client_msg_id: str,
        content: bytes,
        conversation_id: str | None,
        to_user: str | None,
        forward_of: tuple[str, int] | None,
        rate_checked: bool,
        media: tuple[str, ...] = (),
        withhold: bool = False,
    ) -> Callable[[Connection], tuple[SendResult, list[str], Message | None]]:
        """`withhold`: a copy to `to_user` kept for the sender alone, as if `to_user` had blocked them (a broadcast
        copy to someone who has not saved the sender's number)."""
        clock, s, safety = self._clock, self._s, self._safety

        def op(conn: Connection) -> tuple[SendResult, list[str], Message | None]:
            now = clock.now()  # taken inside the writer, so timestamps follow sequence order
            context = q.send_context(conn, user_id, device_id, client_msg_id, to_user)
            assert context is not None
            sender, earlier, direct_id, withheld, wrote = context
            if earlier is not None:
                return SendResult(earlier[0], earlier[1], earlier[2], client_msg_id, True), [], None
            if sender.status == "suspended":
                # Suspended by an operator in another process: live connections can no longer send.
                raise ClientError("this account is suspended", code="account_suspended", status=403)
            stranger = False
            peer: str | None = None
            audience: list[str] | None = None  # the active members, when already known
            if conversation_id is not None:
                found = q.conversation_with_members(conn, conversation_id, user_id)
                conv, ms, blockers = found if found else (None, [], set())
                member = next((m for m in ms if m.user_id == user_id), None)
                if conv is None or member is None or member.left_seq is not None or conv.kind == "inbox":
                    raise NotMember("you are not a member of this conversation")
                if conv.kind == "group" and conv.only_admins_send and member.role not in ("owner", "admin"):
                    raise ClientError("only admins can send messages to this group", code="admins_only", status=403)
                audience = [m.user_id for m in ms if m.left_seq is None]
                if conv.kind == "direct":
                    peer = next((u for u in audience if u != user_id), None)
                    withheld = peer is not None and peer in blockers
                # "wrote" matters in direct chats only (it shows the peer my number, section 3.9)
                wrote = member.wrote or conv.kind != "direct"
                conv_id: str | None = conv.id
            else:
                assert to_user is not None
                peer = to_user
                conv_id = direct_id
                audience = sorted({user_id, to_user})  # nobody leaves a direct chat
                withheld = (withheld or withhold) and peer != user_id
            forward_count = 0
            if forward_of is not None:
                forward_count = _forward_count(conn, user_id, forward_of) + 1
            if media:
                mq.check_attachable(conn, user_id, media)  # media_not_found, before any write
            if safety is not None and not rate_checked:
                safety.check_rate(sender)
            if conv_id is None:
                assert to_user is not None
                recipient = aq.get_user(conn, to_user)
                if recipient is None:
                    raise NotFound("no such user")
                if to_user != user_id and not withheld:
                    # (A copy nobody but the sender will see reaches no stranger, so it costs no new chat.)
                    stranger = new_chat_check(conn, sender, recipient, now, s)
                conv_id = q.create_direct(conn, ids.new_id("c"), user_id, to_user, now, a_wrote=not withheld)
                wrote = True  # recorded by the creation (unless withheld, below)
            seq = q.append_message(
                conn,
                conv_id,
                user_id,
                device_id,
                client_msg_id,
                content,
                now,
                forward_count=forward_count,
                withheld=withheld,
                stranger=stranger,
            )
            if not wrote and not withheld:
                # Once per direct chat and sender. A withheld message reaches nobody, so it shows nobody anything
                # (no number, no cheaper discovery: a broadcast to people who never saved me is no conversation).
                rq.mark_wrote(conn, conv_id, user_id)
            if media:
                mq.attach(conn, conv_id, seq, media)  # the media references travel beside the opaque payload
            if forward_of is not None:
                mq.copy_refs(conn, forward_of, conv_id, seq)  # a forwarded copy refers to the source's media
            # A message withheld from a blocker goes to the sender's own devices only. (Membership cannot change
            # between the read above and here: every change goes through this same writer.)
            if withheld:
                audience = [user_id]
            message = Message(
                conv_id, seq, user_id, device_id, client_msg_id, now, content, "user", forward_count, withheld, stranger
            )
            return SendResult(conv_id, seq, now, client_msg_id, False, forward_count), audience, message

        return op

    def _announce(
        self, committed: asyncio.Future[tuple[SendResult, list[str], Message | None]], done: asyncio.Future[SendResult]
    ) -> None:
        if not _pass_failure(committed, done):
            return
        result, audience, message = committed.result()
        if message is not None:
            self.stored += 1
            if self.recent is not None:
                self.recent.add(message, frozenset(audience))  # before the doorbell, so feeds find it
        notice = {"t": "msg", "c": result.conversation_id, "s": result.seq}
        for member_id in audience:
            self._bus.publish_nowait(f"user:{member_id}", notice)
        if not done.done():
            done.set_result(result)

    async def forward(
        self, user_id: str, device_id: str, client_msg_id: str, source: tuple[str, int], targets: list[dict[str, str]]
    ) -> list[asyncio.Future[SendResult]]:
        """Forward a message the user can see to up to five chats; its content is copied by the server and its
        forward count goes up by one. A message forwarded five or more times may go to one chat at a time."""
        if not 1 <= len(targets) <= MAX_FORWARD_TARGETS:
            raise InvalidRequest(f"forward to 1 to {MAX_FORWARD_TARGETS} chats")

        def op(conn: Connection) -> tuple[int, bytes]:
            count = _forward_count(conn, user_id, source)
            m = q.fetch_after(conn, source[0], user_id, source[1] - 1, 1)[0]
            return count, m.content

        count, content = await self._db.read(op)
        if count >= FORWARDED_MANY_TIMES and len(targets) > 1:
            raise ClientError(
                "this message was forwarded many times; forward it to one chat at a time",
                code="forward_limit",
                status=400,
            )
        pending = []
        for i, target in enumerate(targets):
            conv, to = target.get("conversation_id"), target.get("to")
            pending.append(
                self.send_in_order(
                    user_id,
                    device_id,
                    f"{client_msg_id}#{i}",
                    content,
                    conversation_id=conv,
                    to_user=to,
                    forward_of=source,
                )
            )
        return pending

    async def broadcast(
        self, user_id: str, device_id: str, client_msg_id: str, list_id: str, content: bytes
    ) -> tuple[int, list[tuple[str, SendResult]]]:
        """Send one message to each recipient of a broadcast list as an ordinary one-to-one message. As in
        WhatsApp, only recipients who have the sender in their contacts (and have not blocked them) receive it;
        the copies to the others are stored withheld, kept for the sender alone as a message to someone who
        blocked them is, so that no answer tells the sender who saved their number (protocol section 10.5).
        Returns (list size, results)."""

        def op(conn: Connection) -> tuple[User, list[str], set[str]]:
            row = gq.get_broadcast_list(conn, list_id)
            if row is None or row.owner_id != user_id:
                raise NotFound("no such broadcast list")
            sender = aq.get_user(conn, user_id)
            assert sender is not None
            everyone = gq.broadcast_member_ids(conn, list_id)
            blockers = gq.who_blocked(conn, everyone, user_id)
            reach = rq.owners_with_number(conn, everyone, sender.phone) - blockers
            return sender, everyone, reach

        sender, everyone, reach = await self._db.read(op)
        if sender.status == "suspended":
            raise ClientError("this account is suspended", code="account_suspended", status=403)
        if self._safety is not None and everyone:
            self._safety.check_rate(sender, len(everyone))
        pending = [
            self.send_in_order(
                user_id,
                device_id,
                f"{client_msg_id}#{u}",
                content,
                to_user=u,
                rate_checked=True,
                withhold=u not in reach,
            )
            for u in everyone
        ]
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, ClientError):
                raise outcome
        # A copy refused by a limit is left out and the rest stand. (Copies reach only people who saved the
        # sender's number, who are no strangers, so the daily limit of new chats never refuses one.)
        return len(everyone), [(u, o) for u, o in zip(everyone, outcomes, strict=True) if isinstance(o, SendResult)]

    def ack(self, user_id: str, device_id: str, conversation_id: str, seq: int) -> asyncio.Future[None]:
        """The device has everything in the conversation through `seq` (its cursor moves there); the user's
        delivered watermark moves with it, which the other members see as two ticks. Resolves once committed
        and announced."""
        return self._watermark(user_id, conversation_id, seq, device_id=device_id)

    def read(self, user_id: str, conversation_id: str, seq: int) -> asyncio.Future[None]:
        return self._watermark(user_id, conversation_id, seq, read=True)

    def _watermark(
        self, user_id: str, conversation_id: str, seq: int, *, device_id: str | None = None, read: bool = False
    ) -> asyncio.Future[None]:
        """Move a watermark. Acks (or reads) of one device in one conversation that wait for the same commit are
        merged into one write of the highest: a client acking each message of a burst costs one write per burst,
        and its peer gets one receipt. Each caller still gets its own answer (an error only for a seq beyond
        the conversation's end)."""
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise InvalidRequest("seq is a non-negative integer")
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        key = (user_id, device_id, conversation_id, read)
        pending = self._marks.get(key)
        if pending is not None and pending.join(seq, done):
            return done
        mark = self._marks[key] = _Mark(seq, done)

        def op(conn: Connection) -> tuple[list[str], Member | None, bool, int]:
            seqs = mark.start()  # no more joins from here: later acks start a write of their own
            found = q.member_position(conn, conversation_id, user_id)
            if found is None:
                raise NotMember("you are not a member of this conversation")
            member, last_seq, kind, shares, direct_key = found
            if member.left_seq is not None:
                last_seq = min(last_seq, member.left_seq)
            good = [s for s in seqs if s <= last_seq]
            if not good:
                raise InvalidRequest(f"seq {min(seqs)} is beyond the last message ({last_seq})")
            top = max(good)
            if device_id is not None:
                q.advance_cursor(conn, device_id, conversation_id, top)
            moved = q.advance_watermarks(
                conn, conversation_id, user_id, delivered=0 if read else top, read=top if read else 0
            )
            if moved is None:
                return [], None, True, last_seq
            if kind == "group":
                # In a group every member's position would ring every member: n² notices per message. Members'
                # positions are read on demand (history's receipts, WhatsApp's "message info"); only the user's
                # own devices are told, to keep unread counts in step.
                return [user_id], moved, shares, last_seq
            if moved.delivered_seq == member.delivered_seq and not shares:
                # Only the read position moved. Someone who does not share read receipts must not reveal even
                # the moment they read: tell only their own devices.
                return [user_id], moved, shares, last_seq
            if direct_key is not None:
                return q.direct_members(direct_key), moved, shares, last_seq  # nobody leaves a direct chat
            return q.active_member_ids(conn, conversation_id), moved, shares, last_seq

        def announce(committed: asyncio.Future[tuple[list[str], Member | None, bool, int]]) -> None:
            if self._marks.get(key) is mark:
                del self._marks[key]
            if committed.cancelled() or committed.exception() is not None:
                for _, waiter in mark.waiters:
                    _pass_failure(committed, waiter)
                return
            audience, moved, shares, last_seq = committed.result()
            if moved is not None:
                # The watermarks travel with the doorbell (they are positions, not content), so that a feed can
                # show them without reading the store; "rr" is whether the reader shares read receipts.
                notice = {
                    "t": "rcpt",
                    "c": conversation_id,
                    "u": user_id,
                    "d": moved.delivered_seq,
                    "r": moved.read_seq,
                    "rr": shares,
                }
                for member_id in audience:
                    self._bus.publish_nowait(f"user:{member_id}", notice)
            for wanted, waiter in mark.waiters:
                if waiter.done():
                    continue
                if wanted > last_seq:
                    waiter.set_exception(InvalidRequest(f"seq {wanted} is beyond the last message ({last_seq})"))
                else:
                    waiter.set_result(None)

        self._db.submit(op, quick=True, key=conversation_id, lane=device_id or user_id).add_done_callback(announce)
        return done

    async def typing(self, user_id: str, conversation_id: str, state: str) -> None:
        if state not in ("composing", "paused"):
            raise InvalidRequest("state is composing or paused")
        members = await self._db.read(lambda c: q.list_members(c, conversation_id))
        if not any(m.user_id == user_id and m.left_seq is None for m in members):
            raise NotMember("you are not a member of this conversation")
        others = [m.user_id for m in members if m.user_id != user_id and m.left_seq is None]
        blockers = await self._db.read(lambda c: gq.who_blocked(c, others, user_id))
        notice = {"t": "typing", "c": conversation_id, "u": user_id, "st": state}
        for other in others:
            if other not in blockers:
                await self._bus.publish(f"user:{other}", notice)

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
            profiles = profiles_for(conn, users[user_id], users.values())
            lasts = q.last_messages(conn, conv_ids)
            out = []
            for conv, me in mine:
                if me.left_seq is not None:
                    # A former member sees the conversation as it was when they left.
                    conv = replace(conv, last_seq=min(conv.last_seq, me.left_seq))
                    ms = [me]
                else:
                    ms = [m for m in all_members.get(conv.id, []) if m.left_seq is None]
                last = lasts.get(conv.id)
                hidden = last is not None and (
                    not (me.joined_seq < last.seq <= (me.left_seq or last.seq))
                    or (last.withheld and last.sender_id != user_id)
                )
                if hidden:  # the newest message is not for me: show the newest that is
                    visible = q.history(conn, conv.id, me, None, 1)
                    last = visible[-1] if visible else None
                if last is None and conv.kind == "direct":
                    # Everything in it is withheld from me (a blocked sender, a broadcast copy to someone who has
                    # not saved the sender): a chat I cannot see anything in is not listed, so it tells me nothing.
                    continue
                shown = [me] if conv.kind == "group" else ms  # group receipts: see above, read on demand
                rcpts = [receipt_view(users[user_id], m, users[m.user_id]) for m in shown]
                out.append(ConversationSummary(conv, me, ms, profiles, last, rcpts))
            return out

        return await self._db.read(op)

    async def connect_snapshot(
        self, user_id: str, device_id: str
    ) -> tuple[User | None, dict[str, tuple[int, int]], list[ReceiptView]]:
        """What a device's feed needs when it connects, in one read: the user, where to resume in each
        conversation with something this device has not acknowledged (see `store.messages.sync_starts`), and
        the receipt watermarks: the user's own in every conversation and the other member's in direct chats.
        (Group members' positions are read on demand; loading them for every connecting member of a large group
        would cost members² work.)"""

        def op(conn: Connection) -> tuple[User | None, dict[str, tuple[int, int]], list[ReceiptView]]:
            me = aq.get_user(conn, user_id)
            return me, q.sync_starts(conn, device_id, user_id), _sync_receipts(conn, user_id)

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
            ms = (
                [m for m in q.list_members(conn, conversation_id) if m.left_seq is None]
                if member.left_seq is None
                else [member]
            )
            users = aq.get_users(conn, [m.user_id for m in ms] + [user_id])
            return msgs, [receipt_view(users[user_id], m, users[m.user_id]) for m in ms]

        return await self._db.read(op)


FORWARDED_MANY_TIMES = 5
MAX_FORWARD_TARGETS = 5


def _sync_receipts(conn: Connection, user_id: str) -> list[ReceiptView]:
    rows = q.receipt_rows(conn, user_id)
    mine = next((shares for m, shares in rows if m.user_id == user_id), False)
    out = []
    for m, shares in rows:
        # As in `receipt_view`: read positions are shared only between users who both share them.
        visible = m.user_id == user_id or (mine and shares)
        out.append(ReceiptView(m.conversation_id, m.user_id, m.delivered_seq, m.read_seq if visible else None))
    return out


class _Mark:
    """A watermark write waiting for the writer, and the acks merged into it. `start` runs in the writer (a
    thread on SQLite), `join` on the event loop, hence the lock."""

    __slots__ = ("_lock", "_started", "waiters")

    def __init__(self, seq: int, waiter: asyncio.Future[None]) -> None:
        self._lock = threading.Lock()
        self._started = False
        self.waiters: list[tuple[int, asyncio.Future[None]]] = [(seq, waiter)]

    def join(self, seq: int, waiter: asyncio.Future[None]) -> bool:
        with self._lock:
            if self._started:
                return False
            self.waiters.append((seq, waiter))
            return True

    def start(self) -> list[int]:
        with self._lock:
            self._started = True
            return [s for s, _ in self.waiters]


def _pass_failure(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> bool:
    """Carry a failed or cancelled `source` over to `target`; True if `source` succeeded."""
    if source.cancelled():
        target.cancel()
        return False
    exc = source.exception()
    if exc is not None:
        if not target.done():
            target.set_exception(exc)
        return False
    return True


def _forward_count(conn: Connection, user_id: str, source: tuple[str, int]) -> int:
    """The forward count of a message the user can see; forwarding it adds one hop."""
    conv_id, seq = source
    member = q.get_member(conn, conv_id, user_id)
    msgs = q.fetch_after(conn, conv_id, user_id, seq - 1, 1) if member else []
    if not msgs or msgs[0].seq != seq or msgs[0].kind != "user":
        raise NotFound("the message to forward is not one you can see")
    return msgs[0].forward_count
