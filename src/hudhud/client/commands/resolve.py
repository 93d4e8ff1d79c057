"""Names and targets: what CHAT and WHO mean on the command line (a number, a contact, an id, a subject)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from hudhud.client.commands.common import DEFAULT_REGION, ID_RE, PHONE_RE, UserError
from hudhud.client.commands.render import clean, system_user_ids
from hudhud.client.sdk import (
    HudhudClient,
    HudhudClientError,
    ServerUnreachable,
)
from hudhud.client.state import CachedContact, Envelope


async def names_for(resolver: Names, messages: list[Envelope]) -> dict[str, str]:
    ids: set[str] = set()
    for m in messages:
        ids.add(m.sender_user_id)
        if m.system:
            ids |= system_user_ids(m.content)
    return {u: await resolver.get(u) for u in ids if u}


class Names:
    """user id → what to call them: my contact name, else their display name and number, else the id."""

    def __init__(self, client: HudhudClient) -> None:
        self.client = client
        self.me = client.user_id
        self._contacts = {c.user_id: c for c in client.store.contacts() if c.user_id}

    async def get(self, user_id: str) -> str:
        if user_id == self.me:
            return "You"
        contact = self._contacts.get(user_id)
        if contact is not None and contact.name:
            return clean(contact.name)
        cached = self.client.store.cached_user(user_id)
        if cached is None:
            try:
                user = await self.client.user(user_id)
            except HudhudClientError:
                return user_id
            cached = (str(user.get("phone") or ""), str(user.get("display_name") or ""))
        phone, display = cached
        if display:
            return f"~{clean(display)} ({phone})" if phone else f"~{clean(display)}"
        return phone or user_id


@dataclass(frozen=True)
class Target:
    """Where a message goes: a user (the server starts or reuses our one-to-one chat) or a conversation."""

    to_user: str | None = None
    conversation_id: str | None = None
    label: str = ""


def _normalize_phone(raw: str) -> str:
    from hudhud import phone

    try:
        return phone.normalize(raw, DEFAULT_REGION)
    except Exception:
        return raw.strip()


def _match_name(contacts: list[CachedContact], raw: str) -> list[CachedContact]:
    want = raw.casefold().strip()
    exact = [c for c in contacts if c.name.casefold() == want]
    if exact:
        return exact
    return [c for c in contacts if (c.display_name or "").casefold() == want]


async def resolve_target(client: HudhudClient, raw: str, *, groups: bool = True) -> Target:
    """TO/CHAT as typed: a user id (u…), a conversation id (c…), a phone number, a contact's name, or (with
    `groups`) a group's subject. Works offline for ids and for numbers and names already in the local contact
    cache; a contact's name wins over a group's subject."""
    raw = raw.strip()
    if ID_RE.fullmatch(raw):
        if raw[0] == "u":
            return Target(to_user=raw, label=raw)
        chat = client.store.cached_chat(raw)
        label = f"“{clean(chat[1])}”" if chat is not None and chat[1] else raw
        return Target(conversation_id=raw, label=label)
    store = client.store
    if PHONE_RE.fullmatch(raw):
        number = _normalize_phone(raw)
        cached = next((c for c in store.contacts() if c.phone == number), None)
        if cached is not None and cached.user_id:
            return Target(to_user=cached.user_id, label=cached.name or number)
        try:
            found = await client.add_contacts([(raw, cached.name if cached else "")])
        except ServerUnreachable as exc:
            raise UserError(
                f"{exc}; and {number} is not a known contact, so its account cannot be looked up offline"
            ) from None
        entry = found[0] if found else None
        if entry is None or not entry.get("user_id"):
            raise UserError(f"{entry['phone'] if entry else raw} is not on Hudhud")
        return Target(to_user=str(entry["user_id"]), label=entry.get("name") or str(entry["phone"]))
    matches = _match_name(store.contacts(), raw)
    if not matches:
        with contextlib.suppress(ServerUnreachable):
            matches = _match_name([_cached_from(c) for c in await client.contacts()], raw)
    if not matches and groups:
        found = await find_groups(client, raw)
        if len(found) > 1:
            listed = ", ".join(str(c["conversation_id"]) for c in found)
            raise UserError(f"several groups are called {raw!r} ({listed}); use the conversation id")
        if found:
            return Target(conversation_id=str(found[0]["conversation_id"]), label=f"“{clean(raw)}”")
    if not matches:
        also = " or group" if groups else ""
        raise UserError(f"no contact{also} called {raw!r}; add one with `hudhud contacts add PHONE NAME`")
    if len(matches) > 1:
        listed = ", ".join(c.phone for c in matches)
        raise UserError(f"{raw!r} matches several contacts ({listed}); use the phone number")
    contact = matches[0]
    if not contact.user_id:
        raise UserError(f"{contact.name} ({contact.phone}) is not on Hudhud")
    return Target(to_user=contact.user_id, label=contact.name)


def _cached_from(c: dict[str, Any]) -> CachedContact:
    return CachedContact(str(c["phone"]), str(c.get("name") or ""), c.get("user_id"), c.get("display_name"))


async def find_groups(client: HudhudClient, subject: str) -> list[dict[str, Any]]:
    """My groups whose subject is `subject` (ignoring case and surrounding spaces)."""
    want = subject.casefold().strip()
    try:
        convs = await client.conversations(subjects=True)
    except ServerUnreachable:
        return []
    return [c for c in convs if c.get("kind") == "group" and (c.get("subject") or "").casefold().strip() == want]


async def resolve_group(client: HudhudClient, raw: str) -> tuple[str, str]:
    """CHAT for the group commands: a conversation id or a group's subject. Returns (id, subject as typed or
    as known)."""
    raw = raw.strip()
    if ID_RE.fullmatch(raw):
        if raw[0] != "c":
            raise UserError(f"{raw} is a person, not a group; name the group by its subject or conversation id")
        cached = client.store.cached_chat(raw)
        return raw, (cached[1] if cached is not None and cached[1] else raw)
    found = await find_groups(client, raw)
    if len(found) > 1:
        listed = ", ".join(str(c["conversation_id"]) for c in found)
        raise UserError(f"several groups are called {raw!r} ({listed}); use the conversation id")
    if not found:
        raise UserError(f"you are in no group called {raw!r}; `hudhud chats` lists your chats")
    return str(found[0]["conversation_id"]), str(found[0].get("subject") or raw)


async def resolve_user(
    client: HudhudClient, raw: str, *, pool: list[dict[str, Any]] | None = None, discover: bool = True
) -> tuple[str, str]:
    """WHO as typed → (user id, label). A user id, a phone number, a contact's name, or the display name of
    someone in `pool` (dicts with user_id, display_name and maybe phone: a group's members, say). A number not
    seen before is looked up by adding it to the contacts (as `send` does) only with `discover`: blocking or
    reporting someone must not put them in my address book."""
    raw = raw.strip()
    pool = pool or []
    if ID_RE.fullmatch(raw):
        if raw[0] != "u":
            raise UserError(f"{raw} is a conversation, not a person")
        return raw, raw
    store = client.store
    if PHONE_RE.fullmatch(raw):
        number = _normalize_phone(raw)
        known = store.user_by_phone(number) or next((str(m["user_id"]) for m in pool if m.get("phone") == number), None)
        if known is None and not discover:
            with contextlib.suppress(ServerUnreachable):
                await client.conversations()  # the numbers of everyone I share a chat with
            known = store.user_by_phone(number)
            if known is None:
                raise UserError(f"{number} is not someone you have a chat with; give their user id instead")
        if known is not None:
            return known, number
        target = await resolve_target(client, raw, groups=False)
        assert target.to_user is not None
        return target.to_user, target.label
    want = raw.casefold()
    contacts = [c for c in _match_name(store.contacts(), raw) if c.user_id]
    if len(contacts) == 1 and contacts[0].user_id:
        return contacts[0].user_id, contacts[0].name
    members = [m for m in pool if str(m.get("display_name") or "").casefold().strip() == want]
    if len(members) == 1:
        return str(members[0]["user_id"]), clean(str(members[0].get("display_name")))
    if len(members) > 1 or len(contacts) > 1:
        raise UserError(f"{raw!r} matches several people; use the phone number or user id")
    target = await resolve_target(client, raw, groups=False)
    assert target.to_user is not None
    return target.to_user, target.label


async def resolve_conversation(client: HudhudClient, raw: str) -> tuple[str | None, Target]:
    """The conversation id for CHAT (None if we have never talked), and the target it resolved to. Unlike
    `send`, looking at a chat never adds the number to the contacts."""
    raw = raw.strip()
    if PHONE_RE.fullmatch(raw):
        number = _normalize_phone(raw)
        user_id = client.store.user_by_phone(number)
        if user_id is None:
            with contextlib.suppress(ServerUnreachable):
                await client.conversations()  # the numbers of everyone I share a chat with
            user_id = client.store.user_by_phone(number)
        if user_id is None:
            return None, Target(label=number)
        cached = next((c for c in client.store.contacts() if c.phone == number), None)
        raw_target = Target(to_user=user_id, label=cached.name if cached and cached.name else number)
        return await _direct_with(client, raw_target), raw_target
    target = await resolve_target(client, raw)
    if target.conversation_id is not None:
        return target.conversation_id, target
    return await _direct_with(client, target), target


async def _direct_with(client: HudhudClient, target: Target) -> str | None:
    for conv in await client.conversations():
        if conv.get("kind", "direct") == "direct" and any(
            m.get("user_id") == target.to_user for m in conv.get("members", [])
        ):
            return str(conv["conversation_id"])
    return None
