"""The connection's states and which client frames each accepts.

    state          accepts                         on anything else
    AWAIT_HELLO    hello                           error not_authenticated, close 4401
    READY          send forward broadcast ack      hello → error already_authenticated (stays up)
                   read typing presence_subscribe
                   ping
    CLOSED         nothing

A hello with an unsupported version gets error unsupported_version and close 4400; a bad or revoked token gets
error unauthorized / device_revoked and close 4401.

A hello is checked against this table when it arrives, and the connection becomes READY when the hello has
succeeded; frames the client sent after its hello without waiting for `welcome` are held until then and
handled in READY, in order (or dropped with the connection if the hello fails). So "before hello" means
before a hello frame, not before `welcome`.

Whatever the state, a text message that is not UTF-8 closes the connection with 1007 (RFC 6455).
"""

from __future__ import annotations

import enum

from hudhud.protocol.frames import ClientFrame, Hello, ProtocolError


class State(enum.Enum):
    AWAIT_HELLO = "await_hello"
    READY = "ready"
    CLOSED = "closed"


CLOSE_PROTOCOL = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_SLOW = 4408
CLOSE_INVALID_DATA = 1007


class ConnectionState:
    def __init__(self) -> None:
        self.state = State.AWAIT_HELLO

    def check(self, frame: ClientFrame, ref: object = None) -> None:
        """Raise ProtocolError if `frame` is not allowed now. The caller closes when state becomes CLOSED."""
        if self.state is State.AWAIT_HELLO:
            if not isinstance(frame, Hello):
                self.state = State.CLOSED
                raise ProtocolError("not_authenticated", "the first frame must be hello", ref)
        elif self.state is State.READY:
            if isinstance(frame, Hello):
                raise ProtocolError("already_authenticated", "this connection is already authenticated", ref)
        else:
            raise ProtocolError("bad_frame", "connection is closed", ref)

    def authenticated(self) -> None:
        self.state = State.READY

    def close(self) -> None:
        self.state = State.CLOSED
