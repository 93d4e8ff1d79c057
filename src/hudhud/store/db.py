"""Engines, transactions and the group-commit writer.

Every write goes through one writer per process (on PostgreSQL, a few writer lanes: `Database.submit`). It
takes everything that is waiting, runs it in one transaction and commits once, so one commit (and, with
durability "full", one fsync) is shared by every message that arrived meanwhile. Nothing is acknowledged before
its transaction commits.

Store functions and write operations are plain synchronous functions of a SQLAlchemy `Connection`, and a whole
batch runs in one go:
- on SQLite, in a thread of its own (sqlite3 releases the GIL while it works, so the event loop keeps serving
  sockets, and a write lock held by another process, an operator's CLI command say, makes only the writer
  wait). An async driver would hop between the event loop and its thread for every statement; measured, that
  made each message wait for a dozen event-loop turns and capped a node at about 200 messages a second;
- on PostgreSQL, through the asyncpg driver with `run_sync`, so statements go straight to the socket.

Rule for write operations: an operation raises `ClientError` only before its first write, and never turns a
database error into a `ClientError` (on PostgreSQL a failed statement aborts the whole transaction, and its
COMMIT then rolls back without an error: the other operations of the batch would be acknowledged and lost). If
anything else fails, the batch is rolled back and each operation is retried in a transaction of its own, so one
bad operation never takes the others down with it.

On SQLite with the default durability, a small batch of quick operations (a send, an ack, a read: a few indexed
statements each, submitted with `quick=True`) is committed on the event loop itself instead. At the rates people
send, most batches hold one or two operations, and the hop to the writer thread and back (waking it, handing
the GIL over for each statement, waking the event loop with the result) cost more CPU than the statements:
measured with the W1 real benchmark (docs/performance.md), about 300 µs of server CPU per message. The event
loop never waits for the write lock there (its connection has no busy timeout: if another process holds the
lock, the batch goes to the writer thread, which waits), never fsyncs (durability "full" always uses the
thread) and never checkpoints (the writer thread does, between batches).

Reads on SQLite run on the event loop itself. They are short (indexed lookups, pages of at most 500 rows) and
in WAL mode never wait for a lock, and a hop to a reader thread and back cost more than the read: measured on
the idle-connections benchmark, connection set-up went from about 410 to about 550 a second without the reader
threads, whose GIL hand-offs were most of their time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import QueuePool

from hudhud.errors import ClientError
from hudhud.metrics import BATCH_BUCKETS, COMMIT_SECONDS_BUCKETS, Histogram

log = logging.getLogger("hudhud.store")

T = TypeVar("T")
Op = Callable[[Connection], T]
Outcome = tuple[bool, Any]  # (ok, result or ClientError)
INLINE_MAX_OPS = 4  # a batch of at most this many quick operations may commit on the event loop
CHECKPOINT_EVERY = 200  # batches committed on the event loop between two checkpoints by the writer thread


PG_LANES = 4  # writer lanes on PostgreSQL (see Database.submit)
LOCK_RETRIES = 3  # a batch that PostgreSQL aborted for a deadlock runs again this many times before one by one


def _conversations_to_lock(batch: list[tuple[Op[Any], asyncio.Future[Any], bool, str | None]]) -> list[str]:
    """The conversations a PostgreSQL batch writes into, sorted. Several processes commit batches at once there; a
    send locks its conversation's row until its batch commits, so two batches sending into conversations X and Y
    in opposite orders would wait for each other (a deadlock, one aborted). Locking every conversation of the
    batch first, in one global order, avoids that while the operations still run in the order submitted (which
    decides, say, which of a device's sends are within a limit)."""
    return sorted({key for _, _, _, key in batch if key is not None and not key.startswith("to:")})


def _is_lock_conflict(exc: BaseException) -> bool:
    """A PostgreSQL deadlock (40P01) or serialization failure (40001): the transaction was aborted whole."""
    text_ = str(exc)
    return "deadlock detected" in text_ or "40P01" in text_ or "could not serialize" in text_


def async_url(url: str) -> str:
    """Map a plain URL (sqlite:///x.db, postgresql://u@h/db) to the async driver SQLAlchemy should use."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"):
        return str(u.set(drivername="sqlite+aiosqlite"))
    if u.drivername in ("postgresql", "postgres", "postgresql+asyncpg"):
        return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database URL scheme: {u.drivername}")


def _sqlite_engine(
    url: str, *, synchronous: str, immediate: bool, pool_size: int, busy_ms: int = 10000, autocheckpoint: bool = True
) -> Engine:
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = create_engine(
        sync_url, poolclass=QueuePool, pool_size=pool_size, max_overflow=0, connect_args={"check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's own transaction handling defers it badly).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        if not autocheckpoint:
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # The writer takes the write lock at BEGIN, so a read-then-write transaction can never be refused
        # half way with SQLITE_BUSY. Readers run without an explicit transaction: each statement reads one
        # consistent snapshot, and the BEGIN/ROLLBACK pair per read was measurable on the hot path.
        if immediate:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _orphan_transaction(dbapi_conn: Any) -> bool:
    """True if this asyncpg connection is inside a transaction that SQLAlchemy does not know about.

    It happens when a task is cancelled while its BEGIN is on the wire (a device's delivery feed, say, when the
    device goes away): asyncpg has recorded the transaction as its outermost one before sending BEGIN, and the
    server has begun it, but SQLAlchemy's adapter keeps a transaction only once BEGIN has returned, so the
    pool's rollback on return does nothing. On such a connection every later BEGIN becomes a SAVEPOINT and every
    COMMIT a RELEASE SAVEPOINT: a write would be acknowledged without ever being committed (invisible to other
    connections, lost at disconnect), and a rollback would leave it "idle in transaction" holding its locks."""
    raw = dbapi_conn.driver_connection
    return bool(raw.is_closed() or raw.is_in_transaction() or getattr(raw, "_top_xact", None) is not None)


def _postgres_engine(url: str, *, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=4)

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(dbapi_conn: Any, _record: Any) -> None:
        # End such a transaction now (closing the socket makes the server roll it back), not at next checkout.
        if dbapi_conn is not None and _orphan_transaction(dbapi_conn):
            log.warning("closing a pooled PostgreSQL connection left inside a transaction")
            dbapi_conn.driver_connection.terminate()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # The pool discards the connection and hands out a fresh one: a read or write always starts clean.
        if _orphan_transaction(dbapi_conn):
            raise DisconnectionError("pooled connection is inside a transaction it did not begin")

    return engine


class Database:
    def __init__(self, url: str, *, durability: str = "normal", batch_max: int = 512, read_pool_size: int = 2) -> None:
        self.url = async_url(url)
        self.dialect = "sqlite" if self.url.startswith("sqlite") else "postgresql"
        self.batch_max = batch_max
        self._sync_write: Engine | None = None
        self._sync_read: Engine | None = None
        self._async: AsyncEngine | None = None
        self._inline_write: Engine | None = None  # for small batches of quick operations (see the module's doc)
        self._inline_batches = 0  # committed on the event loop since the last checkpoint
        if self.dialect == "sqlite":
            sync = "FULL" if durability == "full" else "NORMAL"
            self._sync_write = _sqlite_engine(self.url, synchronous=sync, immediate=True, pool_size=1)
            if durability == "normal":
                self._inline_write = _sqlite_engine(
                    self.url, synchronous=sync, immediate=True, pool_size=1, busy_ms=0, autocheckpoint=False
                )
            self._sync_read = _sqlite_engine(self.url, synchronous=sync, immediate=False, pool_size=read_pool_size)
            self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="hudhud-writer")
        else:
            # PostgreSQL's own durability setting (synchronous_commit) governs; it is on by default.
            self._async = _postgres_engine(self.url, pool_size=read_pool_size + PG_LANES + 2)
        # One writer on SQLite (one write lock); on PostgreSQL several lanes commit at once, each on its own
        # connection (see `submit`): a batch there waits for a network round trip per statement, so one lane
        # alone left the process idle while PostgreSQL had cores to spare.
        self.lanes = 1 if self.dialect == "sqlite" else PG_LANES
        self._queues: list[asyncio.Queue[tuple[Op[Any], asyncio.Future[Any], bool, str | None] | None]] = [
            asyncio.Queue() for _ in range(self.lanes)
        ]
        self._writers: list[asyncio.Task[None]] = []
        self.batches = 0
        self.ops = 0
        self.lock_retries = 0  # batches run again after PostgreSQL aborted them for a deadlock
        self.batch_sizes = Histogram(BATCH_BUCKETS)  # operations per committed batch
        self.commit_seconds = Histogram(COMMIT_SECONDS_BUCKETS)  # from a batch's start to its commit

    async def start(self) -> None:
        if not self._writers:
            self._writers = [
                asyncio.create_task(self._run(q), name=f"hudhud-writer-{i}") for i, q in enumerate(self._queues)
            ]

    async def close(self) -> None:
        if self._writers:
            for q in self._queues:
                await q.put(None)
            for task in self._writers:
                await task
            self._writers = []
        if self._async is not None:
            await self._async.dispose()
        if self._sync_write is not None and self._sync_read is not None:
            self._write_thread.shutdown()
            self._sync_write.dispose()
            self._sync_read.dispose()
            if self._inline_write is not None:
                self._inline_write.dispose()

    # -- reads ------------------------------------------------------------------------------------------------

    async def read(self, fn: Op[T]) -> T:
        """Run `fn` on a pooled connection, outside the writer (on SQLite, on the event loop: see above)."""
        if self._async is not None:
            async with self._async.connect() as aconn:
                return await aconn.run_sync(fn)
        engine = self._sync_read
        assert engine is not None
        with engine.connect() as conn:
            try:
                return fn(conn)
            finally:
                conn.rollback()

    async def ping(self) -> None:
        await self.read(lambda c: c.execute(text("SELECT 1")).scalar())

    # -- writes -----------------------------------------------------------------------------------------------

    async def write(self, fn: Op[T]) -> T:
        """Run `fn` inside the next group commit and return its result once that commit is durable.

        A `ClientError` raised by `fn` fails `fn` alone and the rest of the batch commits, but what `fn` wrote
        before raising is not undone (a savepoint per operation would add two statements to every send): an
        operation makes all its checks before its first write."""
        if not self._writers:
            outcome = (await self._execute([fn]))[0]
            if not outcome[0]:
                raise outcome[1]
            result: T = outcome[1]
            return result
        return await self.submit(fn)

    def submit(
        self, fn: Op[T], *, quick: bool = False, key: str | None = None, lane: str | None = None
    ) -> asyncio.Future[T]:
        """Queue `fn` for the next group commit now, without yielding. Operations run in the order they were
        submitted, so a caller that submits in order gets its writes applied in that order. `quick`: `fn` runs
        a few indexed statements at most, so a small batch of such operations may commit on the event loop.
        `key`: the conversation whose rows a quick operation writes; on PostgreSQL a batch locks the rows of its
        operations' conversations first, all in one order (see `_conversations_to_lock`). `lane`: on PostgreSQL,
        operations given the same lane (the device that sends, acks and reads) go to the same writer lane and
        keep the order submitted, and so do all operations given none, in the first lane; between lanes there is
        no order, which nothing needs: a device's own operations are what must stay in order
        (MessagingService.send), and anything else is awaited by its caller before what depends on it."""
        if not self._writers:
            raise RuntimeError("the writer is not running")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        index = hash(lane) % self.lanes if lane is not None and self.lanes > 1 else 0
        self._queues[index].put_nowait((fn, fut, quick, key))
        return fut

    async def _run(self, queue: asyncio.Queue[tuple[Op[Any], asyncio.Future[Any], bool, str | None] | None]) -> None:
        while True:
            first = await queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.batch_max and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stop = True
                    break
                batch.append(item)
            await self._commit(batch)
            if self._inline_batches >= CHECKPOINT_EVERY:
                await self._checkpoint()
            if stop:
                return

    async def _checkpoint(self) -> None:
        """Copy the WAL back into the database in the writer thread (the event loop's connection never does), as
        SQLite's automatic checkpoint would have done in one of those commits. Passive: it waits for nobody."""
        self._inline_batches = 0
        engine = self._sync_write
        assert engine is not None

        def run() -> None:
            # On the driver's connection: through SQLAlchemy it would run inside BEGIN IMMEDIATE, where SQLite
            # refuses to checkpoint.
            raw = engine.raw_connection()
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").close()  # type: ignore[union-attr]
            finally:
                raw.close()

        try:
            await asyncio.get_running_loop().run_in_executor(self._write_thread, run)
        except Exception:
            log.exception("checkpoint failed")  # the WAL grows meanwhile; the next one tries again

    async def _commit(self, batch: list[tuple[Op[Any], asyncio.Future[Any], bool, str | None]]) -> None:
        started = time.perf_counter()
        locks = _conversations_to_lock(batch) if self._async is not None and len(batch) > 1 else []
        attempts = 0
        while True:
            try:
                quick = len(batch) <= INLINE_MAX_OPS and all(item[2] for item in batch)
                outcomes = await self._execute([item[0] for item in batch], quick=quick, locks=locks)
                break
            except Exception as exc:
                attempts += 1
                if _is_lock_conflict(exc) and attempts <= LOCK_RETRIES:
                    # Another process's transaction took the same rows in another order and PostgreSQL chose
                    # this one to abort: nothing of it was written, so the whole batch runs again.
                    self.lock_retries += 1
                    await asyncio.sleep(random.uniform(0, 0.005 * attempts))
                    continue
                if len(batch) > 1:
                    log.warning("batch of %d failed (%s); retrying one by one", len(batch), exc)
                    for item in batch:
                        await self._commit([item])
                    return
                log.exception("write failed")
                if not batch[0][1].done():
                    batch[0][1].set_exception(exc)
                return
        self.commit_seconds.observe(time.perf_counter() - started)
        self.batches += 1
        self.ops += len(batch)
        self.batch_sizes.observe(len(batch))
        for (_, fut, _, _), (ok, value) in zip(batch, outcomes, strict=True):
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    async def _execute(self, ops: list[Op[Any]], quick: bool = False, locks: list[str] | None = None) -> list[Outcome]:
        """One transaction for all `ops`; raises (and rolls back) on anything but a ClientError. `quick`: a
        small batch of quick operations, which may commit on the event loop (see the module's doc)."""

        def run_all(conn: Connection) -> list[Outcome]:
            outcomes: list[Outcome] = []
            for fn in ops:
                try:
                    outcomes.append((True, fn(conn)))
                except ClientError as exc:
                    # Without its traceback: it would tie this frame (and `outcomes`) into a cycle that keeps
                    # every operation of the batch, and the content it carries, alive until the next GC.
                    outcomes.append((False, exc.with_traceback(None)))
            return outcomes

        if self._async is not None:
            async with self._async.begin() as aconn:
                if locks:
                    await aconn.execute(
                        text("SELECT id FROM conversations WHERE id = ANY(:ids) ORDER BY id FOR UPDATE"), {"ids": locks}
                    )
                return await aconn.run_sync(run_all)
        inline = self._inline_write
        if quick and inline is not None:
            with inline.connect() as conn:
                try:
                    tx = conn.begin()  # BEGIN IMMEDIATE: the write lock now, or an error at once
                except OperationalError:
                    pass  # another process holds the write lock: the writer thread waits for it instead
                else:
                    with tx:
                        outcomes = run_all(conn)
                    self._inline_batches += 1
                    return outcomes
        engine = self._sync_write
        assert engine is not None

        def run() -> list[Outcome]:
            with engine.begin() as conn:
                return run_all(conn)

        return await asyncio.get_running_loop().run_in_executor(self._write_thread, run)
