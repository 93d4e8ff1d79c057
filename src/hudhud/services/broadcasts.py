"""Broadcast lists: named lists of a user's contacts. Sending to a list is MessagingService.broadcast."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from hudhud import ids
from hudhud.clock import Clock
from hudhud.errors import InvalidRequest, NotFound
from hudhud.store import accounts as aq
from hudhud.store import groups as gq
from hudhud.store.db import Database

MAX_RECIPIENTS = 256


class BroadcastService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @staticmethod
    def _check(conn: Connection, owner: str, members: list[str]) -> list[str]:
        members = list(dict.fromkeys(m for m in members if m != owner))
        if len(members) > MAX_RECIPIENTS:
            raise InvalidRequest(f"a broadcast list has at most {MAX_RECIPIENTS} recipients")
        known = aq.get_users(conn, members)
        missing = [m for m in members if m not in known]
        if missing:
            raise NotFound(f"no such user {missing[0]}")
        return members

    async def create(self, owner: str, name: str, members: list[str]) -> dict[str, Any]:
        if not name.strip():
            raise InvalidRequest("a broadcast list needs a name")
        list_id = ids.new_id("b")
        now = self._clock.now()

        def op(conn: Connection) -> list[str]:
            checked = self._check(conn, owner, members)
            gq.add_broadcast_list(conn, list_id, owner, name, checked, now)
            return checked

        checked = await self._db.write(op)
        return {"list_id": list_id, "name": name, "members": checked}

    async def lists(self, owner: str) -> list[dict[str, Any]]:
        rows = await self._db.read(lambda c: gq.broadcast_lists_of(c, owner))
        return [{"list_id": r.id, "name": r.name, "members": ms} for r, ms in rows]

    async def set_members(self, owner: str, list_id: str, members: list[str]) -> None:
        def op(conn: Connection) -> None:
            row = gq.get_broadcast_list(conn, list_id)
            if row is None or row.owner_id != owner:
                raise NotFound("no such broadcast list")
            gq.set_broadcast_members(conn, list_id, self._check(conn, owner, members))

        await self._db.write(op)

    async def delete(self, owner: str, list_id: str) -> None:
        def op(conn: Connection) -> None:
            row = gq.get_broadcast_list(conn, list_id)
            if row is None or row.owner_id != owner:
                raise NotFound("no such broadcast list")
            gq.delete_broadcast_list(conn, list_id)

        await self._db.write(op)
