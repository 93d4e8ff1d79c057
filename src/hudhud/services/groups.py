"""Groups with consent.

Every change to a group is one write that also appends a system message to the group, so members see changes
in sequence order and catch up on them like on any message. Nobody is put into a group against their setting
"who can add me" (everyone, my contacts, nobody; default my contacts): when an admin may not add someone, that
person gets a private invitation in their inbox instead, valid for 72 hours. Someone who has blocked the admin
gets nothing at all, and the admin is told the same as for an invitation, so the block stays silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from hudhud import ids
from hudhud.bus import Bus
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ClientError, InvalidRequest, NotFound, NotMember
from hudhud.services.safety import spend_stranger_budget
from hudhud.services.visibility import Profile, profiles_for
from hudhud.store import accounts as aq
from hudhud.store import groups as gq
from hudhud.store import messages as q
from hudhud.store import relations as rq
from hudhud.store.db import Database
from hudhud.store.records import Conversation, Member, User

# (user to notify, conversation, seq): a doorbell to ring after the commit.
Bells = list[tuple[str, str, int]]

ADMIN_ROLES = ("owner", "admin")


def err(code: str, message: str, status: int) -> ClientError:
    return ClientError(message, code=code, status=status)


@dataclass(frozen=True)
class AddResult:
    conversation_id: str
    added: list[str]
    invited: list[str]


@dataclass(frozen=True)
class GroupView:
    conversation: Conversation
    members: list[tuple[Member, Profile]]  # each as the viewer may see them (services/visibility.py)


class GroupService:
    def __init__(self, db: Database, bus: Bus, clock: Clock, settings: Settings) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._s = settings

    async def ring(self, bells: Bells) -> None:
        for user_id, conv_id, seq in bells:
            await self._bus.publish(f"user:{user_id}", {"t": "msg", "c": conv_id, "s": seq})

    # -- helpers run inside write operations ------------------------------------------------------------------

    def _group(
        self, conn: Connection, conv_id: str, user_id: str, *, admin: bool = False
    ) -> tuple[Conversation, Member]:
        conv = q.get_conversation(conn, conv_id)
        member = q.get_member(conn, conv_id, user_id) if conv else None
        if conv is None or conv.kind != "group" or member is None or member.left_seq is not None:
            raise NotMember("you are not a member of this group")
        if admin and member.role not in ADMIN_ROLES:
            raise err("not_admin", "only group admins can do this", 403)
        return conv, member

    def _room_for(self, current: int, adding: int) -> None:
        if current + adding > self._s.max_group_size:
            raise err("group_full", f"a group has at most {self._s.max_group_size} members", 409)

    def _target(self, conn: Connection, conv_id: str, user_id: str, target_id: str, owner_message: str) -> Member:
        """The member an admin acts on (not the owner)."""
        self._group(conn, conv_id, user_id, admin=True)
        target = q.get_member(conn, conv_id, target_id)
        if target is None or target.left_seq is not None:
            raise NotFound("not a member of this group")
        if target.role == "owner":
            raise err("not_admin", owner_message, 403)
        return target

    def _audience(self, conn: Connection, conv_id: str, seq: int, extra: tuple[str, ...] = ()) -> Bells:
        users = set(q.active_member_ids(conn, conv_id)) | set(extra)
        return [(u, conv_id, seq) for u in sorted(users)]

    def _decide(
        self, conn: Connection, actor: User, target_ids: list[str]
    ) -> tuple[list[str], list[str], list[str], int]:
        """Split targets into (add directly, invite, silently leave out), and count the strangers among the
        invited and the left out: people who do not have the actor's number, whom the actor may reach only within
        the daily limit of new contacts with strangers.

        Left out, and reported to the actor exactly as if invited: those who blocked the actor, and those who
        take invitations from their contacts only and do not have the actor's number."""
        add, invite, silent = [], [], []
        strangers = 0
        users = aq.get_users(conn, target_ids)
        blockers = gq.who_blocked(conn, target_ids, actor.id)
        have_actor = rq.owners_with_number(conn, target_ids, actor.phone)
        for uid in target_ids:
            target = users.get(uid)
            if target is None:
                raise NotFound(f"no such user {uid}")
            saved = uid in have_actor
            if uid in blockers:
                silent.append(uid)
            elif target.group_add_privacy == "everyone" or (target.group_add_privacy == "contacts" and saved):
                add.append(uid)
                continue
            elif target.group_invites == "contacts" and not saved:
                silent.append(uid)
            else:
                invite.append(uid)
            strangers += not saved
        return add, invite, silent, strangers

    def _add_people(
        self, conn: Connection, conv: Conversation, actor: User, targets: list[str], now: float, charged: bool = False
    ) -> tuple[AddResult, Bells]:
        """Add or invite `targets`. Every check comes before the first write (a failed operation's writes are not
        undone, see store/db.py); `charged`: the caller has already spent the stranger budget for them."""
        targets = list(dict.fromkeys(t for t in targets if t != actor.id))
        current = set(q.active_member_ids(conn, conv.id))
        already = [t for t in targets if t in current]
        if already and len(already) == len(targets):
            raise err("already_member", "already in the group", 409)
        targets = [t for t in targets if t not in current]
        add, invite, silent, strangers = self._decide(conn, actor, targets)
        self._room_for(len(current), len(add))
        if strangers and not charged:
            # Invitations are messages to strangers' inboxes: they share the daily limit of new chats (10.2).
            spend_stranger_budget(conn, actor, now, self._s, strangers)
        bells: Bells = []
        if add:
            seq = gq.append_system(conn, conv.id, actor.id, "added", now, users=add)
            for uid in add:
                gq.join(conn, conv.id, uid, seq, added_by=actor.id)
            bells += self._audience(conn, conv.id, seq)
        for uid in invite:
            inv_id = ids.new_id("i")
            expires = now + self._s.invitation_ttl
            gq.add_invitation(conn, inv_id, conv.id, actor.id, uid, now, expires)
            inbox = gq.ensure_inbox(conn, uid, ids.new_id("c"), now)
            seq = gq.append_system(
                conn,
                inbox,
                actor.id,
                "invitation",
                now,
                invitation_id=inv_id,
                conversation_id=conv.id,
                subject=conv.subject,
                expires_at=expires,
            )
            bells.append((uid, inbox, seq))
        # Those left out are reported as invited: the actor must not learn of a block or a setting.
        return AddResult(conv.id, add, invite + silent), bells

    # -- operations -------------------------------------------------------------------------------------------

    async def create(self, user_id: str, subject: str, description: str, member_ids: list[str]) -> AddResult:
        subject = _check_text(subject, "subject", 100, required=True)
        description = _check_text(description, "description", 512)
        self._room_for(0, len(member_ids))
        conv_id = ids.new_id("c")
        now = self._clock.now()

        def op(conn: Connection) -> tuple[AddResult, Bells]:
            actor = aq.get_user(conn, user_id)
            assert actor is not None
            targets = [t for t in dict.fromkeys(member_ids) if t != user_id]
            # Every check before anything is written: the ids, the size, the daily limit.
            add, _, _, strangers = self._decide(conn, actor, targets)
            self._room_for(1, len(add))
            if strangers:
                spend_stranger_budget(conn, actor, now, self._s, strangers)
            gq.create_group(conn, conv_id, user_id, subject, description, now)
            seq = gq.append_system(conn, conv_id, user_id, "created", now, subject=subject)
            bells = [(user_id, conv_id, seq)]
            conv = q.get_conversation(conn, conv_id)
            assert conv is not None
            if not targets:
                return AddResult(conv_id, [], []), bells
            result, more = self._add_people(conn, conv, actor, targets, now, charged=True)
            return result, bells + more

        result, bells = await self._db.write(op)
        await self.ring(bells)
        return result

    async def add_members(self, user_id: str, conv_id: str, member_ids: list[str]) -> AddResult:
        if not member_ids:
            raise InvalidRequest("name at least one user")
        now = self._clock.now()

        def op(conn: Connection) -> tuple[AddResult, Bells]:
            conv, _ = self._group(conn, conv_id, user_id, admin=True)
            actor = aq.get_user(conn, user_id)
            assert actor is not None
            return self._add_people(conn, conv, actor, member_ids, now)

        result, bells = await self._db.write(op)
        await self.ring(bells)
        return result

    async def remove_member(self, user_id: str, conv_id: str, target_id: str) -> None:
        now = self._clock.now()

        def op(conn: Connection) -> Bells:
            self._target(conn, conv_id, user_id, target_id, "the owner cannot be removed")
            seq = gq.append_system(conn, conv_id, user_id, "removed", now, users=[target_id])
            bells = self._audience(conn, conv_id, seq)
            gq.leave(conn, conv_id, target_id, seq)  # they see their own removal, nothing after
            return bells

        await self.ring(await self._db.write(op))

    async def leave(self, user_id: str, conv_id: str) -> None:
        now = self._clock.now()

        def op(conn: Connection) -> Bells:
            _, member = self._group(conn, conv_id, user_id)
            new_owner = None
            if member.role == "owner":
                rest = [m for m in q.list_members(conn, conv_id) if m.left_seq is None and m.user_id != user_id]
                rest.sort(key=lambda m: (m.role not in ADMIN_ROLES, m.joined_seq, m.user_id))
                if rest:
                    new_owner = rest[0].user_id
            fields: dict[str, Any] = {"users": [user_id]}
            if new_owner:
                fields["new_owner"] = new_owner
            seq = gq.append_system(conn, conv_id, user_id, "left", now, **fields)
            bells = self._audience(conn, conv_id, seq)
            gq.leave(conn, conv_id, user_id, seq)
            if new_owner:
                gq.set_role(conn, conv_id, new_owner, "owner")
            return bells

        await self.ring(await self._db.write(op))

    async def set_role(self, user_id: str, conv_id: str, target_id: str, role: str) -> None:
        now = self._clock.now()

        def op(conn: Connection) -> Bells:
            target = self._target(conn, conv_id, user_id, target_id, "the owner's role cannot be changed")
            if target.role == role:
                return []
            seq = gq.append_system(
                conn, conv_id, user_id, "promoted" if role == "admin" else "demoted", now, users=[target_id]
            )
            gq.set_role(conn, conv_id, target_id, role)
            return self._audience(conn, conv_id, seq)

        await self.ring(await self._db.write(op))

    async def update_info(self, user_id: str, conv_id: str, subject: str | None, description: str | None) -> None:
        values: dict[str, Any] = {}
        if subject is not None:
            values["subject"] = _check_text(subject, "subject", 100, required=True)
        if description is not None:
            values["description"] = _check_text(description, "description", 512)
        if not values:
            return
        now = self._clock.now()

        def op(conn: Connection) -> Bells:
            conv, member = self._group(conn, conv_id, user_id)
            if conv.only_admins_edit and member.role not in ADMIN_ROLES:
                raise err("not_admin", "only admins can edit this group's info", 403)
            gq.update_group(conn, conv_id, **values)
            seq = gq.append_system(conn, conv_id, user_id, "info_changed", now, **values)
            return self._audience(conn, conv_id, seq)

        await self.ring(await self._db.write(op))

    async def update_settings(self, user_id: str, conv_id: str, settings: dict[str, bool]) -> None:
        allowed = {"only_admins_send", "only_admins_edit", "approve_joins"}
        values = {k: bool(v) for k, v in settings.items() if k in allowed and v is not None}
        if not values:
            return
        now = self._clock.now()

        def op(conn: Connection) -> Bells:
            self._group(conn, conv_id, user_id, admin=True)
            gq.update_group(conn, conv_id, **values)
            seq = gq.append_system(conn, conv_id, user_id, "settings_changed", now, **values)
            return self._audience(conn, conv_id, seq)

        await self.ring(await self._db.write(op))

    async def view(self, user_id: str, conv_id: str) -> GroupView:
        def op(conn: Connection) -> GroupView:
            conv = q.get_conversation(conn, conv_id)
            me = q.get_member(conn, conv_id, user_id) if conv else None
            if conv is None or conv.kind != "group" or me is None or me.left_seq is not None:
                raise NotMember("you are not a member of this group")
            ms = [m for m in q.list_members(conn, conv_id) if m.left_seq is None]
            users = aq.get_users(conn, [m.user_id for m in ms])
            profiles = profiles_for(conn, users[user_id], users.values())
            ms.sort(key=lambda m: (m.role != "owner", m.role != "admin", m.joined_seq, m.user_id))
            return GroupView(conv, [(m, profiles[m.user_id]) for m in ms])

        return await self._db.read(op)

    # -- invitations ------------------------------------------------------------------------------------------

    async def invitations(self, user_id: str) -> list[dict[str, Any]]:
        now = self._clock.now()
        rows = await self._db.read(lambda c: gq.pending_invitations(c, user_id, now))
        return [
            {
                "invitation_id": r.id,
                "conversation_id": r.conversation_id,
                "subject": r.subject,
                "inviter_id": r.inviter_id,
                "created_at": r.created_at,
                "expires_at": r.expires_at,
            }
            for r in rows
        ]

    async def answer_invitation(self, user_id: str, inv_id: str, accept: bool) -> str:
        now = self._clock.now()

        def op(conn: Connection) -> tuple[str, Bells]:
            inv = gq.get_invitation(conn, inv_id)
            if inv is None or inv.invitee_id != user_id or inv.status != "pending" or inv.expires_at <= now:
                raise err("invitation_invalid", "no such invitation, or it has expired", 404)
            if not accept:
                gq.set_invitation_status(conn, inv_id, "declined")
                return inv.conversation_id, []
            conv = q.get_conversation(conn, inv.conversation_id)
            assert conv is not None
            if user_id in q.active_member_ids(conn, conv.id):
                gq.set_invitation_status(conn, inv_id, "accepted")
                return conv.id, []
            self._room_for(gq.active_count(conn, conv.id), 1)
            gq.set_invitation_status(conn, inv_id, "accepted")
            seq = gq.append_system(
                conn, conv.id, user_id, "joined", now, users=[user_id], via="invitation", invited_by=inv.inviter_id
            )
            gq.join(conn, conv.id, user_id, seq)
            return conv.id, self._audience(conn, conv.id, seq)

        conv_id, bells = await self._db.write(op)
        await self.ring(bells)
        return conv_id

    # -- invite links and join requests -----------------------------------------------------------------------

    async def create_link(
        self, user_id: str, conv_id: str, expires_in: float | None, max_uses: int | None
    ) -> dict[str, Any]:
        if expires_in is not None and expires_in <= 0:
            raise InvalidRequest("expires_in must be positive")
        if max_uses is not None and max_uses <= 0:
            raise InvalidRequest("max_uses must be positive")
        now = self._clock.now()
        code = ids.new_id("", 16)
        expires_at = now + expires_in if expires_in else None

        def op(conn: Connection) -> None:
            self._group(conn, conv_id, user_id, admin=True)
            gq.add_link(conn, code, conv_id, user_id, now, expires_at, max_uses)

        await self._db.write(op)
        return {"code": code, "conversation_id": conv_id, "expires_at": expires_at, "max_uses": max_uses, "uses": 0}

    async def links(self, user_id: str, conv_id: str) -> list[dict[str, Any]]:
        def op(conn: Connection) -> list[Any]:
            self._group(conn, conv_id, user_id, admin=True)
            return gq.list_links(conn, conv_id)

        return [
            {
                "code": r.code,
                "conversation_id": r.conversation_id,
                "expires_at": r.expires_at,
                "max_uses": r.max_uses,
                "uses": r.uses,
            }
            for r in await self._db.read(op)
        ]

    async def revoke_link(self, user_id: str, conv_id: str, code: str) -> None:
        now = self._clock.now()

        def op(conn: Connection) -> None:
            self._group(conn, conv_id, user_id, admin=True)
            if not gq.revoke_link(conn, conv_id, code, now):
                raise err("link_invalid", "no such link", 404)

        await self._db.write(op)

    async def join_by_link(self, user_id: str, code: str) -> tuple[str, str]:
        """Returns (conversation id, "joined" or "requested")."""
        now = self._clock.now()

        def op(conn: Connection) -> tuple[str, str, Bells]:
            link = gq.get_link(conn, code) if isinstance(code, str) and len(code) <= 32 else None
            if (
                link is None
                or link.revoked_at is not None
                or (link.expires_at and link.expires_at <= now)
                or (link.max_uses is not None and link.uses >= link.max_uses)
            ):
                raise err("link_invalid", "this invite link is not valid (revoked, expired or used up)", 404)
            conv = q.get_conversation(conn, link.conversation_id)
            assert conv is not None
            if user_id in q.active_member_ids(conn, conv.id):
                raise err("already_member", "already in the group", 409)
            self._room_for(gq.active_count(conn, conv.id), 1)
            if conv.approve_joins:
                if gq.add_request(conn, conv.id, user_id, code, now):
                    gq.use_link(conn, code)  # asking again does not spend the link again
                return conv.id, "requested", []
            gq.use_link(conn, code)
            seq = gq.append_system(conn, conv.id, user_id, "joined", now, users=[user_id], via="link")
            gq.join(conn, conv.id, user_id, seq)
            return conv.id, "joined", self._audience(conn, conv.id, seq)

        conv_id, status, bells = await self._db.write(op)
        await self.ring(bells)
        return conv_id, status

    async def requests(self, user_id: str, conv_id: str) -> list[dict[str, Any]]:
        def op(conn: Connection) -> list[Any]:
            self._group(conn, conv_id, user_id, admin=True)
            return gq.list_requests(conn, conv_id)

        return [{"user_id": r.user_id, "created_at": r.created_at} for r in await self._db.read(op)]

    async def answer_request(self, user_id: str, conv_id: str, requester: str, approve: bool) -> None:
        now = self._clock.now()

        def op(conn: Connection) -> Bells:
            self._group(conn, conv_id, user_id, admin=True)
            if requester in q.active_member_ids(conn, conv_id):
                gq.take_request(conn, conv_id, requester)
                return []
            if approve:
                self._room_for(gq.active_count(conn, conv_id), 1)
            if not gq.take_request(conn, conv_id, requester):
                raise NotFound("no such request")
            if not approve:
                return []
            seq = gq.append_system(
                conn, conv_id, user_id, "joined", now, users=[requester], via="link", approved_by=user_id
            )
            gq.join(conn, conv_id, requester, seq)
            return self._audience(conn, conv_id, seq)

        await self.ring(await self._db.write(op))


def _check_text(value: Any, name: str, limit: int, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise InvalidRequest(f"{name} is {'a non-empty' if required else 'a'} text of at most {limit} characters")
    return value
