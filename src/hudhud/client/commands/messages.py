"""Commands about messages and chats: send, edit, delete, react, chats, history, listen."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from typing import Any

from hudhud.client.commands.common import UserError, _guarded, _open, _out, _require_login, _use_color
from hudhud.client.commands.render import (
    NOTICES,
    _short,
    clean,
    describe,
    message_text,
    status_of,
    stranger_note,
    tick,
    when,
)
from hudhud.client.commands.resolve import Names, Target, names_for, resolve_conversation, resolve_target
from hudhud.client.sdk import (
    BroadcastSent,
    ConnState,
    Delivered,
    Event,
    HudhudClient,
    HudhudClientError,
    NotLoggedIn,
    SendFailed,
    Sent,
    ServerUnreachable,
    StateChanged,
    TicksChanged,
    TypingUpdate,
)
from hudhud.client.state import Envelope


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
