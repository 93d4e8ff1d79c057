"""The client side of the `hudhud` command: login, send, chats, history, listen, contacts, devices, privacy,
profile, edit, delete, react, group …, invitations, block, unblock, report, broadcast …, forward.

Every command is an `async def cmd_x(args) -> int` run by `hudhud.cli` with `asyncio.run`. State lives in the
profile directory (`--profile`, else $HUDHUD_PROFILE, else ~/.config/hudhud/default); the server URL comes
from `--server`, else $HUDHUD_SERVER, else the one stored at login, else http://127.0.0.1:8080.

CHAT is a phone number, a contact's name, a user id (u…: our direct chat), a conversation id (c…) or a group's
subject; WHO (a person) is a phone number, a contact's name or a user id, and in group commands also the
display name of a member (or of someone asking to join).

Output is meant for people: names instead of ids, local times, ticks on my own messages. Message text from
other people is printed with control characters escaped, so nobody can drive the terminal by sending escape
sequences.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import os
import re
import socket
import sys
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

from hudhud.client.media import describe_media
from hudhud.client.sdk import (
    ApiError,
    BroadcastSent,
    ConnState,
    Delivered,
    Event,
    HudhudClient,
    HudhudClientError,
    NotLoggedIn,
    SendFailed,
    SendRejected,
    Sent,
    ServerUnreachable,
    StateChanged,
    TicksChanged,
    TypingUpdate,
)
from hudhud.client.state import CachedContact, Envelope

Command = Callable[[argparse.Namespace], Awaitable[int]]

BLUE = "\033[34m"
RESET = "\033[0m"
# Public ids are a prefix letter and 16 Crockford base32 characters (see hudhud.ids).
ID_RE = re.compile(r"[uc][0-9abcdefghjkmnpqrstvwxyz]{16}")
PHONE_RE = re.compile(r"\+?[0-9][0-9 ()\-.]{4,}")
DEFAULT_REGION = "EG"


class UserError(Exception):
    """Something the user can fix; printed as `error: …` with exit code 1."""


# -- plumbing -------------------------------------------------------------------------------------------------


def _ensure_utf8(stream: TextIO) -> None:
    """Print Arabic (and emoji) even where the locale says ASCII, instead of dying on UnicodeEncodeError."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    reconfigure = getattr(stream, "reconfigure", None)
    if encoding != "utf8" and reconfigure is not None:
        with contextlib.suppress(Exception):
            reconfigure(encoding="utf-8", errors="replace")


def _out(*parts: Any, err: bool = False) -> None:
    print(*parts, file=sys.stderr if err else sys.stdout, flush=True)


def _server(args: argparse.Namespace) -> str | None:
    server: str | None = getattr(args, "server", None) or os.environ.get("HUDHUD_SERVER") or None
    return server


def _open(args: argparse.Namespace, **kwargs: Any) -> HudhudClient:
    return HudhudClient(getattr(args, "profile", None), server=_server(args), **kwargs)


def _use_color(args: argparse.Namespace) -> bool:
    choice = getattr(args, "color", "auto")
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _guarded(func: Command) -> Command:
    """Turn the errors a user can meet into one readable line and exit code 1 instead of a traceback."""

    @functools.wraps(func)
    async def run(args: argparse.Namespace) -> int:
        _ensure_utf8(sys.stdout)
        _ensure_utf8(sys.stderr)
        try:
            return await func(args)
        except NotLoggedIn as exc:
            _out(f"error: {exc}. Run `hudhud login --phone YOUR_NUMBER`.", err=True)
        except ApiError as exc:
            hint = f" (try again in {exc.retry_after:.0f} s)" if exc.retry_after else ""
            if exc.code == "device_revoked":
                hint = " — this device was logged out; run `hudhud login` again"
            _out(f"error: {exc.message} [{exc.code}]{hint}", err=True)
        except SendRejected as exc:
            _out(f"error: the server refused the message: {exc.message} [{exc.code}]", err=True)
        except (ServerUnreachable, UserError) as exc:
            _out(f"error: {exc}", err=True)
        return 1

    return run


def clean(text: str) -> str:
    """Escape control characters (except newline and tab) so message text cannot move the cursor, change
    colours or retitle the terminal."""
    return "".join(ch if ch in "\n\t" or unicodedata.category(ch) != "Cc" else f"\\x{ord(ch):02x}" for ch in text)


def when(ts: float) -> str:
    moment = dt.datetime.fromtimestamp(ts)
    if moment.date() == dt.date.today():
        return moment.strftime("%H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def tick(status: str, color: bool) -> str:
    """✓ sent, ✓✓ delivered, blue ✓✓ read, with the word too so it reads without colour."""
    if status == "read":
        mark = f"{BLUE}✓✓{RESET}" if color else "✓✓"
        return f"{mark} read"
    if status == "delivered":
        return "✓✓ delivered"
    if status == "queued":
        return "🕓 queued"
    return "✓ sent"


def describe(content: Any) -> str:
    """One line for any content kind, including ones this client does not know. (System messages need names:
    see `describe_system`.)"""
    if isinstance(content, str):
        return "[encrypted message]"
    if not isinstance(content, dict):
        return "[message]"
    kind = content.get("type")
    if kind == "text":
        text = clean(str(content.get("text", "")))
        reply = content.get("reply_to")
        return f"↪ #{reply} {text}" if isinstance(reply, int) else text
    if kind == "edit":
        return f"✎ edited #{content.get('target')}: {clean(str(content.get('text', '')))}"
    if kind == "delete":
        return f"🗑 deleted #{content.get('target')}"
    if kind == "reaction":
        emoji = clean(str(content.get("emoji") or ""))
        target = content.get("target")
        return f"reacted {emoji} to #{target}" if emoji else f"removed a reaction from #{target}"
    shown = describe_media(content, clean)  # pictures, voice notes, documents, locations, contact cards
    if shown is not None:
        return shown
    return f"[{clean(str(kind))}]"


SETTING_WORDS = {
    "only_admins_send": ("only admins can send messages", "all members can send messages"),
    "only_admins_edit": ("only admins can edit the group info", "all members can edit the group info"),
    "approve_joins": ("admins approve new members", "new members join without approval"),
}
NOTICES = "Hudhud notices"  # how the inbox (a conversation of server notices) is shown


def system_user_ids(content: Any) -> set[str]:
    """Every user a system message names (to look their names up before rendering it)."""
    if not isinstance(content, dict):
        return set()
    ids = {str(u) for u in content.get("users") or [] if isinstance(u, str)}
    for key in ("actor", "new_owner", "invited_by", "approved_by"):
        if isinstance(content.get(key), str):
            ids.add(content[key])
    return ids


def describe_system(content: Any, names: dict[str, str], me: str | None) -> str:
    """A system message as a sentence, e.g. "Amal added Badr", "you were removed by Amal"."""
    c = content if isinstance(content, dict) else {}

    def who(user_id: Any) -> str:
        if user_id == me:
            return "you"
        if not isinstance(user_id, str) or not user_id:
            return "someone"
        return names.get(user_id, user_id)

    users = [u for u in c.get("users") or [] if isinstance(u, str)]
    listed = _and([who(u) for u in users])
    actor = who(c.get("actor"))
    event = str(c.get("event") or "")
    subject = clean(str(c.get("subject") or ""))
    if event == "created":
        return f"{actor} created the group “{subject}”"
    if event == "added":
        return f"{actor} added {listed}"
    if event == "removed":
        if me in users:
            others = _and([who(u) for u in users if u != me])
            return f"you were removed by {actor}" + (f", with {others}" if others else "")
        return f"{actor} removed {listed}"
    if event == "left":
        text = f"{listed or actor} left"
        if c.get("new_owner"):
            owner = who(c["new_owner"])
            text += f"; {owner} {'are' if owner == 'you' else 'is'} now the owner"
        return text
    if event == "promoted":
        return f"{actor} made {listed} {'admins' if len(users) > 1 else 'an admin'}"
    if event == "demoted":
        return f"{actor} dismissed {listed} as admin"
    if event == "info_changed":
        parts = []
        if "subject" in c:
            parts.append(f"changed the subject to “{subject}”")
        if "description" in c:
            parts.append(f"changed the description to “{_short(clean(str(c['description'])), 60)}”")
        return f"{actor} {' and '.join(parts) or 'changed the group info'}"
    if event == "settings_changed":
        words = [SETTING_WORDS[k][0 if c[k] else 1] for k in SETTING_WORDS if isinstance(c.get(k), bool)]
        return f"{actor} changed the settings: {'; '.join(words) or 'no change'}"
    if event == "joined":
        if c.get("via") == "invitation":
            inviter = f" (invited by {who(c['invited_by'])})" if c.get("invited_by") else ""
            return f"{listed} joined{inviter}"
        if c.get("via") == "link":
            approved = f", approved by {who(c['approved_by'])}" if c.get("approved_by") else ""
            return f"{listed} joined with an invite link{approved}"
        return f"{listed} joined"
    if event == "invitation":
        expires = f"; it expires {when(float(c['expires_at']))}" if isinstance(c.get("expires_at"), int | float) else ""
        return (
            f"{actor} invited you to join the group “{subject}”: `hudhud invitations accept "
            f"{clean(str(c.get('invitation_id', '')))}` to join{expires}"
        )
    return f"{actor}: {clean(event) or 'system message'}"


def _and(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def message_text(env: Envelope, names: dict[str, str], me: str | None) -> str:
    """The body of a message as shown in history and listen: system messages as a sentence after "* ", others
    with their forward label."""
    if env.system:
        return "* " + describe_system(env.content, names, me)
    text = describe(env.content)
    if env.forwarded_many_times:
        text = f"[Forwarded many times] {text}"
    elif env.forwarded:
        text = f"[Forwarded] {text}"
    return text


def stranger_note(env: Envelope, me: str | None) -> str | None:
    """A line to print under the first message from someone not in my contacts (None for other messages)."""
    if env.stranger and env.sender_user_id != me and not env.system:
        who = env.sender_user_id
        return f"      ⚠ not in your contacts; if unwanted: `hudhud block {who}` or `hudhud report {who}`"
    return None


async def names_for(resolver: Names, messages: list[Envelope]) -> dict[str, str]:
    ids: set[str] = set()
    for m in messages:
        ids.add(m.sender_user_id)
        if m.system:
            ids |= system_user_ids(m.content)
    return {u: await resolver.get(u) for u in ids if u}


def status_of(seq: int, receipts: list[dict[str, Any]], me: str | None) -> str:
    """My message's ticks from the other members' watermarks: every one of them must have it."""
    others = [r for r in receipts if r.get("user_id") != me]
    if not others:
        return "sent"
    reads = [r.get("read_seq") for r in others]
    if all(isinstance(r, int) and r >= seq for r in reads):
        return "read"
    if all(int(r.get("delivered_seq") or 0) >= seq for r in others):
        return "delivered"
    return "sent"


# -- names and targets ----------------------------------------------------------------------------------------


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


def _require_login(client: HudhudClient) -> None:
    if not client.store.token:
        raise NotLoggedIn("not logged in")


# -- commands -------------------------------------------------------------------------------------------------


@_guarded
async def cmd_login(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        phone = args.phone
        if args.code is None:
            sent = await client.request_code(phone)
            phone = sent["phone"]
            _out(f"A code was sent by SMS to {phone}; it expires in {int(sent['expires_in']) // 60} minutes.")
            try:
                code = (await asyncio.to_thread(input, "Code: ")).strip()
            except EOFError:
                raise UserError("no code given; run again with --code CODE") from None
        else:
            code = args.code.strip()
        device = args.device_name or f"hudhud CLI on {socket.gethostname()}"
        login = await client.verify(phone, code, device)
        if args.name:
            await client.update_profile(display_name=args.name)
        me = await client.me()
        client.store.set(phone=str(me["phone"]))
        welcome = "Welcome to Hudhud" if login.get("new_account") else "Logged in"
        _out(f"{welcome}, {clean(me.get('display_name') or me['phone'])} ({me['phone']}).")
        _out(f"user {login['user_id']}, device {login['device_id']}; profile {client.store.dir}")
    return 0


async def _send_content(
    args: argparse.Namespace,
    chat: str,
    content: dict[str, Any],
    *,
    media_ids: tuple[str, ...] = (),
    target: Target | None = None,
) -> int:
    """Queue, then stay connected until the server acknowledges (or `--wait` runs out: it stays queued)."""
    async with _open(args, receive=False) as client:
        _require_login(client)
        target = target or await resolve_target(client, chat)
        msg_id = await client.send(content, to=target.to_user, conversation_id=target.conversation_id, media=media_ids)
        stream = client.events()
        client.start()
        deadline = time.monotonic() + args.wait
        sent = await client.wait_sent(msg_id, timeout=args.wait)
        if sent is None:
            if client.state is ConnState.LOGGED_OUT:
                raise NotLoggedIn("this device was logged out")
            _out(
                f"Could not reach {client.server}; the message is queued ({len(client.outbox())} waiting) and "
                "goes out with the next `hudhud send` or `hudhud listen`."
            )
            return 0
        _out(f"✓ sent to {clean(target.label)} (#{sent.seq} in {sent.conversation_id})")
        # Older queued messages to other chats went out in parallel; give them the time left to finish.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, min(2.0, deadline - time.monotonic()))):
                while client.outbox():
                    await stream.next(lambda e: isinstance(e, Sent | SendFailed))
        stream.close()
    return 0


@_guarded
async def cmd_send(args: argparse.Namespace) -> int:
    content: dict[str, Any] = {"type": "text", "text": " ".join(args.text)}
    if args.reply_to is not None:
        content["reply_to"] = args.reply_to
    return await _send_content(args, args.to, content)


async def _check_own(client: HudhudClient, chat: str, seq: int) -> None:
    """Edits and deletes only count when they come from the target's sender; refuse early if we can tell."""
    try:
        conv_id, _ = await resolve_conversation(client, chat)
        if conv_id is None:
            raise UserError(f"there are no messages with {chat} yet")
        messages, _ = await client.history(conv_id, before=seq + 1, limit=1)
    except ServerUnreachable:
        return  # cannot check now; recipients ignore it anyway if it is not ours
    if not messages or messages[-1].seq != seq:
        raise UserError(f"there is no message #{seq} in that chat")
    if messages[-1].sender_user_id != client.user_id:
        raise UserError(f"message #{seq} is not yours; you can only edit or delete your own messages")


@_guarded
async def cmd_edit(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        await _check_own(client, args.chat, args.seq)
    return await _send_content(args, args.chat, {"type": "edit", "target": args.seq, "text": " ".join(args.text)})


@_guarded
async def cmd_delete(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        await _check_own(client, args.chat, args.seq)
    return await _send_content(args, args.chat, {"type": "delete", "target": args.seq})


@_guarded
async def cmd_react(args: argparse.Namespace) -> int:
    return await _send_content(args, args.chat, {"type": "reaction", "target": args.seq, "emoji": args.emoji})


@_guarded
async def cmd_chats(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        me = client.user_id
        names = Names(client)
        color = _use_color(args)
        convs = await client.conversations(subjects=True)
        convs.sort(key=lambda c: (c.get("last_message") or {}).get("ts", 0.0), reverse=True)
        if not convs:
            _out("No chats yet. Start one with `hudhud send PHONE TEXT`.")
        for conv in convs:
            kind = conv.get("kind") or "direct"
            peers = [m for m in conv.get("members", []) if m.get("user_id") != me] or conv.get("members", [])
            if kind == "group":
                title, phones = f"“{clean(conv.get('subject') or '(group)')}” (group)", ""
            elif kind == "inbox":
                title, phones = NOTICES, ""
            else:
                title = ", ".join([await names.get(str(m["user_id"])) for m in peers])
                phones = ", ".join(str(m.get("phone", "")) for m in peers)
            receipts = conv.get("receipts", [])
            mine = next((r for r in receipts if r.get("user_id") == me), None)
            my_read = int((mine or {}).get("read_seq") or 0)
            unread = await _unread(client, conv, my_read, me)
            last = conv.get("last_message")
            preview = "(no messages)"
            if last is not None:
                env = Envelope.from_json(last)
                if env.system:
                    text = message_text(env, await names_for(names, [env]), me)
                    preview = f"{when(env.ts)}  {_short(text, 100)}"
                else:
                    who = await names.get(env.sender_user_id)
                    preview = f"{when(env.ts)}  {who}: {_short(message_text(env, {}, me))}"
                if env.sender_user_id == me and not env.system:
                    preview += "  " + tick(status_of(env.seq, receipts, me), color)
            badge = f"  [{unread} unread]" if unread else ""
            if phones and phones not in title:
                title += f" ({phones})"
            _out(f"{title}{badge}  {conv['conversation_id']}\n    {preview}")
    return 0


async def _unread(client: HudhudClient, conv: dict[str, Any], my_read: int, me: str | None) -> int:
    """Messages from others above my read watermark (my own messages in between do not count)."""
    last_seq = int(conv.get("last_seq") or 0)
    if last_seq <= my_read:
        return 0
    messages, _ = await client.history(
        str(conv["conversation_id"]), before=last_seq + 1, limit=min(500, last_seq - my_read)
    )
    return sum(1 for m in messages if m.seq > my_read and m.sender_user_id != me)


def _short(text: str, width: int = 60) -> str:
    line = text.replace("\n", " ")
    return line if len(line) <= width else line[: width - 1] + "…"


def render_history(
    messages: list[Envelope], receipts: list[dict[str, Any]], me: str | None, names: dict[str, str], color: bool
) -> list[str]:
    """Lines for a page of history, oldest first. Edits, deletes and reactions are folded into their target
    when it is on the page and (for edits and deletes) they come from the target's sender."""
    by_seq = {m.seq: m for m in messages}
    text_of: dict[int, str] = {}
    deleted: set[int] = set()
    edited: set[int] = set()
    reactions: dict[int, dict[str, str]] = {}
    folded: set[int] = set()
    for m in messages:
        c = m.content if isinstance(m.content, dict) and not m.system else {}
        kind, target = c.get("type"), c.get("target")
        if kind not in ("edit", "delete", "reaction") or not isinstance(target, int) or target not in by_seq:
            continue
        original = by_seq[target]
        if kind == "reaction":
            emoji = str(c.get("emoji") or "")
            per_user = reactions.setdefault(target, {})
            if emoji:
                per_user[m.sender_user_id] = clean(emoji)
            else:
                per_user.pop(m.sender_user_id, None)
            folded.add(m.seq)
        elif original.sender_user_id == m.sender_user_id:
            if kind == "edit":
                text_of[target] = clean(str(c.get("text", "")))
                edited.add(target)
            else:
                deleted.add(target)
            folded.add(m.seq)
    lines = []
    for m in messages:
        if m.seq in folded:
            continue
        if m.system:
            lines.append(f"#{m.seq:<4} {when(m.ts)}  {message_text(m, names, me)}")
            continue
        if m.seq in deleted:
            body = "🚫 this message was deleted"
        else:
            body = text_of.get(m.seq) or message_text(m, names, me)
            if m.seq in edited:
                body += " (edited)"
        if reactions.get(m.seq):
            body += "  [" + " ".join(reactions[m.seq].values()) + "]"
        line = f"#{m.seq:<4} {when(m.ts)}  {names.get(m.sender_user_id, m.sender_user_id)}: {body}"
        if m.sender_user_id == me and m.seq not in deleted:
            line += "  " + tick(status_of(m.seq, receipts, me), color)
        lines.append(line)
        note = stranger_note(m, me)
        if note is not None:
            lines.append(note)
    return lines


@_guarded
async def cmd_history(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, target = await resolve_conversation(client, args.chat)
        color = _use_color(args)
        queued = [
            e
            for e in client.outbox()
            if (conv_id is not None and e.conversation_id == conv_id)
            or (target.to_user is not None and e.to_user == target.to_user)
        ]
        if conv_id is None and not queued:
            _out(f"No messages with {clean(target.label)} yet.")
            return 0
        messages: list[Envelope] = []
        receipts: list[dict[str, Any]] = []
        if conv_id is not None:
            messages, receipts = await client.history(conv_id, limit=args.limit)
        names = await names_for(Names(client), messages)
        for line in render_history(messages, receipts, client.user_id, names, color):
            _out(line)
        for e in queued:
            _out(f"#-    {when(e.created_at)}  You: {describe(e.content)}  {tick('queued', color)}")
    return 0


class _ListenPrinter:
    """How `listen` shows each event. Returns True from `show` when listening should end."""

    def __init__(self, client: HudhudClient, args: argparse.Namespace) -> None:
        self.client = client
        self.names = Names(client)
        self.color = _use_color(args)
        self.read = bool(args.read)
        self.count = int(args.count or 0)
        self.shown = 0
        self.rc = 0
        self._typing: dict[tuple[str, str], float] = {}
        self._refreshed: set[str] = set()

    async def chat_label(self, conversation_id: str) -> str:
        """ "[Subject] " for a group, "[Hudhud notices] " for the inbox, "" for a direct chat."""
        store = self.client.store
        known = store.cached_chat(conversation_id)
        if (known is None or (known[0] == "group" and not known[1])) and conversation_id not in self._refreshed:
            self._refreshed.add(conversation_id)
            with contextlib.suppress(HudhudClientError):
                await self.client.conversations(subjects=True)
            known = store.cached_chat(conversation_id)
        if known is None or known[0] == "direct":
            return ""
        if known[0] == "inbox":
            return f"[{NOTICES}] "
        return f"[{clean(known[1] or 'group')}] "

    async def show(self, event: Event) -> bool:
        client = self.client
        if isinstance(event, Delivered):
            env = event.message
            mine = env.sender_user_id == client.user_id
            label = await self.chat_label(env.conversation_id)
            if env.system:
                names = await names_for(self.names, [env])
                _out(f"[{when(env.ts)}] {label}#{env.seq} {message_text(env, names, client.user_id)}")
            else:
                who = "You (other device)" if mine else await self.names.get(env.sender_user_id)
                _out(f"[{when(env.ts)}] {label}{who} #{env.seq}: {message_text(env, {}, client.user_id)}")
                note = stranger_note(env, client.user_id)
                if note is not None:
                    _out(note)
            if self.read and not mine:
                client.read(env.conversation_id, env.seq)
            self.shown += 1
            return bool(self.count) and self.shown >= self.count
        if isinstance(event, TicksChanged):
            text = _short(describe(event.message.content), 40)
            _out(f"  {tick(event.status, self.color)}  #{event.message.seq} {text}")
        elif isinstance(event, TypingUpdate):
            key = (event.conversation_id, event.user_id)
            if event.state == "composing" and time.monotonic() - self._typing.get(key, 0.0) > 5:
                self._typing[key] = time.monotonic()
                _out(f"  {await self.names.get(event.user_id)} is typing…")
            elif event.state == "paused":
                self._typing.pop(key, None)
        elif isinstance(event, Sent):
            _out(f"  queued message sent: #{event.seq} in {event.conversation_id}")
        elif isinstance(event, BroadcastSent):
            _out(f"  queued broadcast sent: to {event.reached} of {event.total}")
        elif isinstance(event, SendFailed):
            _out(f"  a queued message was refused: {event.message} [{event.code}]", err=True)
        elif isinstance(event, StateChanged) and _show_state(event, client.server):
            self.rc = 1
            return True
        return False


@_guarded
async def cmd_listen(args: argparse.Namespace) -> int:
    """Print what arrives until Ctrl-C (or `--count` messages). Acks every delivery; `--read` also marks
    printed messages as read. Flushes the outbox as a side effect of being connected."""
    async with _open(args) as client:
        _require_login(client)
        printer = _ListenPrinter(client, args)
        stream = client.events()
        client.start()
        try:
            async with asyncio.timeout(args.timeout or None):
                async for event in stream:
                    if await printer.show(event):
                        break
        except TimeoutError:
            pass  # --timeout: a normal end
        except asyncio.CancelledError:
            # Ctrl-C: asyncio.run cancels us; finish below instead of dying mid-way.
            pass
        # Whatever the session already took in is recorded as seen and would never be shown again: print it
        # (and mark it read) before stopping, which flushes acks and reads, then print what came meanwhile.
        for event in stream.pending():
            await printer.show(event)
        await client.stop()
        for event in stream.pending():
            await printer.show(event)
        stream.close()
    return printer.rc


def _show_state(event: StateChanged, server: str) -> bool:
    """Report connection changes on stderr. True when the session has ended for good."""
    if event.state is ConnState.CONNECTING:
        _out(f"connecting to {server}…", err=True)
    elif event.state is ConnState.SYNCED:
        _out("connected; listening (Ctrl-C to stop)", err=True)
    elif event.state is ConnState.DISCONNECTED:
        _out(f"disconnected ({event.detail}); retrying in {event.retry_in or 0:.1f} s", err=True)
    elif event.state is ConnState.LOGGED_OUT:
        if event.detail == "account_suspended":
            _out("error: this account is suspended; contact the service's operator", err=True)
        else:
            _out(f"error: this device is logged out ({event.detail}); run `hudhud login` again", err=True)
        return True
    return False


@_guarded
async def cmd_contacts_add(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        for c in await client.add_contacts([(args.phone, " ".join(args.name))]):
            on = f"on Hudhud as {clean(c['display_name'] or '(no name)')}" if c.get("user_id") else "not on Hudhud"
            _out(f"{clean(c['name'])}  {c['phone']}  {on}")
    return 0


@_guarded
async def cmd_contacts_list(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        contacts = await client.contacts()
        for c in contacts:
            on = f"~{clean(c['display_name'] or '')}  {c['user_id']}" if c.get("user_id") else "(not on Hudhud)"
            _out(f"{clean(c['name']) or '-':<24} {c['phone']:<16} {on}")
        if not contacts:
            _out("No contacts. Add one with `hudhud contacts add PHONE NAME`.")
    return 0


@_guarded
async def cmd_contacts_remove(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        await client.remove_contact(_normalize_phone(args.phone))
        _out(f"removed {args.phone}")
    return 0


@_guarded
async def cmd_devices_list(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        for d in await client.devices():
            active = when(d["last_active_at"]) if d.get("last_active_at") else "never"
            mark = "  (this device)" if d.get("current") else ""
            _out(f"{d['device_id']}  {clean(d['name']) or '-'}  added {when(d['created_at'])}, active {active}{mark}")
    return 0


@_guarded
async def cmd_link(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        name = await client.approve_link(args.code)
        _out(f"✓ linked {clean(name) or 'a new device'} to your account; `hudhud devices list` shows it")
    return 0


@_guarded
async def cmd_devices_revoke(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        current = args.device_id == client.device_id
        await client.revoke_device(args.device_id)
        _out(f"device {args.device_id} logged out" + (" (this one: log in again to use it)" if current else ""))
    return 0


def _show_me(me: dict[str, Any]) -> None:
    _out(f"{clean(me.get('display_name') or '(no name)')}  {me['phone']}  {me['user_id']}")
    if me.get("about"):
        _out(f"about: {clean(me['about'])}")
    _out(f"read receipts: {'on' if me.get('read_receipts') else 'off'}; last seen visible to: {me.get('last_seen')}")
    if me.get("group_add"):
        _out(f"who can add you to groups: {me['group_add']} (the others send an invitation)")
    if me.get("group_invites"):
        _out(f"whose group invitations reach you: {me['group_invites']}")
    if me.get("phone_privacy"):
        _out(f"who sees your number (besides those who have it and those you write to): {me['phone_privacy']}")


@_guarded
async def cmd_privacy(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        changes = (args.read_receipts, args.last_seen, args.group_add, args.phone, args.group_invites)
        if all(c is None for c in changes):
            me = await client.me()
        else:
            me = await client.update_privacy(
                read_receipts=None if args.read_receipts is None else args.read_receipts == "on",
                last_seen=args.last_seen,
                group_add=args.group_add,
                phone=args.phone,
                group_invites=args.group_invites,
            )
        _show_me(me)
    return 0


@_guarded
async def cmd_profile(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        if args.name is None and args.about is None:
            me = await client.me()
        else:
            me = await client.update_profile(display_name=args.name, about=args.about)
        _show_me(me)
    return 0


# -- groups ---------------------------------------------------------------------------------------------------


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


async def _members_pool(client: HudhudClient, conversation_id: str) -> list[dict[str, Any]]:
    """A group's members with their numbers where known, for matching WHO against them."""
    group = await client.group(conversation_id)
    pool = []
    for m in group.get("members", []):
        cached = client.store.cached_user(str(m["user_id"]))
        pool.append({**m, "phone": cached[0] if cached else None})
    return pool


async def _print_added(client: HudhudClient, result: dict[str, Any]) -> None:
    names = Names(client)
    added = [await names.get(str(u)) for u in result.get("added", [])]
    invited = [await names.get(str(u)) for u in result.get("invited", [])]
    if added:
        _out(f"Added: {', '.join(added)}")
    if invited:
        _out(f"Invited (their settings ask for an invitation, which they can accept): {', '.join(invited)}")
    if not added and not invited:
        _out("Nobody was added.")


async def _show_group(client: HudhudClient, conversation_id: str) -> None:
    group = await client.group(conversation_id)
    names = Names(client)
    settings = group.get("settings") or {}
    _out(f"“{clean(group.get('subject') or '')}”  {group['conversation_id']}")
    if group.get("description"):
        _out(f"description: {clean(group['description'])}")
    _out(
        "messages: "
        + ("only admins (announcement group)" if settings.get("only_admins_send") else "all members")
        + "; group info edited by: "
        + ("admins" if settings.get("only_admins_edit") else "all members")
        + "; joining with a link: "
        + ("needs an admin's approval" if settings.get("approve_joins") else "immediate")
    )
    members = group.get("members", [])
    _out(f"{len(members)} member{'s' if len(members) != 1 else ''}:")
    for m in members:
        role = m.get("role") or "member"
        badge = f"  ({role})" if role != "member" else ""
        _out(f"  {await names.get(str(m['user_id']))}{badge}  {m['user_id']}")


@_guarded
async def cmd_group_create(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        members = [(await resolve_user(client, who))[0] for who in args.member or []]
        result = await client.create_group(args.subject, description=args.description or "", members=members)
        _out(f"Created the group “{clean(args.subject)}” ({result['conversation_id']}).")
        if members:
            await _print_added(client, result)
    return 0


@_guarded
async def cmd_group_info(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        await _show_group(client, conv_id)
    return 0


@_guarded
async def cmd_group_add(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        users = [(await resolve_user(client, who))[0] for who in args.who]
        await _print_added(client, await client.add_members(conv_id, users))
    return 0


@_guarded
async def cmd_group_member(args: argparse.Namespace) -> int:
    """remove, promote and demote: one member, by name, number or id."""
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        user_id, label = await resolve_user(client, args.who, pool=await _members_pool(client, conv_id))
        name = await Names(client).get(user_id) if label == user_id else clean(label)
        if args.action == "remove":
            await client.remove_member(conv_id, user_id)
            _out(f"Removed {name} from “{clean(subject)}”.")
        elif args.action == "promote":
            await client.promote(conv_id, user_id)
            _out(f"{name} is now an admin of “{clean(subject)}”.")
        else:
            await client.demote(conv_id, user_id)
            _out(f"{name} is no longer an admin of “{clean(subject)}”.")
    return 0


@_guarded
async def cmd_group_leave(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        await client.leave_group(conv_id, report=args.report, reason=args.reason or "")
        _out(f"You left “{clean(subject)}”.")
        if args.report:
            _out("The group was reported, with its last five messages.")
    return 0


@_guarded
async def cmd_group_rename(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        subject = " ".join(args.subject)
        await client.update_group(conv_id, subject=subject, description=args.description)
        _out(f"The group is now called “{clean(subject)}”.")
    return 0


@_guarded
async def cmd_group_describe(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        await client.update_group(conv_id, description=" ".join(args.text))
        _out(f"Changed the description of “{clean(subject)}”.")
    return 0


@_guarded
async def cmd_group_settings(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        changes = {
            "only_admins_send": _on_off(args.announce),
            "only_admins_edit": _on_off(args.admins_edit),
            "approve_joins": _on_off(args.approve),
        }
        if any(v is not None for v in changes.values()):
            await client.update_group_settings(conv_id, **changes)
        await _show_group(client, conv_id)
    return 0


def _link_line(link: dict[str, Any]) -> str:
    limits = []
    if link.get("expires_at"):
        limits.append(f"expires {when(float(link['expires_at']))}")
    if link.get("max_uses"):
        limits.append(f"used {link.get('uses', 0)} of {link['max_uses']} times")
    else:
        limits.append(f"used {link.get('uses', 0)} times")
    return f"{link['code']}  ({', '.join(limits)})"


@_guarded
async def cmd_group_link(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        link = await client.create_link(conv_id, expires_in=args.expires, max_uses=args.max_uses)
        _out(f"Invite link for “{clean(subject)}”: {_link_line(link)}")
        _out(f"Anyone with it can join: `hudhud group join {link['code']}`")
    return 0


@_guarded
async def cmd_group_links(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        links = await client.links(conv_id)
        for link in links:
            _out(_link_line(link))
        if not links:
            _out("No invite links. Make one with `hudhud group link CHAT`.")
    return 0


@_guarded
async def cmd_group_revoke_link(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        await client.revoke_link(conv_id, args.code)
        _out(f"Revoked the invite link {args.code}.")
    return 0


@_guarded
async def cmd_group_join(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        result = await client.join_group(args.code.strip().rsplit("/", 1)[-1])
        conv_id = str(result["conversation_id"])
        if result.get("status") == "requested":
            _out("Asked to join; an admin of the group must approve your request.")
        else:
            subject = await client.group_subject(conv_id)
            _out(f"Joined “{clean(subject or '')}” ({conv_id}).")
    return 0


@_guarded
async def cmd_group_requests(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        requests = await client.join_requests(conv_id)
        names = Names(client)
        for r in requests:
            _out(f"{await names.get(str(r['user_id']))}  {r['user_id']}  asked {when(float(r['created_at']))}")
        if not requests:
            _out("No pending requests to join.")
    return 0


@_guarded
async def cmd_group_answer(args: argparse.Namespace) -> int:
    """approve and reject a request to join."""
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        pool = []
        for r in await client.join_requests(conv_id):
            with contextlib.suppress(ApiError):
                pool.append(await client.user(str(r["user_id"])))
        user_id, _ = await resolve_user(client, args.who, pool=pool)
        name = await Names(client).get(user_id)
        if args.action == "approve":
            await client.approve_request(conv_id, user_id)
            _out(f"{name} joined “{clean(subject)}”.")
        else:
            await client.reject_request(conv_id, user_id)
            _out(f"Rejected {name}'s request to join “{clean(subject)}”.")
    return 0


@_guarded
async def cmd_invitations(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        names = Names(client)
        if args.action == "list":
            if args.invitation_id:
                raise UserError("`hudhud invitations` lists them; use `accept ID` or `decline ID`")
            pending = await client.invitations()
            for inv in pending:
                inviter = await names.get(str(inv["inviter_id"]))
                _out(
                    f"{inv['invitation_id']}  “{clean(inv.get('subject') or '')}” from {inviter}, "
                    f"expires {when(float(inv['expires_at']))}"
                )
            if not pending:
                _out("No pending invitations.")
            return 0
        if not args.invitation_id:
            raise UserError(f"which invitation? `hudhud invitations {args.action} ID` (see `hudhud invitations`)")
        inv_id = args.invitation_id.strip()
        if not inv_id.startswith("i") or " " in inv_id:
            # Given by the group's subject instead.
            want = inv_id.casefold()
            found = [i for i in await client.invitations() if str(i.get("subject") or "").casefold() == want]
            if len(found) != 1:
                raise UserError(f"no single pending invitation to a group called {inv_id!r}")
            inv_id = str(found[0]["invitation_id"])
        if args.action == "accept":
            conv_id = await client.accept_invitation(inv_id)
            subject = await client.group_subject(conv_id)
            _out(f"Joined “{clean(subject or '')}” ({conv_id}).")
        else:
            await client.decline_invitation(inv_id)
            _out("Invitation declined.")
    return 0


# -- blocking and reports -------------------------------------------------------------------------------------


@_guarded
async def cmd_block(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        names = Names(client)
        if args.who is None:
            blocked = await client.blocked()
            for user_id in blocked:
                _out(f"{await names.get(user_id)}  {user_id}")
            if not blocked:
                _out("You have blocked nobody.")
            return 0
        user_id, _ = await resolve_user(client, args.who, discover=False)
        await client.block(user_id, report=args.report)
        extra = " and reported" if args.report else ""
        _out(f"Blocked{extra} {await names.get(user_id)}. They are not told; their messages no longer reach you.")
    return 0


@_guarded
async def cmd_unblock(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        user_id, _ = await resolve_user(client, args.who, discover=False)
        await client.unblock(user_id)
        _out(f"Unblocked {await Names(client).get(user_id)}.")
    return 0


def _seqs(raw: str | None) -> list[int]:
    if not raw:
        return []
    try:
        return [int(part) for part in raw.replace(" ", ",").split(",") if part]
    except ValueError:
        raise UserError(f"--messages is a list of message numbers such as 3,4,7, not {raw!r}") from None


@_guarded
async def cmd_report(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        if args.who is None and args.chat is None:
            raise UserError("report someone (WHO), a chat (--chat), or both")
        user_id = None if args.who is None else (await resolve_user(client, args.who, discover=False))[0]
        seqs = _seqs(args.messages)
        conv_id: str | None = None
        chat = args.chat if args.chat is not None else (args.who if seqs else None)
        if chat is not None:
            conv_id, _ = await resolve_conversation(client, chat)
            if conv_id is None:
                raise UserError(f"there are no messages with {chat} to share")
        report_id = await client.report(
            user_id=user_id, conversation_id=conv_id, reason=args.reason or "", messages=seqs, block=args.block
        )
        what = await Names(client).get(user_id) if user_id else "the chat"
        shared = f", sharing {len(seqs)} message{'s' if len(seqs) != 1 else ''}" if seqs else ""
        blocked = " and blocked them" if args.block and user_id else ""
        _out(f"Reported {what}{shared}{blocked} (report {report_id}).")
    return 0


# -- broadcast lists ------------------------------------------------------------------------------------------


async def _find_list(client: HudhudClient, raw: str) -> dict[str, Any]:
    lists = await client.broadcast_lists()
    found = [b for b in lists if b["list_id"] == raw.strip()] or [
        b for b in lists if str(b["name"]).casefold() == raw.strip().casefold()
    ]
    if not found:
        raise UserError(f"no broadcast list called {raw!r}; `hudhud broadcast list` shows yours")
    if len(found) > 1:
        raise UserError(f"several broadcast lists are called {raw!r}; use the list id")
    return found[0]


@_guarded
async def cmd_broadcast_create(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        members = [(await resolve_user(client, who))[0] for who in args.who]
        created = await client.create_broadcast_list(args.name, members)
        n = len(created.get("members", []))
        _out(f"Created the broadcast list “{clean(args.name)}” ({created['list_id']}) with {n} recipients.")
        _out("Only those who have your number in their contacts receive your broadcasts.")
    return 0


@_guarded
async def cmd_broadcast_list(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        names = Names(client)
        lists = await client.broadcast_lists()
        for b in lists:
            members = [await names.get(str(u)) for u in b.get("members", [])]
            _out(f"“{clean(b['name'])}”  {b['list_id']}  {len(members)} recipients: {', '.join(members)}")
        if not lists:
            _out("No broadcast lists. Make one with `hudhud broadcast create NAME WHO...`.")
    return 0


@_guarded
async def cmd_broadcast_members(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        found = await _find_list(client, args.list)
        members = [(await resolve_user(client, who))[0] for who in args.who]
        await client.set_broadcast_members(str(found["list_id"]), members)
        _out(f"“{clean(found['name'])}” now has {len(members)} recipients.")
    return 0


@_guarded
async def cmd_broadcast_delete(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        found = await _find_list(client, args.list)
        await client.delete_broadcast_list(str(found["list_id"]))
        _out(f"Deleted the broadcast list “{clean(found['name'])}”.")
    return 0


def _still_queued(client: HudhudClient) -> None:
    if client.state is ConnState.LOGGED_OUT:
        raise NotLoggedIn("this device was logged out")
    _out(
        f"Could not reach {client.server}; it is queued ({len(client.outbox())} waiting) and goes out with the "
        "next `hudhud send` or `hudhud listen`."
    )


@_guarded
async def cmd_broadcast_send(args: argparse.Namespace) -> int:
    async with _open(args, receive=False) as client:
        _require_login(client)
        found = await _find_list(client, args.list)
        job = await client.broadcast_text(str(found["list_id"]), " ".join(args.text))
        client.start()
        result = await client.wait_broadcast(job, timeout=args.wait)
        if result is None:
            _still_queued(client)
            return 0
        _out(f"✓ broadcast to “{clean(found['name'])}”: sent to {result.reached} of {result.total}")
        _out("  (only recipients who have your number in their contacts receive broadcasts)")
    return 0


# -- forwarding -----------------------------------------------------------------------------------------------


@_guarded
async def cmd_forward(args: argparse.Namespace) -> int:
    async with _open(args, receive=False) as client:
        _require_login(client)
        conv_id, _ = await resolve_conversation(client, args.chat)
        if conv_id is None:
            raise UserError(f"there are no messages with {args.chat} yet")
        if len(args.to) > 5:
            raise UserError("forward to at most 5 chats at a time")
        preview = None
        with contextlib.suppress(ServerUnreachable):  # offline: queue it anyway, the server checks
            messages, _ = await client.history(conv_id, before=args.seq + 1, limit=1)
            if not messages or messages[-1].seq != args.seq or messages[-1].system:
                raise UserError(f"there is no message #{args.seq} in that chat to forward")
            preview = messages[-1].content
        targets = [await resolve_target(client, raw) for raw in args.to]
        job = await client.forward(
            conv_id,
            args.seq,
            [{"to": t.to_user} if t.to_user else {"conversation_id": t.conversation_id or ""} for t in targets],
            preview=preview,
        )
        client.start()
        result = await client.wait_forwarded(job, timeout=args.wait)
        if result is None:
            _still_queued(client)
            return 0
        for target, sent in zip(targets, result.messages, strict=True):
            if sent is not None:
                _out(f"✓ forwarded to {clean(target.label)} (#{sent.seq} in {sent.conversation_id})")
            else:
                _out(f"✗ not forwarded to {clean(target.label)}", err=True)
        for code, message in result.errors:
            _out(f"  refused: {message} [{code}]", err=True)
        return 0 if all(result.messages) else 1


# -- registration ---------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    """Add the client subcommands to the `hudhud` parser. `common` carries --profile and --server; it is
    given to every leaf command (not to groups such as `contacts`, whose defaults would overwrite it)."""

    def leaf(sub: Any, name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def waiting(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--wait",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="how long to wait for the server's acknowledgement before leaving the message queued (10)",
        )

    def colored(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--color",
            choices=["auto", "always", "never"],
            default="auto",
            help="blue ticks for read messages (auto: when printing to a terminal and NO_COLOR is unset)",
        )

    p = leaf(subparsers, "login", cmd_login, "log in (or sign up) with a code sent by SMS")
    p.add_argument("--phone", required=True, help="your number, E.164 (+20…) or national format")
    p.add_argument("--name", help="set your display name")
    p.add_argument("--code", help="the SMS code from an earlier request (skips requesting a new one)")
    p.add_argument("--device-name", help="how this device appears in `hudhud devices list`")

    p = leaf(subparsers, "send", cmd_send, "send a text message (queued first, so it survives an outage)")
    p.add_argument("to", metavar="TO", help="phone number, contact name, user id (u…) or conversation id (c…)")
    p.add_argument("text", metavar="TEXT", nargs="+")
    p.add_argument("--reply-to", type=int, metavar="SEQ", help="quote message #SEQ of that chat")
    waiting(p)

    p = leaf(subparsers, "chats", cmd_chats, "list conversations with the last message and unread counts")
    colored(p)

    p = leaf(subparsers, "history", cmd_history, "print a chat's messages, oldest first, with ticks")
    p.add_argument("chat", metavar="CHAT", help="as TO in `send`")
    p.add_argument("--limit", type=int, default=50, help="how many of the latest messages (50, at most 500)")
    colored(p)

    p = leaf(subparsers, "listen", cmd_listen, "print messages, receipts and typing live until Ctrl-C")
    p.add_argument("--read", action="store_true", help="mark printed messages as read (blue ticks)")
    p.add_argument("--count", type=int, default=0, metavar="N", help="exit after N messages")
    p.add_argument("--timeout", type=float, default=0, metavar="SECONDS", help="exit after SECONDS")
    colored(p)

    contacts = subparsers.add_parser("contacts", help="your address book")
    csub = contacts.add_subparsers(dest="contacts_command", required=True)
    p = leaf(csub, "add", cmd_contacts_add, "add or rename a contact")
    p.add_argument("phone", metavar="PHONE")
    p.add_argument("name", metavar="NAME", nargs="+")
    leaf(csub, "list", cmd_contacts_list, "list contacts and which of them are on Hudhud")
    p = leaf(csub, "remove", cmd_contacts_remove, "remove a contact")
    p.add_argument("phone", metavar="PHONE")

    devices = subparsers.add_parser("devices", help="devices logged in to your account")
    dsub = devices.add_subparsers(dest="devices_command", required=True)
    leaf(dsub, "list", cmd_devices_list, "list your devices")
    p = leaf(dsub, "revoke", cmd_devices_revoke, "log a device out")
    p.add_argument("device_id", metavar="ID")

    p = leaf(subparsers, "link", cmd_link, "link a computer's browser to your account with its pairing code")
    p.add_argument("code", metavar="CODE", help="the code the browser shows, e.g. K7QM-4XPA")

    p = leaf(subparsers, "privacy", cmd_privacy, "show or change privacy settings")
    p.add_argument("--read-receipts", choices=["on", "off"], help="share read receipts (blue ticks)")
    p.add_argument("--last-seen", choices=["everyone", "contacts", "nobody"], help="who sees your last seen")
    p.add_argument(
        "--group-add",
        choices=["everyone", "contacts", "nobody"],
        help="who can add you to groups; anyone else can only send you an invitation",
    )
    p.add_argument("--group-invites", choices=["everyone", "contacts"], help="whose group invitations reach you at all")
    p.add_argument(
        "--phone",
        choices=["everyone", "contacts", "nobody"],
        help="who sees your number, besides people who already have it and people you write to",
    )

    p = leaf(subparsers, "profile", cmd_profile, "show or change your display name and about text")
    p.add_argument("--name", help="display name (at most 64 characters)")
    p.add_argument("--about", help="about text (at most 140 characters)")

    p = leaf(subparsers, "edit", cmd_edit, "edit one of your messages")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("seq", metavar="SEQ", type=int)
    p.add_argument("text", metavar="TEXT", nargs="+")
    waiting(p)

    p = leaf(subparsers, "delete", cmd_delete, "delete one of your messages for everyone")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("seq", metavar="SEQ", type=int)
    waiting(p)

    p = leaf(subparsers, "react", cmd_react, "react to a message (an empty EMOJI removes your reaction)")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("seq", metavar="SEQ", type=int)
    p.add_argument("emoji", metavar="EMOJI")
    waiting(p)

    p = leaf(subparsers, "forward", cmd_forward, "forward message #SEQ of CHAT to up to five chats")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("seq", metavar="SEQ", type=int)
    p.add_argument("to", metavar="TO", nargs="+", help="as TO in `send` (a group's subject too)")
    waiting(p)

    chat_help = "the group's subject or conversation id (c…)"
    who_help = "phone number, contact name, user id (u…) or a member's display name"
    group = subparsers.add_parser("group", help="create and manage groups")
    gsub = group.add_subparsers(dest="group_command", required=True)
    p = leaf(gsub, "create", cmd_group_create, "create a group; people whose settings ask for it are invited")
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("--description", help="what the group is about")
    p.add_argument("--member", action="append", metavar="WHO", help="add someone (repeat for more)")
    p = leaf(gsub, "info", cmd_group_info, "show a group's subject, settings and members")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p = leaf(gsub, "add", cmd_group_add, "add members (admins); people whose settings ask for it are invited")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("who", metavar="WHO", nargs="+", help=who_help)
    for action, text in (
        ("remove", "remove a member (admins)"),
        ("promote", "make a member an admin (admins)"),
        ("demote", "make an admin a plain member again (admins)"),
    ):
        p = leaf(gsub, action, cmd_group_member, text)
        p.add_argument("chat", metavar="CHAT", help=chat_help)
        p.add_argument("who", metavar="WHO", help=who_help)
        p.set_defaults(action=action)
    p = leaf(gsub, "leave", cmd_group_leave, "leave a group")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("--report", action="store_true", help="also report the group (shares its last five messages)")
    p.add_argument("--reason", help="why you report it")
    p = leaf(gsub, "rename", cmd_group_rename, "change a group's subject")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("subject", metavar="SUBJECT", nargs="+")
    p.add_argument("--description", help="change the description too")
    p = leaf(gsub, "describe", cmd_group_describe, "change a group's description")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("text", metavar="TEXT", nargs="+")
    p = leaf(gsub, "settings", cmd_group_settings, "show or change a group's settings (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("--announce", choices=["on", "off"], help="announcement group: only admins send messages")
    p.add_argument("--admins-edit", choices=["on", "off"], help="only admins change the subject and description")
    p.add_argument("--approve", choices=["on", "off"], help="admins approve those who join with a link")
    p = leaf(gsub, "link", cmd_group_link, "make an invite link (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("--expires", type=float, metavar="SECONDS", help="valid for this long (default: until revoked)")
    p.add_argument("--max-uses", type=int, metavar="N", help="valid for N joins")
    p = leaf(gsub, "links", cmd_group_links, "list a group's invite links (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p = leaf(gsub, "revoke-link", cmd_group_revoke_link, "revoke an invite link (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("code", metavar="CODE")
    p = leaf(gsub, "join", cmd_group_join, "join a group with an invite link's code")
    p.add_argument("code", metavar="CODE")
    p = leaf(gsub, "requests", cmd_group_requests, "list requests to join (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    for action, text in (("approve", "let someone who asked join (admins)"), ("reject", "turn down a request")):
        p = leaf(gsub, action, cmd_group_answer, text)
        p.add_argument("chat", metavar="CHAT", help=chat_help)
        p.add_argument("who", metavar="WHO", help="phone number, contact name, user id or display name")
        p.set_defaults(action=action)

    p = leaf(subparsers, "invitations", cmd_invitations, "list invitations to groups, or accept or decline one")
    p.add_argument("action", nargs="?", choices=["list", "accept", "decline"], default="list")
    p.add_argument("invitation_id", nargs="?", metavar="ID", help="the invitation's id (or the group's subject)")

    p = leaf(subparsers, "block", cmd_block, "block someone silently (without WHO: list whom you blocked)")
    p.add_argument("who", metavar="WHO", nargs="?", help="phone number, contact name or user id")
    p.add_argument("--report", action="store_true", help="also report them")
    p = leaf(subparsers, "unblock", cmd_unblock, "unblock someone")
    p.add_argument("who", metavar="WHO")
    p = leaf(subparsers, "report", cmd_report, "report someone or a chat to the service's operators")
    p.add_argument("who", metavar="WHO", nargs="?", help="phone number, contact name or user id")
    p.add_argument("--chat", metavar="CHAT", help="the chat to report or to share messages from")
    p.add_argument("--messages", metavar="SEQ,SEQ", help="message numbers to share (up to 20)")
    p.add_argument("--reason", help="what is wrong")
    p.add_argument("--block", action="store_true", help="also block them")

    broadcast = subparsers.add_parser("broadcast", help="broadcast lists: one message to many, each privately")
    bsub = broadcast.add_subparsers(dest="broadcast_command", required=True)
    p = leaf(bsub, "create", cmd_broadcast_create, "make a broadcast list")
    p.add_argument("name", metavar="NAME")
    p.add_argument("who", metavar="WHO", nargs="+", help="phone number, contact name or user id")
    leaf(bsub, "list", cmd_broadcast_list, "list your broadcast lists")
    p = leaf(bsub, "members", cmd_broadcast_members, "replace a list's recipients")
    p.add_argument("list", metavar="NAME_OR_ID")
    p.add_argument("who", metavar="WHO", nargs="+")
    p = leaf(bsub, "delete", cmd_broadcast_delete, "delete a broadcast list")
    p.add_argument("list", metavar="NAME_OR_ID")
    p = leaf(bsub, "send", cmd_broadcast_send, "send a text to every recipient of a list, each privately")
    p.add_argument("list", metavar="NAME_OR_ID")
    p.add_argument("text", metavar="TEXT", nargs="+")
    waiting(p)

    from hudhud.client import media_commands  # send-file, send-location, send-contact, download

    media_commands.register(subparsers, common)
