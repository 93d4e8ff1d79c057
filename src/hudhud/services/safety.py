"""Blocking, reports, operator actions and the limits that stop bulk unsolicited messaging.

- Blocking is silent: the blocked user is not told. Their direct messages to the blocker are acknowledged as
  usual but kept for them alone (`withheld`), they cannot add the blocker to groups, and they see neither the
  blocker's presence nor profile changes.
- Reports carry copies of the messages the reporter chose to share; operators review them with
  `hudhud admin reports` and can warn, suspend or restore an account.
- An account that many distinct people block or report within a window is throttled for a while: a lower
  message rate, and no new chats with people who do not have it in their contacts.
- Every account has a message rate limit and a daily limit of new chats with strangers (people not in its
  contacts), so a spammer with a harvested list of numbers stops at the limit with a clear error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from hudhud import ids
from hudhud.bus import Bus
from hudhud.bus.ratelimit import SharedCounts
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ClientError, InvalidRequest, NotFound, NotMember, RateLimited
from hudhud.store import accounts as aq
from hudhud.store import groups as gq
from hudhud.store import messages as q
from hudhud.store.db import Database
from hudhud.store.records import User

MAX_EVIDENCE = 20


def day_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")


def maybe_throttle(conn: Connection, target_id: str, now: float, s: Settings) -> None:
    """Throttle an account once enough distinct people have blocked or reported it within the window."""
    if gq.complainants_since(conn, target_id, now - s.complaint_window) >= s.complaint_threshold:
        aq.update_user(conn, target_id, throttled_until=now + s.throttle_duration)


def is_throttled(user: User, now: float) -> bool:
    return user.throttled_until is not None and user.throttled_until > now


class RateLimiter:
    """Messages per minute per account: a token bucket on this process and, when processes share the Redis
    bus, the account's count across all of them (bus/ratelimit.py)."""

    def __init__(self, clock: Clock, shared: SharedCounts | None = None) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # user -> (tokens, at)
        self.shared = shared

    def take(self, user_id: str, per_minute: int, n: int = 1) -> None:
        if per_minute <= 0:
            return
        now = self._clock.now()
        tokens, at = self._buckets.get(user_id, (float(per_minute), now))
        tokens = min(float(per_minute), tokens + (now - at) * per_minute / 60.0)
        if tokens < n:
            self._buckets[user_id] = (tokens, now)
            raise RateLimited(
                f"too many messages; the limit is {per_minute} a minute", retry_after=(n - tokens) * 60.0 / per_minute
            )
        if self.shared is not None:
            wait = self.shared.over(user_id, n, per_minute)
            if wait is not None:
                self._buckets[user_id] = (tokens, now)
                raise RateLimited(f"too many messages; the limit is {per_minute} a minute", retry_after=wait)
        self._buckets[user_id] = (tokens - n, now)
        if len(self._buckets) > 100_000:  # forget the idle
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}


@dataclass(frozen=True)
class ReportView:
    id: str
    reporter_id: str
    target_user_id: str | None
    conversation_id: str | None
    reason: str
    evidence: list[dict[str, Any]]
    created_at: float
    status: str


class SafetyService:
    def __init__(
        self, db: Database, bus: Bus, clock: Clock, settings: Settings, shared: SharedCounts | None = None
    ) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._s = settings
        self.limiter = RateLimiter(clock, shared)

    # -- blocking ---------------------------------------------------------------------------------------------

    async def block(self, user_id: str, target_id: str) -> None:
        if target_id == user_id:
            raise InvalidRequest("you cannot block yourself")
        now = self._clock.now()
        s = self._s

        def op(conn: Connection) -> None:
            if aq.get_user(conn, target_id) is None:
                raise NotFound("no such user")
            if gq.block(conn, user_id, target_id, now):
                maybe_throttle(conn, target_id, now, s)

        await self._db.write(op)
        # Whoever the blocked user is watching, presence views are re-read on the next change; nothing is sent
        # to the blocked user.
        await self._bus.publish(f"presence:{user_id}", {"t": "presence", "u": user_id})

    async def unblock(self, user_id: str, target_id: str) -> None:
        if not await self._db.write(lambda c: gq.unblock(c, user_id, target_id)):
            raise NotFound("not blocked")

    async def blocked(self, user_id: str) -> list[str]:
        return await self._db.read(lambda c: gq.blocked_by_me(c, user_id))

    # -- reports ----------------------------------------------------------------------------------------------

    async def report(
        self, user_id: str, *, target_user: str | None, conversation_id: str | None, reason: str, seqs: list[int]
    ) -> str:
        if target_user is None and conversation_id is None:
            raise InvalidRequest("report a user_id, a conversation_id, or both")
        if len(reason) > 1000:
            raise InvalidRequest("reason is at most 1000 characters")
        if len(seqs) > MAX_EVIDENCE:
            raise InvalidRequest(f"share at most {MAX_EVIDENCE} messages")
        if seqs and conversation_id is None:
            raise InvalidRequest("messages are given by seq within conversation_id")
        now = self._clock.now()
        report_id = ids.new_id("r")
        s = self._s

        def op(conn: Connection) -> None:
            evidence: list[dict[str, Any]] = []
            if conversation_id is not None:
                member = q.get_member(conn, conversation_id, user_id)
                if member is None:
                    raise NotMember("you are not a member of this conversation")
                if seqs:
                    visible = {m.seq: m for m in q.history(conn, conversation_id, member, None, 500)}
                    for seq in seqs:
                        m = visible.get(seq)
                        if m is None:
                            raise InvalidRequest(f"message {seq} is not one you can see")
                        evidence.append(
                            {
                                "seq": m.seq,
                                "sender_id": m.sender_id,
                                "ts": m.created_at,
                                "content": orjson.loads(m.content),
                            }
                        )
            if target_user is not None and aq.get_user(conn, target_user) is None:
                raise NotFound("no such user")
            gq.add_report(conn, report_id, user_id, target_user, conversation_id, reason, orjson.dumps(evidence), now)
            if target_user is not None:
                maybe_throttle(conn, target_user, now, s)

        await self._db.write(op)
        return report_id

    async def last_messages_for_report(self, user_id: str, conversation_id: str, n: int = 5) -> list[int]:
        def op(conn: Connection) -> list[int]:
            member = q.get_member(conn, conversation_id, user_id)
            if member is None:
                return []
            msgs = q.history(conn, conversation_id, member, None, 50)
            return [m.seq for m in msgs if m.kind == "user"][-n:]

        return await self._db.read(op)

    # -- operators --------------------------------------------------------------------------------------------

    async def reports(self, include_closed: bool = False) -> list[ReportView]:
        rows = await self._db.read(lambda c: gq.list_reports(c, include_closed))
        return [
            ReportView(
                r.id,
                r.reporter_id,
                r.target_user_id,
                r.conversation_id,
                r.reason,
                orjson.loads(r.evidence),
                r.created_at,
                r.status,
            )
            for r in rows
        ]

    async def moderate(self, raw_user: str, action: str) -> User:
        """warn | suspend | restore. A user is named by id or phone number."""

        def op(conn: Connection) -> User:
            user = aq.get_user(conn, raw_user) or aq.get_user_by_phone(conn, raw_user)
            if user is None:
                raise NotFound("no such user")
            if action == "warn":
                aq.update_user(conn, user.id, warnings=user.warnings + 1)
            elif action == "suspend":
                aq.update_user(conn, user.id, status="suspended")
            elif action == "restore":
                aq.update_user(conn, user.id, status="active", throttled_until=None)
                gq.close_reports(conn, user.id)
            else:
                raise InvalidRequest("action is warn, suspend or restore")
            fresh = aq.get_user(conn, user.id)
            assert fresh is not None
            return fresh

        user = await self._db.write(op)
        if action == "suspend":
            await self._bus.publish(f"user:{user.id}", {"t": "suspended"})
        return user

    # -- limits used by messaging -----------------------------------------------------------------------------

    def check_rate(self, user: User, n: int = 1) -> None:
        now = self._clock.now()
        limit = self._s.throttled_messages_per_minute if is_throttled(user, now) else self._s.messages_per_minute
        self.limiter.take(user.id, limit, n)


def new_chat_check(conn: Connection, sender: User, recipient: User, now: float, s: Settings) -> bool:
    """Called when a message would open a new direct chat. Returns whether the recipient should see it marked
    as from a stranger; raises if the sender has used up today's new chats with strangers.

    A stranger is someone who does not have the sender's number in *their* address book: the recipient's
    choice, which the sender cannot make for them by saving numbers in their own. (With no chat between them
    yet, the recipient cannot have written to the sender.)"""
    stranger = not aq.has_contact(conn, recipient.id, sender.phone)
    if stranger:
        spend_stranger_budget(conn, sender, now, s, 1)
    return stranger


def spend_stranger_budget(conn: Connection, sender: User, now: float, s: Settings, n: int) -> None:
    """Count `n` new contacts with strangers (new chats, group invitations) against the sender's daily limit,
    or refuse them all with `new_chat_limit` (0 a day while the sender is throttled)."""
    limit = 0 if is_throttled(sender, now) else s.new_stranger_chats_per_day
    day = day_of(now)
    if gq.counter(conn, sender.id, day, "stranger_chats") + n > limit:
        raise ClientError(
            f"you have reached today's limit of {limit} new chats and invitations with people who do not have "
            "your number; the limit protects people from unsolicited messages",
            code="new_chat_limit",
            status=429,
            retry_after=86400 - now % 86400,
        )
    gq.bump_counter(conn, sender.id, day, "stranger_chats", n)
