"""Engines, transactions and the group-commit writer.

Every write goes through one writer task per process. It takes everything that is waiting, runs it in one
transaction and commits once, so one commit (and, with durability "full", one fsync) is shared by every
message that arrived meanwhile. Nothing is acknowledged before its transaction commits.

Rule for write operations: an operation raises `ClientError` only before its first write. If anything else
fails, the batch is rolled back and each operation is retried in a transaction of its own, so one bad
operation never takes the others down with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hudhud.errors import ClientError

log = logging.getLogger("hudhud.store")

T = TypeVar("T")
Op = Callable[[AsyncConnection], Awaitable[T]]


def async_url(url: str) -> str:
    """Map a plain URL (sqlite:///x.db, postgresql://u@h/db) to the async driver SQLAlchemy should use."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+aiosqlite"):
        return str(u.set(drivername="sqlite+aiosqlite"))
    if u.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme: {u.drivername}")


def _sqlite_engine(url: str, *, synchronous: str, immediate: bool, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's own transaction handling defers it badly).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The writer takes the write lock at BEGIN, so a read-then-write transaction can never be refused
        # half way with SQLITE_BUSY; readers use plain deferred transactions.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    def __init__(self, url: str, *, durability: str = "normal", batch_max: int = 512, read_pool_size: int = 8) -> None:
        self.url = async_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        self.batch_max = batch_max
        if self.dialect == "sqlite":
            sync = "FULL" if durability == "full" else "NORMAL"
            self._write_engine = _sqlite_engine(self.url, synchronous=sync, immediate=True, pool_size=1)
            self._read_engine = _sqlite_engine(self.url, synchronous=sync, immediate=False, pool_size=read_pool_size)
        else:
            # PostgreSQL's own durability setting (synchronous_commit) governs; it is on by default.
            self._write_engine = create_async_engine(self.url, pool_size=2, max_overflow=0)
            self._read_engine = create_async_engine(self.url, pool_size=read_pool_size, max_overflow=2)
        self._queue: asyncio.Queue[tuple[Op[Any], asyncio.Future[Any]] | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self.batches = 0
        self.ops = 0

    async def start(self) -> None:
        if self._writer is None:
            self._writer = asyncio.create_task(self._run(), name="hudhud-writer")

    async def close(self) -> None:
        if self._writer is not None:
            await self._queue.put(None)
            await self._writer
            self._writer = None
        await self._write_engine.dispose()
        await self._read_engine.dispose()

    async def read(self, fn: Op[T]) -> T:
        async with self._read_engine.connect() as conn:
            result = await fn(conn)
            await conn.rollback()
            return result

    async def write(self, fn: Op[T]) -> T:
        """Run `fn` inside the next group commit and return its result once that commit is durable."""
        if self._writer is None:
            async with self._write_engine.begin() as conn:
                return await fn(conn)
        return await self.submit(fn)

    def submit(self, fn: Op[T]) -> asyncio.Future[T]:
        """Queue `fn` for the next group commit now, without yielding. Operations run in the order they were
        submitted, so a caller that submits in order gets its writes applied in that order."""
        if self._writer is None:
            raise RuntimeError("the writer is not running")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((fn, fut))
        return fut

    async def ping(self) -> None:
        from sqlalchemy import text

        async with self._read_engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.batch_max and not self._queue.empty():
                item = self._queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._commit(batch)
            if stop:
                return

    async def _commit(self, batch: list[tuple[Op[Any], asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            async with self._write_engine.begin() as conn:
                for fn, fut in batch:
                    try:
                        outcomes.append((fut, await fn(conn), None))
                    except ClientError as exc:
                        outcomes.append((fut, None, exc))
        except Exception as exc:
            if len(batch) > 1:
                log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
                for item in batch:
                    await self._commit([item])
                return
            log.exception("write failed")
            fut = batch[0][1]
            if not fut.done():
                fut.set_exception(exc)
            return
        self.batches += 1
        self.ops += len(batch)
        for fut, result, error in outcomes:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)
