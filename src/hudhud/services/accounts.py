"""Accounts, verification codes, devices, profiles and privacy settings."""

from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import dataclass

from sqlalchemy import Connection

from hudhud import ids, phone
from hudhud.bus import Bus
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ClientError, Conflict, InvalidRequest, NotFound, RateLimited, Unauthorized
from hudhud.gateways.sms import SmsGateway
from hudhud.services.visibility import Profile, profiles_for
from hudhud.store import accounts as q
from hudhud.store import media as mq
from hudhud.store.db import Database
from hudhud.store.records import Device, User

log = logging.getLogger("hudhud.accounts")

PRIVACY_LEVELS = ("everyone", "contacts", "nobody")
TOUCH_DELAY = 1.0  # seconds a device's "last active" waits to be written with others


@dataclass(frozen=True)
class Login:
    user: User
    device: Device
    token: str
    new_account: bool


@dataclass(frozen=True)
class Principal:
    """Who is calling: an authenticated device of a user."""

    user_id: str
    device_id: str


def check_device_room(conn: Connection, user_id: str, max_devices: int) -> None:
    """Refuse a new device for an account that already has `max_devices` (409 device_limit)."""
    if len(q.active_devices(conn, user_id)) >= max_devices:
        raise ClientError(
            f"this account already has {max_devices} devices; remove one first", code="device_limit", status=409
        )


class AccountService:
    def __init__(self, db: Database, bus: Bus, sms: SmsGateway, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._sms = sms
        self._clock = clock
        self._s = settings
        self._touched: dict[str, float] = {}  # device -> when it last connected, not yet written
        self._touch_timer: asyncio.TimerHandle | None = None
        self._touch_tasks: set[asyncio.Task[None]] = set()

    def normalize(self, raw: str) -> str:
        return phone.normalize(raw, self._s.default_region)

    # -- codes ------------------------------------------------------------------------------------------------

    async def request_code(self, raw_phone: str, client_ip: str) -> tuple[str, float]:
        """Send a fresh code to the number. Returns (E.164 number, seconds until the code expires)."""
        number = self.normalize(raw_phone)
        now = self._clock.now()
        code = ids.new_code()
        s = self._s

        def op(conn: Connection) -> None:
            by_phone = q.code_sends_since(conn, phone=number, since=now - 3600)
            if by_phone and now - by_phone[-1] < s.code_resend_interval:
                raise RateLimited(
                    "a code was sent to this number moments ago",
                    retry_after=s.code_resend_interval - (now - by_phone[-1]),
                )
            if len(by_phone) >= s.code_max_per_phone_hour:
                raise RateLimited(
                    "too many codes for this number; try again later", retry_after=by_phone[0] + 3600 - now
                )
            by_ip = q.code_sends_since(conn, client_ip=client_ip, since=now - 3600)
            if len(by_ip) >= s.code_max_per_ip_hour:
                raise RateLimited(
                    "too many codes requested from this address; try again later", retry_after=by_ip[0] + 3600 - now
                )
            q.put_code(conn, number, ids.hash_code(number, code), now, now + s.code_ttl)
            q.record_code_send(conn, number, client_ip, now)

        await self._db.write(op)
        await self._sms.send_code(number, code)
        return number, s.code_ttl

    async def verify(self, raw_phone: str, code: str, device_name: str) -> Login:
        number = self.normalize(raw_phone)
        if not (isinstance(code, str) and len(code) == 6 and code.isdigit()):
            raise ClientError("the code is six digits", code="code_invalid")
        now = self._clock.now()
        token = ids.new_token()
        s = self._s

        # Counting a wrong attempt must commit even though the request fails, so the check runs as its own
        # write and returns a verdict instead of raising inside the transaction.
        def check(conn: Connection) -> str:
            row = q.get_code(conn, number)
            if row is None:
                return "code_invalid"
            if row.expires_at <= now:
                q.delete_code(conn, number)
                return "code_expired"
            if row.attempts >= s.code_max_attempts:
                return "code_attempts_exceeded"
            if not hmac.compare_digest(row.code_hash, ids.hash_code(number, code)):
                q.count_code_attempt(conn, number)
                return "code_attempts_exceeded" if row.attempts + 1 >= s.code_max_attempts else "code_invalid"
            return "ok"

        verdict = await self._db.write(check)
        if verdict == "code_invalid":
            raise ClientError("wrong code, or no code was requested for this number", code="code_invalid")
        if verdict == "code_expired":
            raise ClientError("the code has expired; request a new one", code="code_expired")
        if verdict == "code_attempts_exceeded":
            raise ClientError("too many wrong codes; request a new one", code="code_attempts_exceeded", status=429)

        def login(conn: Connection) -> Login:
            # The code is spent in this same transaction: of two logins racing with one code, one wins.
            row = q.get_code(conn, number)
            if row is None or not hmac.compare_digest(row.code_hash, ids.hash_code(number, code)):
                raise ClientError("wrong code, or no code was requested for this number", code="code_invalid")
            user = q.get_user_by_phone(conn, number)
            if user is not None and user.status == "suspended":
                raise ClientError("this account is suspended", code="account_suspended", status=403)
            new = user is None
            if user is not None:
                check_device_room(conn, user.id, s.max_devices)
            q.delete_code(conn, number)
            if user is None:
                user_id = ids.new_id("u")
                q.insert_user(conn, user_id, number, "", now)
                user = q.get_user(conn, user_id)
                assert user is not None
            device = self._add_device(conn, user.id, device_name, token, now)
            return Login(user, device, token, new)

        return await self._db.write(login)

    def _add_device(self, conn: Connection, user_id: str, name: str, token: str, now: float) -> Device:
        device_id = ids.new_id("d")
        q.insert_device(conn, device_id, user_id, name[:64], ids.hash_token(token), now)
        return Device(device_id, user_id, name[:64], now, None, None)

    async def create_user(self, raw_phone: str, name: str, device_name: str = "provisioned") -> Login:
        """Operator provisioning: an account and a device token, no SMS."""
        number = self.normalize(raw_phone)
        now = self._clock.now()
        token = ids.new_token()

        def op(conn: Connection) -> Login:
            if q.get_user_by_phone(conn, number) is not None:
                raise Conflict(f"{number} already has an account", code="user_exists")
            user_id = ids.new_id("u")
            q.insert_user(conn, user_id, number, name[:64], now)
            user = q.get_user(conn, user_id)
            assert user is not None
            device = self._add_device(conn, user_id, device_name, token, now)
            return Login(user, device, token, True)

        return await self._db.write(op)

    async def create_users(
        self, rows: list[tuple[str, str]], device_name: str = "provisioned", batch: int = 500
    ) -> list[Login | ClientError]:
        """Operator provisioning of many accounts: for each (phone, name), a Login or the error that row met
        (an invalid number, a number that has an account or appears earlier in `rows`). One write per
        `batch` rows; a bad row does not stop the others."""
        results: list[Login | ClientError | None] = [None] * len(rows)
        todo: list[tuple[int, str, str]] = []
        seen: set[str] = set()
        for i, (raw, name) in enumerate(rows):
            try:
                number = self.normalize(raw)
            except ClientError as exc:
                results[i] = exc
                continue
            if number in seen:
                results[i] = Conflict(f"{number} appears more than once", code="user_exists")
                continue
            seen.add(number)
            todo.append((i, number, name))
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            now = self._clock.now()

            def op(
                conn: Connection, chunk: list[tuple[int, str, str]] = chunk, now: float = now
            ) -> list[tuple[int, Login | None]]:
                out: list[tuple[int, Login | None]] = []
                for i, number, name in chunk:
                    if q.get_user_by_phone(conn, number) is not None:
                        out.append((i, None))
                        continue
                    user_id, token = ids.new_id("u"), ids.new_token()
                    q.insert_user(conn, user_id, number, name[:64], now)
                    user = User(user_id, number, name[:64], "", now, True, "contacts", None)
                    out.append((i, Login(user, self._add_device(conn, user_id, device_name, token, now), token, True)))
                return out

            for i, login in await self._db.write(op):
                results[i] = login or Conflict(f"{rows[i][0].strip()} already has an account", code="user_exists")
        done = [r for r in results if r is not None]
        assert len(done) == len(rows)
        return done

    # -- tokens and devices -----------------------------------------------------------------------------------

    async def authenticate(self, token: str) -> Principal:
        if not token:
            raise Unauthorized("missing token")
        found = await self._db.read(lambda c: q.device_and_status_by_token_hash(c, ids.hash_token(token)))
        if found is None:
            raise Unauthorized("unknown token")
        device, status = found
        if device.revoked_at is not None:
            raise ClientError("this device was logged out", code="device_revoked", status=401)
        if status == "suspended":
            raise ClientError("this account is suspended", code="account_suspended", status=403)
        return Principal(device.user_id, device.id)

    def touch(self, device_id: str) -> None:
        """Record that the device was just active (shown in the device list). Written within a second, together
        with every other device that connected meanwhile: a storm of reconnects is then one write, not one
        write per connection."""
        self._touched[device_id] = self._clock.now()
        if self._touch_timer is None:
            self._touch_timer = asyncio.get_running_loop().call_later(TOUCH_DELAY, self._flush_touches_later)

    def _flush_touches_later(self) -> None:
        self._touch_timer = None
        task = asyncio.get_running_loop().create_task(self._write_touches())
        self._touch_tasks.add(task)
        task.add_done_callback(self._touch_tasks.discard)

    async def _write_touches(self) -> None:
        touched, self._touched = self._touched, {}
        if touched:
            await self._db.write(lambda c: q.touch_devices(c, touched))

    async def flush_touches(self) -> None:
        """Write the pending `touch`es now and wait for those already being written (on the way down)."""
        if self._touch_timer is not None:
            self._touch_timer.cancel()
            self._touch_timer = None
        await self._write_touches()
        if self._touch_tasks:
            await asyncio.gather(*self._touch_tasks, return_exceptions=True)

    async def devices(self, user_id: str) -> list[Device]:
        return await self._db.read(lambda c: q.active_devices(c, user_id))

    async def revoke_any(self, device_id: str) -> str:
        """An operator logs a device out, whoever's it is; returns its user."""
        now = self._clock.now()
        user_id = await self._db.write(lambda c: q.revoke_device_by_id(c, device_id, now))
        if user_id is None:
            raise NotFound("no such active device")
        await self._bus.publish(f"user:{user_id}", {"t": "revoked", "d": device_id})
        return user_id

    async def revoke(self, user_id: str, device_id: str) -> None:
        now = self._clock.now()
        if not await self._db.write(lambda c: q.revoke_device(c, user_id, device_id, now)):
            raise NotFound("no such device")
        await self._bus.publish(f"user:{user_id}", {"t": "revoked", "d": device_id})

    # -- profile and privacy ----------------------------------------------------------------------------------

    async def get_user(self, user_id: str) -> User:
        user = await self._db.read(lambda c: q.get_user(c, user_id))
        if user is None:
            raise NotFound("no such user")
        return user

    async def profile_for(self, viewer_id: str, user_id: str) -> Profile:
        """A user's profile as `viewer_id` may see it (services/visibility.py: the phone number only where its
        owner chose to show it, nothing of it to someone they blocked)."""

        def op(conn: Connection) -> Profile | None:
            found = q.get_users(conn, [viewer_id, user_id])
            if user_id not in found or viewer_id not in found or found[user_id].status == q.DELETED:
                return None
            return profiles_for(conn, found[viewer_id], [found[user_id]])[user_id]

        profile = await self._db.read(op)
        if profile is None:
            raise NotFound("no such user")
        return profile

    async def update_profile(
        self, user_id: str, display_name: str | None, about: str | None, picture: str | None = None
    ) -> User:
        """Change what is given; `picture` is a media id of the user's own finished image, or "" to clear it."""
        values: dict[str, object] = {}
        if display_name is not None:
            if len(display_name) > 64:
                raise InvalidRequest("display name is at most 64 characters")
            values["display_name"] = display_name
        if about is not None:
            if len(about) > 140:
                raise InvalidRequest("about is at most 140 characters")
            values["about"] = about
        if picture is not None:
            values["picture"] = picture or None

        def op(conn: Connection) -> None:
            if picture:
                mq.check_picture(conn, user_id, picture)
            q.update_user(conn, user_id, **values)

        await self._db.write(op)
        user = await self.get_user(user_id)
        # Connected devices of this user keep the read-receipts setting in memory: tell them.
        await self._bus.publish(f"user:{user_id}", {"t": "settings", "rr": user.read_receipts})
        return user

    async def update_privacy(
        self,
        user_id: str,
        read_receipts: bool | None,
        last_seen: str | None,
        group_add: str | None = None,
        phone_privacy: str | None = None,
        group_invites: str | None = None,
    ) -> User:
        values: dict[str, object] = {}
        if phone_privacy is not None:
            if phone_privacy not in PRIVACY_LEVELS:
                raise InvalidRequest("phone is one of everyone, contacts, nobody")
            values["phone_privacy"] = phone_privacy
        if group_invites is not None:
            if group_invites not in ("everyone", "contacts"):
                raise InvalidRequest("group_invites is everyone or contacts")
            values["group_invites"] = group_invites
        if group_add is not None:
            if group_add not in PRIVACY_LEVELS:
                raise InvalidRequest("group_add is one of everyone, contacts, nobody")
            values["group_add_privacy"] = group_add
        if read_receipts is not None:
            values["read_receipts"] = bool(read_receipts)
        if last_seen is not None:
            if last_seen not in PRIVACY_LEVELS:
                raise InvalidRequest("last_seen is one of everyone, contacts, nobody")
            values["last_seen_privacy"] = last_seen
        await self._db.write(lambda c: q.update_user(c, user_id, **values))
        user = await self.get_user(user_id)
        # Connected devices of this user keep the read-receipts setting in memory: tell them.
        await self._bus.publish(f"user:{user_id}", {"t": "settings", "rr": user.read_receipts})
        return user
