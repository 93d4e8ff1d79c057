"""What the client and the server say to each other, as the application sees it: constants of the
protocol (docs/protocol.md), the errors this library raises and the events a session emits. The counterpart
of the browser's `webapp/src/net/protocol.ts`."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from hudhud.client.records import Envelope

log = logging.getLogger("hudhud.client")

DEFAULT_SERVER = "http://127.0.0.1:8080"
MAX_CONTENT_BYTES = 64 * 1024
CLOSE_UNAUTHORIZED = 4401

# The token is no good (or the account is suspended): reconnecting cannot help.
FATAL_CODES = frozenset({"device_revoked", "unauthorized", "account_suspended"})
# The server refused this particular message and would refuse every resend the same way. (new_chat_limit
# would pass tomorrow, but holding the whole outbox back until then would be worse than dropping one message.)
PERMANENT_SEND_ERRORS = frozenset(
    {
        "content_too_large",
        "not_member",
        "not_found",
        "invalid_request",
        "bad_frame",
        "forbidden",
        "invalid_phone",
        "admins_only",
        "not_admin",
        "new_chat_limit",
        "forward_limit",
        "media_not_found",
    }
)
# Errors about a forward request as a whole (as opposed to one of its targets).
WHOLE_FORWARD_ERRORS = frozenset({"forward_limit", "bad_frame", "invalid_request"})
# After a forward target was refused, how long to wait for the other targets' answers before calling it done
# (an error does not say which target it is about, nor whether the whole request was refused).
FORWARD_GRACE = 1.5
MAX_FORWARD_TARGETS = 5
MAX_BROADCAST_ID = 30  # the server appends "#<user id>" to it and ids are at most 64 characters


# -- errors ---------------------------------------------------------------------------------------------------


class HudhudClientError(Exception):
    """Base of the errors this library raises."""


class ServerUnreachable(HudhudClientError):
    """The server could not be reached (refused, timed out, DNS...). Worth retrying later."""


class NotLoggedIn(HudhudClientError):
    """There is no usable token in the profile (never logged in, or the device was logged out)."""


class ApiError(HudhudClientError):
    """The server answered with an error: `code` is the stable machine-readable reason."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{message} ({code})")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


class SendRejected(HudhudClientError):
    """The server refused a queued message for good; it was removed from the outbox."""

    def __init__(self, msg_id: str, code: str, message: str) -> None:
        super().__init__(f"{message} ({code})")
        self.msg_id = msg_id
        self.code = code
        self.message = message


# -- events ---------------------------------------------------------------------------------------------------


class ConnState(enum.Enum):
    IDLE = "idle"  # the session was never started
    CONNECTING = "connecting"
    CONNECTED = "connected"  # welcome received; catching up
    SYNCED = "synced"  # caught up; new messages arrive live
    DISCONNECTED = "disconnected"  # waiting before the next attempt
    LOGGED_OUT = "logged_out"  # the server refused the token; the session has stopped
    STOPPED = "stopped"  # stop() was called


@dataclass(frozen=True, slots=True)
class Delivered:
    """A message from someone else (or from another device of mine), shown once."""

    message: Envelope


@dataclass(frozen=True, slots=True)
class Sent:
    """The server stored one of our queued messages."""

    id: str
    conversation_id: str
    seq: int
    ts: float
    duplicate: bool


@dataclass(frozen=True, slots=True)
class SendFailed:
    """The server refused a queued message for good (it left the outbox)."""

    id: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Forwarded:
    """A queued forward is done. `messages[i]` is the copy in target i, or None where that target refused it
    (`errors` has the reasons)."""

    id: str
    messages: tuple[Sent | None, ...]
    errors: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class BroadcastSent:
    """A queued broadcast is done: a copy was stored for `reached` of the list's `total` recipients (only those
    who have me in their contacts receive theirs, and the answer does not say who). `messages` are the
    (conversation id, seq) of the copies."""

    id: str
    list_id: str
    total: int
    reached: int
    messages: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ReceiptUpdate:
    conversation_id: str
    user_id: str
    delivered_seq: int
    read_seq: int | None


@dataclass(frozen=True, slots=True)
class TicksChanged:
    """One of my messages moved to `status` (delivered or read), computed from receipts."""

    message: Envelope
    status: str


@dataclass(frozen=True, slots=True)
class TypingUpdate:
    conversation_id: str
    user_id: str
    state: str


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    user_id: str
    status: str
    last_seen: float | None


@dataclass(frozen=True, slots=True)
class SyncedEvent:
    """The backlog has been delivered; what follows is live."""


@dataclass(frozen=True, slots=True)
class ServerErrorEvent:
    code: str
    message: str
    ref: Any
    retry_after: float | None


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: ConnState
    detail: str = ""
    retry_in: float | None = None


Event = (
    Delivered
    | Sent
    | Forwarded
    | BroadcastSent
    | SendFailed
    | ReceiptUpdate
    | TicksChanged
    | TypingUpdate
    | PresenceUpdate
    | SyncedEvent
    | ServerErrorEvent
    | StateChanged
)


def ws_url_for(server: str) -> str:
    """http://host:port/base → ws://host:port/base/v1/ws (https → wss)."""
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"server URL must start with http:// or https://, not {server!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/v1/ws", "", ""))
