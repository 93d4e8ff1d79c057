"""Deleting an account: what goes, what stays with others, and in which order (docs/protocol.md section 3.4a).

What goes: the profile (name, about, number), every device (tokens refused from then on, live connections
closed with 4401 `device_revoked`), the address book, blocks both ways, broadcast lists, join requests,
pending invitations sent and received, the inbox, counters, and every media the user uploaded that no
message refers to. Group memberships end as if the user had left (the `left` system message, ownership
handed on). What stays: messages already sent, with their recipients (and the media they carry), as on
WhatsApp; the user id, as their sender, shown with an empty name and no number; reports, for moderation.
The number is free: it can sign up again as a new account with nothing of the old one.

Order: the group leaves and media deletes go first, one by one through their services, while the account
still exists, so an interrupted deletion can simply be run again; the rest is one transaction, and the
devices' connections are closed after it commits.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from hudhud.bus import Bus
from hudhud.clock import Clock
from hudhud.errors import ClientError, NotFound
from hudhud.services.groups import GroupService
from hudhud.services.media import MediaService
from hudhud.store import accounts as q
from hudhud.store import media as mq
from hudhud.store.db import Database

log = logging.getLogger("hudhud.accounts")


@dataclass(frozen=True)
class Deletion:
    user_id: str
    groups_left: int
    media_deleted: int
    media_kept: int  # sent in messages: they stay with the conversations
    devices_revoked: int


class AccountDeletion:
    def __init__(self, db: Database, bus: Bus, clock: Clock, groups: GroupService, media: MediaService) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._groups = groups
        self._media = media

    async def delete(self, user_id: str) -> Deletion:
        if await self._db.read(lambda c: q.get_user(c, user_id)) is None:
            raise NotFound("no such user")
        groups = await self._db.read(lambda c: q.current_groups(c, user_id))
        for conv_id in groups:
            with contextlib.suppress(ClientError):  # left or removed meanwhile
                await self._groups.leave(user_id, conv_id)
        deleted = kept = 0
        for media_id in await self._db.read(lambda c: mq.owned(c, user_id)):
            try:
                await self._media.delete(user_id, media_id)
                deleted += 1
            except ClientError:  # referenced by a message, or gone meanwhile
                kept += 1
        now = self._clock.now()
        devices = await self._db.write(lambda c: q.erase_user(c, user_id, now))
        for device_id in devices:
            await self._bus.publish(f"user:{user_id}", {"t": "revoked", "d": device_id})
        log.info("account %s deleted: %d groups left, %d media deleted", user_id, len(groups), deleted)
        return Deletion(user_id, len(groups), deleted, kept, len(devices))
