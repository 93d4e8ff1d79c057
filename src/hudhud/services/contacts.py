"""The address book each user keeps on the server, and discovery under daily budgets.

Discovery answers only for numbers the user submits, and every newly submitted number spends the day's budgets,
so harvesting accounts by walking the number space stops at a budget:

- per account (`discovery_daily_budget`), and per client address (`discovery_daily_budget_per_address`), so that
  many accounts made from one address share one budget rather than each bringing a fresh one;
- a number costs `discovery_unknown_cost` units unless the user has a chat with its owner in which either of
  them wrote (then 1): looking up people you already talk to is cheap, walking a bought list is not. The cost
  does not depend on whether the number has an account, so the budget left tells nothing about that;
- the whole service's lookups are counted per hour, and operators are warned (log and `/metrics`) when they pass
  `discovery_alarm_per_hour`.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from sqlalchemy import Connection

from hudhud import phone
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ClientError, InvalidPhone, InvalidRequest, NotFound
from hudhud.services.safety import day_of
from hudhud.services.visibility import blockers_among
from hudhud.store import accounts as q
from hudhud.store import relations as rq
from hudhud.store.db import Database
from hudhud.store.records import Contact

MAX_BATCH = 1000
SERVICE_SCOPE = "all"

log = logging.getLogger("hudhud.contacts")


def hour_of(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H")


class ContactService:
    def __init__(self, db: Database, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._clock = clock
        self._s = settings
        # For /metrics: units of discovery spent on this node, and hours in which the service-wide alarm fired.
        self.discovery_units_total = 0
        self.discovery_alarms_total = 0
        self._alarmed_hour = ""

    def _day(self) -> str:
        return day_of(self._clock.now())

    async def add(self, owner_id: str, entries: list[tuple[str, str]], client_address: str = "") -> list[Contact]:
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
        day, hour = day_of(now), hour_of(now)
        s = self._s
        address_scope = f"addr:{client_address[:64]}" if client_address else ""

        def refuse(budget: int, per: str) -> ClientError:
            return ClientError(
                f"daily contact discovery budget reached ({budget} a day {per}); try tomorrow",
                code="discovery_budget_exceeded",
                status=429,
                retry_after=86400 - now % 86400,
            )

        def op(conn: Connection) -> tuple[int, int]:
            known = q.contact_phones(conn, owner_id, list(book))
            new = [n for n in book if n not in known]
            partners = rq.chat_partners(conn, owner_id, new)
            cost = sum(1 if n in partners else s.discovery_unknown_cost for n in new)
            if cost:
                if q.discovery_used(conn, owner_id, day) + cost > s.discovery_daily_budget:
                    raise refuse(s.discovery_daily_budget, "per account")
                if address_scope and (
                    rq.discovery_used(conn, address_scope, day) + cost > s.discovery_daily_budget_per_address
                ):
                    raise refuse(s.discovery_daily_budget_per_address, "per client address")
            q.upsert_contacts(conn, owner_id, book, now)
            if not cost:
                return 0, 0
            q.add_discovery_use(conn, owner_id, day, cost)
            if address_scope:
                rq.add_discovery(conn, address_scope, day, cost)
            rq.add_discovery(conn, SERVICE_SCOPE, hour, cost)
            return cost, rq.discovery_used(conn, SERVICE_SCOPE, hour)

        cost, service_hour = await self._db.write(op)
        self.discovery_units_total += cost
        if service_hour > s.discovery_alarm_per_hour and self._alarmed_hour != hour:
            self._alarmed_hour = hour
            self.discovery_alarms_total += 1
            log.warning(
                "contact discovery spike: %d units this hour across the service (alarm at %d); last by user %s from %s",
                service_hour,
                s.discovery_alarm_per_hour,
                owner_id,
                client_address or "?",
            )
        return [c for c in await self.list(owner_id) if c.phone in book]

    async def list(self, owner_id: str) -> list[Contact]:
        """My address book, with each contact's account; someone who blocked me shows no name (visibility.py)."""

        def op(conn: Connection) -> list[Contact]:
            book = q.list_contacts(conn, owner_id)
            blockers = blockers_among(conn, owner_id, [c.user_id for c in book if c.user_id])
            return [replace(c, display_name="") if c.user_id in blockers else c for c in book]

        return await self._db.read(op)

    async def remove(self, owner_id: str, raw_phone: str) -> None:
        number = phone.normalize(raw_phone, self._s.default_region)
        if not await self._db.write(lambda c: q.delete_contact(c, owner_id, number)):
            raise NotFound("no such contact")

    async def budget_left(self, owner_id: str) -> int:
        day = self._day()
        used = await self._db.read(lambda c: q.discovery_used(c, owner_id, day))
        return max(0, self._s.discovery_daily_budget - used)
