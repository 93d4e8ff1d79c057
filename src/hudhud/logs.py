"""Log lines, as text for a terminal or as one JSON object a line for production (`HUDHUD_LOG_FORMAT=json`).

Every JSON line has `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `msg` and `worker` (the index
of the worker process under `hudhud serve --workers N`, 0 for a lone process); a line logged while serving a
WebSocket connection has `conn`, the connection's short id, and one logged while serving an HTTP request has
`req`, the request's id (the client's `X-Request-Id` if it is sane, else a new one; the response carries it
back in `X-Request-Id`). The ids travel in context variables, so whatever a handler logs, in any module and in
the tasks it starts, carries them. Fields passed with `extra=` (`user`, `device`, `code` …) are added as they
are; an exception adds `exc`, its traceback. uvicorn's own lines (errors, and the access log with `client`,
`method`, `path` and `status`) come out the same way.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
import re
import secrets
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from hudhud.metrics import worker_id

CONN: contextvars.ContextVar[str | None] = contextvars.ContextVar("hudhud_conn", default=None)
REQ: contextvars.ContextVar[str | None] = contextvars.ContextVar("hudhud_req", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_SANE_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,64}")
# The attributes every LogRecord has (and uvicorn's colored copy of the message); anything else came in `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def new_id() -> str:
    """A short id for a connection or a request: 12 hex digits (48 random bits)."""
    return secrets.token_hex(6)


def sane_id(value: str | None) -> str | None:
    """A request id a client sent, if it is one to repeat in logs and headers: 1 to 64 characters of
    letters, digits and ._:+/=-."""
    return value if value is not None and _SANE_ID.fullmatch(value) else None


def connection_context(conn_id: str) -> contextvars.Context:
    """A context (a copy of the current one) in which log lines carry `conn_id`."""
    ctx = contextvars.copy_context()
    ctx.run(CONN.set, conn_id)
    return ctx


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.worker = worker_id()

    def format(self, record: logging.LogRecord) -> str:
        import orjson

        ts = dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
        out: dict[str, Any] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "worker": self.worker,
        }
        conn, req = CONN.get(), REQ.get()
        if conn is not None:
            out["conn"] = conn
        if req is not None:
            out["req"] = req
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, _version, status = record.args
            out.update(client=client, method=method, path=path, status=status)
        for key, value in vars(record).items():
            if key not in _STANDARD:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


def configure(level: str, fmt: str) -> dict[str, Any] | None:
    """Set up the process's logging for `hudhud serve`; returns the `log_config` to give uvicorn (None: uvicorn's
    loggers propagate to the root logger, and so come out in the same format)."""
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(level.upper())
        logging.captureWarnings(True)  # warnings too, not as bare text on standard error
        return None
    logging.basicConfig(level=level.upper(), format=TEXT_FORMAT)
    from uvicorn.config import LOGGING_CONFIG

    return LOGGING_CONFIG


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]


class RequestIds:
    """ASGI middleware, outermost: gives each HTTP request its id (`req` in log lines) and sends it back in
    `X-Request-Id`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(
        self, scope: Scope, receive: Callable[[], Awaitable[Message]], send: Callable[[Message], Awaitable[None]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = sane_id(value.decode("latin-1"))
                break
        rid = given or new_id()
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        token = REQ.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQ.reset(token)
