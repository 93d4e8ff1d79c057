"""Pinned, archived and muted chats (docs/protocol.md 3.13a): each member's own view of a conversation, kept on
the server so that all of the member's devices show the same list.

Rules (each has a test that breaks it, tests/test_chat_state.py):

* only a member (current or former) of the conversation has a state for it: anyone else gets `not_member`;
* at most `MAX_PINNED` chats are pinned at a time: pinning one more is `pin_limit` (as WhatsApp; unpin one first);
* an archived chat is not pinned: archiving unpins, and pinning takes a chat out of the archive; asking for
  both in one request is `invalid_request`;
* a new message leaves an archived chat archived (WhatsApp's "keep chats archived", its default today);
* muted until a time in the future, "always", or not (null); a time that has passed reads as not muted.

After the change commits, every device of the member gets a `chat_state` frame (4.6). The store is the truth:
a device that was offline reads the state from `GET /v1/conversations` when it reconnects.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from sqlalchemy import Connection

from hudhud.bus import Bus
from hudhud.clock import Clock
from hudhud.errors import InvalidRequest, NotMember, PinLimit
from hudhud.store import chatstate as q
from hudhud.store import messages as mq
from hudhud.store.chatstate import ChatState
from hudhud.store.db import Database

MAX_PINNED: Final = 3
# "always" is stored as the last second of year 9999; the API shows it as the string "always".
MUTED_ALWAYS: Final = 253402300799.0


class _Unset:
    pass


UNSET: Final = _Unset()


def state_json(state: ChatState | None, now: float) -> dict[str, Any]:
    """The four fields of a chat's state as `GET /v1/conversations` and the `chat_state` frame carry them."""
    s = state or ChatState("", "")
    until = s.muted_until
    muted: float | str | None = until
    if until is not None and until >= MUTED_ALWAYS:
        muted = "always"
    elif until is not None and until <= now:
        muted = None
    return {"pinned": s.pinned_at is not None, "pinned_at": s.pinned_at, "archived": s.archived, "muted_until": muted}


class ChatStateService:
    def __init__(self, db: Database, bus: Bus, clock: Clock) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock

    def now(self) -> float:
        return self._clock.now()

    async def states(self, user_id: str) -> dict[str, ChatState]:
        return await self._db.read(lambda c: q.for_user(c, user_id))

    async def update(
        self,
        user_id: str,
        conversation_id: str,
        *,
        pinned: bool | _Unset = UNSET,
        archived: bool | _Unset = UNSET,
        muted_until: float | str | _Unset | None = UNSET,
    ) -> dict[str, Any]:
        """Change what was given, leave the rest; the state as it is afterwards (`state_json`)."""
        now = self._clock.now()
        if pinned is True and archived is True:
            raise InvalidRequest("a chat cannot be pinned and archived at once")
        mute: float | _Unset | None = UNSET
        if isinstance(muted_until, str):
            if muted_until != "always":
                raise InvalidRequest('muted_until: a time, "always" or null')
            mute = MUTED_ALWAYS
        elif isinstance(muted_until, float | int):
            if muted_until <= now:
                raise InvalidRequest("muted_until: the time has passed")
            if muted_until >= MUTED_ALWAYS:
                raise InvalidRequest('muted_until: too far; use "always"')
            mute = float(muted_until)
        elif muted_until is None:
            mute = None

        def op(conn: Connection) -> tuple[ChatState, bool]:
            if mq.get_member(conn, conversation_id, user_id) is None:
                raise NotMember("you are not a member of this conversation")
            old = q.get(conn, conversation_id, user_id)
            state = old or ChatState(conversation_id, user_id)
            if pinned is True and state.pinned_at is None:
                if q.pinned_count(conn, user_id) >= MAX_PINNED:
                    raise PinLimit(f"at most {MAX_PINNED} chats can be pinned; unpin one first")
                state = replace(state, pinned_at=now, archived=False)
            elif pinned is False:
                state = replace(state, pinned_at=None)
            if archived is True:
                state = replace(state, archived=True, pinned_at=None)
            elif archived is False:
                state = replace(state, archived=False)
            if not isinstance(mute, _Unset):
                state = replace(state, muted_until=mute)
            changed = state != (old or ChatState(conversation_id, user_id))
            if changed:
                q.put(conn, state, old is not None, now)
            return state, changed

        state, changed = await self._db.write(op)
        view = state_json(state, now)
        if changed:
            # After the commit: to every device of mine, the one that asked included (it may have several tabs).
            await self._bus.publish(f"user:{user_id}", {"t": "chat_state", "c": conversation_id, "s": view})
        return view
