"""The newest messages of each conversation committed on this node, each with who could see it.

A message to a large group would otherwise be read from the store once per connected device. Devices on the
node that committed it take it from here instead; anything not here (older, or committed by another node) is
read from the store as before, so the cache can only save work, never change what is delivered."""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from hudhud.protocol import server_frames as sf
from hudhud.store.records import Message


@dataclass(slots=True)
class Recent:
    message: Message
    audience: frozenset[str]  # members who may see it, as of its commit (the sender alone if withheld)
    _frame: bytes | None = field(default=None)

    def frame_for(self, viewer_id: str) -> bytes:
        """The deliver frame, encoded once for every viewer but the sender (whose copy differs)."""
        if viewer_id == self.message.sender_id:
            return sf.deliver(self.message, viewer_id)
        if self._frame is None:
            self._frame = sf.deliver(self.message, viewer_id)
        return self._frame


class RecentMessages:
    def __init__(self, per_conversation: int = 256, conversations: int = 10_000) -> None:
        self._per = per_conversation
        self._max = conversations
        self._convs: OrderedDict[str, deque[Recent]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def add(self, message: Message, audience: frozenset[str]) -> None:
        runs = self._convs.get(message.conversation_id)
        if runs is None:
            runs = self._convs[message.conversation_id] = deque(maxlen=self._per)
            if len(self._convs) > self._max:
                self._convs.popitem(last=False)
        elif runs and runs[-1].message.seq + 1 != message.seq:
            runs.clear()  # keep one contiguous run: a gap (say a system message) starts it afresh
        if runs and runs[-1].audience == audience:
            audience = runs[-1].audience  # share one set between messages of an unchanged membership
        runs.append(Recent(message, audience))
        self._convs.move_to_end(message.conversation_id)

    def after(self, conversation_id: str, after: int, until: int, viewer_id: str) -> tuple[list[Recent], int] | None:
        """What `viewer_id` may see after seq `after`, through the newest message held (at least `until`), and
        that newest seq; or None if this cache cannot answer for the whole range."""
        runs = self._convs.get(conversation_id)
        if not runs or runs[0].message.seq > after + 1 or runs[-1].message.seq < until:
            self.misses += 1
            return None
        self.hits += 1
        found = []
        for r in reversed(runs):  # what is new is at the end: walk back only as far as `after`
            if r.message.seq <= after:
                break
            if viewer_id in r.audience:
                found.append(r)
        found.reverse()
        return found, runs[-1].message.seq
