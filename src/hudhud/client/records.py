"""The records the client keeps and hands to applications: a message (`Envelope`), an outbox entry, a cached
contact. Plain frozen data; `hudhud.client.state.StateStore` reads and writes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# From this many hops on, a message is "forwarded many times" (the server's threshold as well).
FORWARDED_MANY_TIMES = 5


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message as the server stores it. `content` is whatever the sender put there (usually a dict)."""

    conversation_id: str
    seq: int
    id: str
    sender_user_id: str
    sender_device_id: str
    ts: float
    content: Any
    # Written by the server (group changes, invitations): content is {"type": "system", "event": …, "actor": …}.
    system: bool = False
    # How many times this message was forwarded before reaching this chat (0: not a forward).
    forward_count: int = 0
    # The first message of a new chat from someone the recipient does not have in their contacts: clients
    # point it out and offer to block or report.
    stranger: bool = False

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Envelope:
        sender = obj.get("sender") or {}
        return cls(
            str(obj["conversation_id"]),
            int(obj["seq"]),
            str(obj.get("id", "")),
            str(sender.get("user_id", "")),
            str(sender.get("device_id", "")),
            float(obj.get("ts", 0.0)),
            obj.get("content"),
            bool(obj.get("system", False)),
            int(obj.get("forward_count") or 0),
            bool(obj.get("stranger", False)),
        )

    @property
    def forwarded(self) -> bool:
        return self.forward_count > 0

    @property
    def forwarded_many_times(self) -> bool:
        return self.forward_count >= FORWARDED_MANY_TIMES


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """Something accepted by `send()`, `forward()` or `broadcast()` and not yet acknowledged.

    kind "send": a message; exactly one of `to_user`/`conversation_id` is set.
    kind "forward": content is {"source": {"conversation_id", "seq"}, "targets": [{"to"} | {"conversation_id"}]}.
    kind "broadcast": content is {"list_id", "content"}.
    """

    id: str
    to_user: str | None
    conversation_id: str | None
    content: Any
    created_at: float
    kind: str = "send"
    media: tuple[str, ...] = ()  # media ids the message refers to (sent beside the content, in the frame)

    @property
    def target(self) -> str:
        """Entries with the same target are sent one after another, so they keep their order."""
        return self.targets[0]

    @property
    def targets(self) -> tuple[str, ...]:
        """Every chat this entry writes to (a forward writes to several), as ordering keys."""
        if self.kind == "forward":
            return tuple(t.get("conversation_id") or f"to:{t.get('to')}" for t in self.content.get("targets", [])) or (
                f"forward:{self.id}",
            )
        if self.kind == "broadcast":
            return (f"broadcast:{self.content.get('list_id')}",)
        return (self.conversation_id or f"to:{self.to_user}",)


@dataclass(frozen=True, slots=True)
class CachedContact:
    phone: str
    name: str
    user_id: str | None
    display_name: str | None
