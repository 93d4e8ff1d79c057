"""Test support: a real server on a real socket, a fake SMS provider (a local HTTP server), and a raw
protocol client that speaks frames exactly as docs/protocol.md describes them."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from websockets.asyncio.client import ClientConnection, connect

from hudhud.app import Hudhud
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.web.edge import uvicorn_options
from hudhud.web.server import create_app

POSTGRES_URL = os.environ.get("HUDHUD_TEST_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
# The engine every server of this test session runs on: "sqlite" (the default: a file in the server's data
# directory) or "postgresql" (a fresh database on the server at HUDHUD_TEST_POSTGRES_URL for each data directory,
# dropped after the test). `make test-sqlite` and `make test-postgres` set it.
TEST_DATABASE = os.environ.get("HUDHUD_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
if TEST_DATABASE == "postgres":
    TEST_DATABASE = "postgresql"
if TEST_DATABASE not in ("sqlite", "postgresql"):
    raise RuntimeError(f"HUDHUD_TEST_DATABASE is sqlite or postgresql, not {TEST_DATABASE!r}")
ON_POSTGRES = TEST_DATABASE == "postgresql"


# -- PostgreSQL databases for tests ------------------------------------------------------------------------------


def run_coroutine(coro: Any) -> Any:
    """Run a coroutine to completion on a loop of its own: usable from sync code and from inside a running loop
    (it blocks that loop meanwhile, which tests can afford for a CREATE DATABASE)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def postgres_answers() -> Exception | None:
    """None if the PostgreSQL server at POSTGRES_URL answers, else why not."""
    try:
        run_coroutine(_admin("SELECT 1"))
    except Exception as exc:
        return exc
    return None


def create_postgres_database() -> str:
    """A fresh, empty database on the test PostgreSQL server; its URL."""
    name = f"hudhud_t_{uuid.uuid4().hex[:12]}"
    run_coroutine(_admin(f'CREATE DATABASE "{name}"'))
    return f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"


def drop_postgres_database(url: str) -> None:
    run_coroutine(_admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))


_databases: dict[Path, str] = {}  # data directory -> its PostgreSQL database, while the test runs
_databases_lock = threading.Lock()


def database_for(data_dir: Path) -> str:
    """The database URL a server (or CLI command) using `data_dir` runs on in this test session: "" on SQLite
    (the server's default, a file in the data directory), else that data directory's own PostgreSQL database,
    made on first use, so a server restarted on the same data directory, or an admin command run on it, finds
    the same data. Dropped after the test (`drop_test_databases`)."""
    if not ON_POSTGRES:
        return ""
    key = data_dir.resolve()
    with _databases_lock:
        if key not in _databases:
            _databases[key] = create_postgres_database()
        return _databases[key]


def database_env(data_dir: Path) -> dict[str, str]:
    """The environment for a `hudhud` subprocess on `data_dir`: HUDHUD_DATABASE_URL on PostgreSQL."""
    url = database_for(data_dir)
    return {"HUDHUD_DATABASE_URL": url} if url else {}


def drop_test_databases(keep: set[Path] | None = None) -> None:
    """Drop the databases `database_for` made (except those of the data directories in `keep`)."""
    with _databases_lock:
        doomed = {k: v for k, v in _databases.items() if not keep or k not in keep}
        for k in doomed:
            del _databases[k]
    for url in doomed.values():
        drop_postgres_database(url)


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, **kwargs: Any) -> AsyncIterator[str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    kwargs.setdefault("ws_per_message_deflate", False)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **kwargs)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


class SmsSink:
    """The outside SMS provider, played by a local HTTP server that records what it was asked to send."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail = False

        async def receive(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if self.fail:
                return JSONResponse({"error": "down"}, status_code=500)
            self.codes[body["to"]] = body["code"]
            return JSONResponse({"queued": True})

        self.app = Starlette(routes=[Route("/sms", receive, methods=["POST"])])


@dataclass
class ServerHandle:
    url: str
    hub: Hudhud
    sms: SmsSink
    clients: list[RawClient] = field(default_factory=list)

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v1/ws"

    @property
    def codes(self) -> dict[str, str]:
        return self.sms.codes

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    async def make_user(self, phone: str, name: str = "") -> tuple[str, str, str]:
        login = await self.hub.accounts.create_user(phone, name)
        return login.user.id, login.device.id, login.token

    async def register(self, phone: str, device_name: str = "test") -> dict[str, Any]:
        """Register (or log in) through the REST API with the code the fake SMS provider received."""
        async with self.http() as c:
            r = await c.post("/v1/auth/code", json={"phone": phone})
            assert r.status_code == 202, r.text
            e164 = r.json()["phone"]
            r = await c.post(
                "/v1/auth/verify", json={"phone": phone, "code": self.codes[e164], "device_name": device_name}
            )
            assert r.status_code == 200, r.text
            data: dict[str, Any] = r.json()
            return data

    async def add_device(self, user_phone: str, name: str = "second") -> tuple[str, str]:
        """Log in another device of an existing account (operator path, no SMS throttle)."""
        from hudhud import ids
        from hudhud.store import accounts as aq

        hub = self.hub
        user = await hub.db.read(lambda c: aq.get_user_by_phone(c, hub.accounts.normalize(user_phone)))
        assert user is not None
        token = ids.new_token()
        device_id = ids.new_id("d")
        now = hub.clock.now()
        await hub.db.write(lambda c: aq.insert_device(c, device_id, user.id, name, ids.hash_token(token), now))
        return device_id, token

    async def client(self, token: str, *, hello: bool = True) -> RawClient:
        c = RawClient(await connect(self.ws_url, max_size=2**22))
        self.clients.append(c)
        if hello:
            await c.hello(token)
        return c


class RawClient:
    """A protocol client with no cleverness: it sends what it is told and records every frame it receives.

    `expect` takes the first unconsumed frame that matches and leaves the others for later calls, so a test
    can wait for frames in any order without losing the ones it skipped."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.inbox: list[dict[str, Any]] = []
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self.closed: asyncio.Event = asyncio.Event()
        self.close_code: int | None = None

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                self.inbox.append(frame)
                self._arrived.set()
        except Exception:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self._arrived.set()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def send_raw(self, data: str) -> None:
        await self.ws.send(data)

    def _take(self, type_: str, match: dict[str, Any]) -> dict[str, Any] | None:
        for i, frame in enumerate(self.inbox):
            if frame.get("type") == type_ and all(frame.get(k) == v for k, v in match.items()):
                del self.inbox[i]
                return frame
        return None

    async def expect(self, type_: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The first unconsumed frame of this type (with these field values), waiting up to `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = self._take(type_, match)
            if frame is not None:
                return frame
            left = deadline - loop.time()
            if left <= 0 or self.closed.is_set():
                raise TimeoutError(f"no {type_} frame matching {match}; unconsumed: {self.inbox[-5:]}")
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    def take_all(self, type_: str, **match: Any) -> list[dict[str, Any]]:
        """Every unconsumed frame of this type that has arrived so far."""
        out = []
        while (frame := self._take(type_, match)) is not None:
            out.append(frame)
        return out

    async def no_frame(self, type_: str, wait: float = 0.3, **match: Any) -> None:
        """Assert that no frame of this type arrives within `wait` seconds."""
        with contextlib.suppress(TimeoutError):
            frame = await self.expect(type_, timeout=wait, **match)
            raise AssertionError(f"unexpected frame {frame}")

    async def hello(self, token: str) -> dict[str, Any]:
        await self.send({"type": "hello", "v": 1, "token": token})
        welcome = await self.expect("welcome")
        await self.expect("synced")
        return welcome

    async def send_text(
        self, text: str, *, to: str | None = None, conversation_id: str | None = None, msg_id: str | None = None
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "type": "send",
            "id": msg_id or uuid.uuid4().hex,
            "content": {"type": "text", "text": text},
        }
        if to:
            frame["to"] = to
        else:
            frame["conversation_id"] = conversation_id
        await self.send(frame)
        return await self.expect("sent", id=frame["id"])

    async def close(self) -> None:
        await self.ws.close()
        with contextlib.suppress(Exception):
            await self._reader


@contextlib.asynccontextmanager
async def running_server(
    tmp: Path, *, database_url: str = "", clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[ServerHandle]:
    sms = SmsSink()
    # Bulk tests send thousands of messages a second; the rate limit has tests of its own.
    overrides.setdefault("messages_per_minute", 0)
    async with serve_asgi(sms.app) as sms_url:
        settings = Settings(
            data_dir=tmp / "var",
            database_url=database_url or database_for(tmp / "var"),
            sms_backend="webhook",
            sms_webhook_url=sms_url + "/sms",
            **overrides,
        )
        hub = Hudhud(settings, clock=clock)
        async with serve_asgi(create_app(hub), **uvicorn_options(hub)) as url:
            handle = ServerHandle(url, hub, sms)
            try:
                yield handle
            finally:
                for c in handle.clients:
                    with contextlib.suppress(Exception):
                        await c.close()
