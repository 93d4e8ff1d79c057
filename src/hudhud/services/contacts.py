"""The address book each user keeps on the server, and discovery under a daily budget.

Discovery answers only for numbers the user submits, and every newly submitted number spends one unit of the
day's budget, so harvesting accounts by walking the number space stops at the budget."""

from __future__ import annotations

from sqlalchemy import Connection

from hudhud import phone
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ClientError, InvalidPhone, InvalidRequest, NotFound
from hudhud.services.safety import day_of
from hudhud.store import accounts as q
from hudhud.store.db import Database
from hudhud.store.records import Contact

MAX_BATCH = 1000


class ContactService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._s = settings

    def _day(self) -> str:
        return day_of(self._clock.now())

    async def add(self, owner_id: str, entries: list[tuple[str, str]]) -> list[Contact]:
        """Add or rename contacts. Returns the submitted contacts, each with its account if it has one."""
        if len(entries) > MAX_BATCH:
            raise InvalidRequest(f"at most {MAX_BATCH} contacts per request")
        book: dict[str, str] = {}
        for raw, name in entries:
            try:
                number = phone.normalize(raw, self._s.default_region)
            except InvalidPhone as exc:
                raise InvalidPhone(f"{raw!r}: {exc.message}") from None
            book[number] = (name or "")[:64]
        now = self._clock.now()
        day = self._day()
        budget = self._s.discovery_daily_budget

        def op(conn: Connection) -> None:
            known = q.contact_phones(conn, owner_id, list(book))
            new = len(book) - len(known)
            used = q.discovery_used(conn, owner_id, day)
            if used + new > budget:
                raise ClientError(
                    f"daily contact discovery budget reached ({budget} new numbers a day); try tomorrow",
                    code="discovery_budget_exceeded",
                    status=429,
                    retry_after=86400 - now % 86400,
                )
            q.upsert_contacts(conn, owner_id, book, now)
            if new:
                q.add_discovery_use(conn, owner_id, day, new)

        await self._db.write(op)
        everyone = await self._db.read(lambda c: q.list_contacts(c, owner_id))
        return [c for c in everyone if c.phone in book]

    async def list(self, owner_id: str) -> list[Contact]:
        return await self._db.read(lambda c: q.list_contacts(c, owner_id))

    async def remove(self, owner_id: str, raw_phone: str) -> None:
        number = phone.normalize(raw_phone, self._s.default_region)
        if not await self._db.write(lambda c: q.delete_contact(c, owner_id, number)):
            raise NotFound("no such contact")

    async def budget_left(self, owner_id: str) -> int:
        day = self._day()
        used = await self._db.read(lambda c: q.discovery_used(c, owner_id, day))
        return max(0, self._s.discovery_daily_budget - used)
