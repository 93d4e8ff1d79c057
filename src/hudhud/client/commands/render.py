"""How messages, system events and ticks are shown to people (text only; no I/O)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from hudhud.client.commands.common import BLUE, RESET
from hudhud.client.media import describe_media
from hudhud.client.state import Envelope


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


def _short(text: str, width: int = 60) -> str:
    line = text.replace("\n", " ")
    return line if len(line) <= width else line[: width - 1] + "…"
