"""Online status and last seen, with the privacy setting "who sees my last seen": everyone, my contacts, nobody.

The online registry (bus/online.py) counts connections per user, across processes when the bus is Redis; the
first connection on a process makes the user online and the last one to close there records last seen.
Watchers learn of changes by bus notices on `presence:<user id>` and ask again.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from hudhud.bus import Bus
from hudhud.bus.online import LocalOnline, OnlineRegistry
from hudhud.clock import Clock
from hudhud.store import accounts as aq
from hudhud.store import groups as gq
from hudhud.store.db import Database


@dataclass(frozen=True)
class PresenceView:
    user_id: str
    status: str  # online | offline | hidden
    last_seen: float | None


class PresenceService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, online: OnlineRegistry | None = None) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self.online = online or LocalOnline()

    async def connected(self, user_id: str) -> None:
        if await self.online.connected(user_id):
            await self._bus.publish(f"presence:{user_id}", {"t": "presence", "u": user_id})

    async def disconnected(self, user_id: str) -> None:
        if not await self.online.disconnected(user_id):
            return
        now = self._clock.now()
        await self._db.write(lambda c: aq.update_user(c, user_id, last_seen_at=now))
        await self._bus.publish(f"presence:{user_id}", {"t": "presence", "u": user_id})

    async def view(self, viewer_id: str, user_id: str) -> PresenceView:
        """What `viewer_id` may see of `user_id`'s presence."""

        online = await self.online.is_online(user_id)

        def op(conn: Connection) -> PresenceView:
            users = aq.get_users(conn, [viewer_id, user_id])
            target, viewer = users.get(user_id), users.get(viewer_id)
            if target is None or viewer is None:
                return PresenceView(user_id, "hidden", None)
            if viewer_id != user_id:
                if gq.is_blocked(conn, user_id, viewer_id):
                    return PresenceView(user_id, "hidden", None)
                setting = target.last_seen_privacy
                if setting == "nobody":
                    return PresenceView(user_id, "hidden", None)
                if setting == "contacts" and not aq.has_contact(conn, user_id, viewer.phone):
                    return PresenceView(user_id, "hidden", None)
            return PresenceView(user_id, "online" if online else "offline", None if online else target.last_seen_at)

        return await self._db.read(op)
