"""Frames a client sends, as frozen dataclasses, and their decoder.

Every frame is a JSON object with a "type". Unknown fields are ignored (so that later minor additions do not
break older servers); an unknown type is an error that leaves the connection up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

MAX_USER_IDS = 256


class ProtocolError(Exception):
    """The client sent something we cannot accept. `ref` is the frame's "ref", echoed so the client can match."""

    def __init__(self, code: str, message: str, ref: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Hello:
    """First frame: protocol version and the device's bearer token."""

    v: int
    token: str


@dataclass(frozen=True, slots=True)
class Send:
    """Send `content` into a conversation (`conversation_id`) or to a user (`to`, which starts or reuses the
    one-to-one conversation). `id` is the client's message id; a resend with the same id is answered with the
    original acknowledgement."""

    id: str
    content: Any
    conversation_id: str | None
    to: str | None
    media: tuple[str, ...] = ()  # ids of uploaded media the message refers to (docs/protocol.md, section 16)


@dataclass(frozen=True, slots=True)
class Forward:
    """Forward the message `source` (conversation id, seq) to up to five chats, each given as {"to": user id}
    or {"conversation_id": id}. The server copies the content and counts the hop. Replies: one `sent` per
    target, with id "<id>#<index>"."""

    id: str
    source: tuple[str, int]
    targets: tuple[dict[str, str], ...]


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send `content` to each recipient of broadcast list `list_id` as a one-to-one message."""

    id: str
    list_id: str
    content: Any


@dataclass(frozen=True, slots=True)
class Ack:
    """This device has everything in `conversation_id` through `seq`."""

    conversation_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Read:
    """The user has read everything in `conversation_id` through `seq`."""

    conversation_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class Typing:
    conversation_id: str
    state: str  # composing | paused


@dataclass(frozen=True, slots=True)
class PresenceSubscribe:
    """Watch these users' presence (replaces the previous set)."""

    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    ref: Any


ClientFrame = Hello | Send | Forward | Broadcast | Ack | Read | Typing | PresenceSubscribe | Ping


def _str(obj: dict[str, Any], key: str, ref: Any, *, optional: bool = False, max_len: int = 256) -> Any:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len or "\x00" in value:
        raise ProtocolError("bad_frame", f"'{key}' must be a non-empty string of at most {max_len} characters", ref)
    return value


def _client_id(obj: dict[str, Any], ref: Any) -> str:
    """A client message id must be a string; its length and characters are the operation's rule, checked with
    `invalid_request` (services.messaging.check_client_msg_id)."""
    value = obj.get("id")
    if not isinstance(value, str):
        raise ProtocolError("bad_frame", "'id' (the client message id) must be a string", ref)
    return value


MAX_REF_CHARS = 64


def _ref(value: Any) -> Any:
    """The frame's "ref" if it is one the server echoes: a string of at most 64 characters or an integer (not
    a boolean, which JSON does not count as a number); anything else is treated as absent."""
    if isinstance(value, str):
        return value if len(value) <= MAX_REF_CHARS else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _int(obj: dict[str, Any], key: str, ref: Any) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value > 2**53:
        raise ProtocolError("bad_frame", f"'{key}' must be a non-negative integer", ref)
    return value


MAX_MEDIA = 10


def _media_ids(obj: dict[str, Any], ref: Any) -> tuple[str, ...]:
    ids = obj.get("media")
    if ids is None:
        return ()
    if (
        not isinstance(ids, list)
        or len(ids) > MAX_MEDIA
        or not all(isinstance(m, str) and 0 < len(m) <= 64 and "\x00" not in m for m in ids)
    ):
        raise ProtocolError("bad_frame", f"'media' is a list of at most {MAX_MEDIA} media ids", ref)
    return tuple(dict.fromkeys(ids))


def decode(data: str | bytes) -> tuple[ClientFrame, Any]:
    """Parse one client frame. Returns (frame, ref); raises ProtocolError."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_frame", "frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_frame", "frame must be a JSON object")
    ref = _ref(obj.get("ref"))
    kind = obj.get("type")
    frame: ClientFrame
    if kind == "send":
        conv = _str(obj, "conversation_id", ref, optional=True, max_len=64)
        to = _str(obj, "to", ref, optional=True, max_len=64)
        if (conv is None) == (to is None):
            raise ProtocolError("bad_frame", "give exactly one of 'conversation_id' and 'to'", ref)
        if "content" not in obj:
            raise ProtocolError("bad_frame", "'content' is missing", ref)
        frame = Send(_client_id(obj, ref), obj["content"], conv, to, _media_ids(obj, ref))
    elif kind == "forward":
        source = obj.get("source")
        targets = obj.get("targets")
        if not isinstance(source, dict):
            raise ProtocolError("bad_frame", "'source' is {conversation_id, seq}", ref)
        if not isinstance(targets, list) or not targets or len(targets) > 5:
            raise ProtocolError("bad_frame", "'targets' is a list of 1 to 5 chats", ref)
        parsed = []
        for t in targets:
            if not isinstance(t, dict) or len([k for k in ("to", "conversation_id") if t.get(k)]) != 1:
                raise ProtocolError("bad_frame", "each target has exactly one of 'to' and 'conversation_id'", ref)
            key = "to" if t.get("to") else "conversation_id"
            parsed.append({key: _str(t, key, ref, max_len=64)})
        frame = Forward(
            _client_id(obj, ref),
            (_str(source, "conversation_id", ref, max_len=64), _int(source, "seq", ref)),
            tuple(parsed),
        )
    elif kind == "broadcast":
        if "content" not in obj:
            raise ProtocolError("bad_frame", "'content' is missing", ref)
        frame = Broadcast(_client_id(obj, ref), _str(obj, "list_id", ref, max_len=64), obj["content"])
    elif kind == "ack":
        frame = Ack(_str(obj, "conversation_id", ref, max_len=64), _int(obj, "seq", ref))
    elif kind == "read":
        frame = Read(_str(obj, "conversation_id", ref, max_len=64), _int(obj, "seq", ref))
    elif kind == "typing":
        state = obj.get("state", "composing")
        if state not in ("composing", "paused"):
            raise ProtocolError("bad_frame", "'state' is composing or paused", ref)
        frame = Typing(_str(obj, "conversation_id", ref, max_len=64), state)
    elif kind == "presence_subscribe":
        user_ids = obj.get("user_ids")
        if (
            not isinstance(user_ids, list)
            or len(user_ids) > MAX_USER_IDS
            or not all(isinstance(u, str) and 0 < len(u) <= 64 for u in user_ids)
        ):
            raise ProtocolError("bad_frame", f"'user_ids' is a list of at most {MAX_USER_IDS} user ids", ref)
        frame = PresenceSubscribe(tuple(dict.fromkeys(user_ids)))
    elif kind == "ping":
        frame = Ping(ref)
    elif kind == "hello":
        v = obj.get("v")
        if not isinstance(v, int) or isinstance(v, bool):
            raise ProtocolError("bad_frame", "'v' (the protocol version) must be an integer", ref)
        frame = Hello(v, _str(obj, "token", ref, max_len=512))
    elif isinstance(kind, str):
        raise ProtocolError("unknown_frame", f"unknown frame type {kind[:32]!r}", ref)
    else:
        raise ProtocolError("bad_frame", "frame has no 'type'", ref)
    return frame, ref
