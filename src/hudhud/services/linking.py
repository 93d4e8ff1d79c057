"""Linking a new device to an account with a pairing code, as WhatsApp Web links a computer.

1. The new device (a browser, say) asks for a link request: it gets a short pairing code to show (as text and as
   a QR code) and a long secret that it keeps to itself. Requests are rate-limited per client address.
2. A device already logged in approves the code (`hudhud link CODE`, or "Link a device" in another browser).
   The code is short-lived and single-use; wrong codes are counted per account and limited per day.
3. The new device claims its token with the request id and its secret. Only then is the device created, so no
   token is ever stored but as its hash, and the one who approved never sees it. The request is gone after it.

A code alone is not enough to take over anything: approving it adds a device to the *approver's* account, and
only the holder of the secret (the device that asked) can collect that device's token."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection

from hudhud import ids
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ClientError, InvalidRequest, RateLimited
from hudhud.services.accounts import check_device_room
from hudhud.services.safety import day_of
from hudhud.store import accounts as aq
from hudhud.store import groups as gq
from hudhud.store import linking as q
from hudhud.store.db import Database

# Upper-case letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L, U).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_LENGTH = 8


def new_pairing_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(raw: str) -> str:
    """Accept what a person types: any case, with spaces or dashes."""
    return "".join(ch for ch in raw.upper() if ch.isalnum())


def shown(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


@dataclass(frozen=True)
class PendingLink:
    request_id: str
    code: str  # as shown, "ABCD-EFGH"
    secret: str
    expires_at: float


@dataclass(frozen=True)
class LinkedDevice:
    user_id: str
    device_id: str
    token: str


def _invalid() -> ClientError:
    return ClientError("no such pairing code, or it has expired or been used", code="pairing_invalid", status=404)


class LinkService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._s = settings

    async def request(self, device_name: str, client_ip: str) -> PendingLink:
        if not isinstance(device_name, str) or len(device_name) > 64:
            raise InvalidRequest("device_name is at most 64 characters")
        now = self._clock.now()
        request_id = ids.new_id("l")
        secret = ids.new_token()
        code = new_pairing_code()
        expires_at = now + self._s.link_request_ttl
        s = self._s

        def op(conn: Connection) -> None:
            if q.requests_from(conn, client_ip, now - 3600) >= s.link_requests_per_ip_hour:
                raise RateLimited("too many link requests from this address; try again later", retry_after=600)
            q.insert_request(conn, request_id, code, ids.hash_token(secret), device_name, client_ip, now, expires_at)

        await self._db.write(op)
        return PendingLink(request_id, shown(code), secret, expires_at)

    async def approve(self, user_id: str, raw_code: str) -> str:
        """Approve a pairing code for this user's account; returns the new device's name. A wrong or stale code
        counts against the account's daily allowance of misses, so codes cannot be guessed from an account."""
        code = normalize_code(raw_code) if isinstance(raw_code, str) else ""
        now = self._clock.now()
        day = day_of(now)
        s = self._s

        def op(conn: Connection) -> str | None:
            if gq.counter(conn, user_id, day, "link_misses") >= s.link_misses_per_day:
                raise RateLimited(
                    "too many wrong pairing codes today; try again tomorrow", retry_after=86400 - now % 86400
                )
            found = q.by_code(conn, code) if len(code) == CODE_LENGTH else None
            if found is None or found.status != "pending" or found.expires_at <= now:
                gq.bump_counter(conn, user_id, day, "link_misses")
                return None  # the miss must commit: answered after the write
            check_device_room(conn, user_id, s.max_devices)
            if not q.approve(conn, found.id, user_id):
                return None
            return found.device_name

        name = await self._db.write(op)
        if name is None:
            raise _invalid()
        return name

    async def claim(self, request_id: str, secret: str) -> LinkedDevice | None:
        """The new device collects its token once approved. None while the request waits for approval."""
        now = self._clock.now()
        token = ids.new_token()
        s = self._s

        def op(conn: Connection) -> LinkedDevice | None:
            found = q.by_id(conn, request_id) if isinstance(request_id, str) else None
            if (
                found is None
                or not isinstance(secret, str)
                or not hmac.compare_digest(found.secret_hash, ids.hash_token(secret))
                or found.expires_at <= now
            ):
                raise _invalid()
            if found.status != "approved" or found.user_id is None:
                return None
            user = aq.get_user(conn, found.user_id)
            if user is None or user.status == "suspended":
                raise _invalid()
            check_device_room(conn, user.id, s.max_devices)
            device_id = ids.new_id("d")
            aq.insert_device(conn, device_id, user.id, found.device_name or "linked device", ids.hash_token(token), now)
            q.remove(conn, found.id)  # single use
            return LinkedDevice(user.id, device_id, token)

        return await self._db.write(op)
