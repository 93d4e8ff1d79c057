"""The bus between processes and nodes, on Redis pub/sub (HUDHUD_BUS_URL=redis://host:port/db).

Each process holds one subscriber connection (SUBSCRIBE to a topic while some handler of this process wants it)
and a small pool for publishing. A notice is a doorbell, never a message: losing one delays a delivery, it never
loses it, because every message is in the database before anyone rings.

- Local first: a notice reaches this process's own handlers at once, before it goes to Redis; the copy that
  comes back from Redis carries this process's origin tag and is skipped.
- Publishing never waits for Redis and never fails a send: notices queue and go out together in one pipeline per
  event-loop turn, in the order they were published; if Redis is down they are dropped.
- `subscribe` returns once Redis has confirmed the subscription, so that a notice published anywhere after it
  returns reaches the handler (the delivery feed subscribes before it reads the store).
- Gaps: when the subscriber connection breaks, notices published meanwhile are lost. The bus then tells its gap
  listeners at once, again every `poll_interval` seconds while Redis is unreachable, and once more when it is
  back and every topic is subscribed again; the listeners (the delivery feeds) read the store instead. So while
  the doorbell is down a message still reaches a connected device within about `poll_interval`.

Redis Cluster: plain PUBLISH is broadcast to every node of a cluster, which does not scale with it. Sharded
pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7) routes a channel to the shard that owns its slot; it would take one
subscriber connection per shard and the cluster client's slot map here. That is not built (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from hudhud.bus.base import GapListener, Handler, Notice, hand_over

log = logging.getLogger("hudhud.bus")

SUBSCRIBE_TIMEOUT = 3.0  # seconds to wait for Redis to confirm a subscription before reconnecting
PING_EVERY = 5.0  # seconds of silence on the subscriber connection before it is checked with a PING
DEAD_AFTER = 10.0  # ... and with no answer at all for this long it is taken as broken
RETRY_MAX = 2.0  # longest wait between reconnection attempts


def redis_client(url: str, retries: int = 0, **kwargs: Any) -> aioredis.Redis:
    """A client that reports a broken connection instead of retrying behind our back (the subscriber must know
    when notices may have been lost), or, for commands, retries `retries` times on a fresh connection (a pooled
    connection to a Redis that restarted fails on first use)."""
    return aioredis.Redis.from_url(
        url,
        retry=Retry(NoBackoff(), retries),
        socket_connect_timeout=2.0,
        socket_keepalive=True,
        health_check_interval=0,
        **kwargs,
    )


class RedisBus:
    def __init__(self, url: str, *, poll_interval: float = 2.0) -> None:
        self.url = url
        self.poll_interval = poll_interval
        self.client = redis_client(url, retries=1, socket_timeout=5.0)  # publishing and short-lived state
        self._subscriber = redis_client(url)
        self.origin = os.urandom(8).hex()  # this process, among all that share the Redis
        self._origin = self.origin.encode() + b"|"
        self._subs: dict[str, list[Handler]] = {}
        self._confirmed: set[str] = set()  # topics Redis has confirmed on the current subscriber connection
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._gap_listeners: set[GapListener] = set()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._queue: list[tuple[str, bytes]] = []
        self._flushing = False
        self._up = False
        self._problem = "not started"
        self._closed = False
        self.published = 0
        self.received = 0
        self.on_received: Callable[[float], None] | None = None  # with each notice's publication time
        self.dropped = 0  # notices not published because Redis was down
        self.gaps = 0

    # -- life -------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect; if Redis does not answer, start anyway (the store is the truth) and keep trying."""
        connected = asyncio.get_running_loop().create_future()
        self._reader = asyncio.get_running_loop().create_task(self._read_forever(connected))
        try:
            await asyncio.wait_for(asyncio.shield(connected), timeout=3.0)
        except TimeoutError:
            log.warning("Redis bus at %s does not answer yet; delivery polls the store until it does", self._where)

    async def close(self) -> None:
        self._closed = True
        await self._flush()
        for task in (self._reader, self._poller):
            if task is not None:
                task.cancel()
        for task in (self._reader, self._poller):
            if task is not None:
                with contextlib.suppress(BaseException):  # cancelled on purpose; anything else was logged
                    await task
        await self._drop_pubsub()
        await self.client.aclose()
        await self._subscriber.aclose()
        self._subs.clear()

    @property
    def _where(self) -> str:
        return self.url.rsplit("@", 1)[-1]

    def status(self) -> str:
        return "up" if self._up else self._problem

    # -- publishing -------------------------------------------------------------------------------------------

    async def publish(self, topic: str, notice: Notice) -> None:
        self.publish_nowait(topic, notice)

    def publish_nowait(self, topic: str, notice: Notice) -> None:
        hand_over(self._subs.get(topic, ()), topic, notice)
        if self._closed:
            return
        # origin|publication time|notice: the time gives the receivers their bus lag (metrics).
        self._queue.append((topic, b"%s%.6f|%s" % (self._origin, time.time(), orjson.dumps(notice))))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._start_flush)

    def _start_flush(self) -> None:
        asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        """Send what is queued, one pipeline at a time, so notices leave in the order they were published."""
        self._flushing = True
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                if not self._up:
                    self.dropped += len(batch)
                    continue
                for attempt in (1, 2):
                    # A pooled connection to a Redis that restarted fails on first use; the second try takes a
                    # fresh one. (A notice sent twice is harmless: every listener is idempotent.)
                    try:
                        async with self.client.pipeline(transaction=False) as pipe:
                            for topic, data in batch:
                                pipe.publish(topic, data)
                            await pipe.execute()
                        self.published += len(batch)
                        break
                    except (RedisError, OSError) as exc:
                        if attempt == 2:
                            self.dropped += len(batch)
                            log.warning("Redis bus: %d notices not published (%s)", len(batch), exc)
        finally:
            self._flushing = False

    # -- subscribing ------------------------------------------------------------------------------------------

    async def subscribe(self, topic: str, handler: Handler) -> None:
        handlers = self._subs.setdefault(topic, [])
        handlers.append(handler)
        if topic in self._confirmed or not self._up or self._pubsub is None:
            return  # while down, the reconnection subscribes every topic (and listeners are polling meanwhile)
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(topic, []).append(waiter)
        if len(self._waiting[topic]) == 1:
            try:
                await self._pubsub.subscribe(topic)
            except (RedisError, OSError) as exc:
                self._connection_broken(exc)
                return
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout=SUBSCRIBE_TIMEOUT)
        except TimeoutError:
            self._connection_broken(TimeoutError(f"no confirmation of SUBSCRIBE {topic}"))

    async def unsubscribe(self, topic: str, handler: Handler) -> None:
        handlers = self._subs.get(topic)
        if not handlers:
            return
        try:
            handlers.remove(handler)
        except ValueError:
            return
        if handlers:
            return
        del self._subs[topic]
        self._confirmed.discard(topic)
        if self._up and self._pubsub is not None and topic not in self._waiting:
            try:
                await self._pubsub.unsubscribe(topic)
            except (RedisError, OSError) as exc:
                self._connection_broken(exc)

    def topic_count(self) -> int:
        return len(self._subs)

    # -- gaps -------------------------------------------------------------------------------------------------

    def watch_gaps(self, listener: GapListener) -> None:
        self._gap_listeners.add(listener)

    def unwatch_gaps(self, listener: GapListener) -> None:
        self._gap_listeners.discard(listener)

    def _gap(self) -> None:
        self.gaps += 1
        for listener in list(self._gap_listeners):
            try:
                listener()
            except Exception:
                log.exception("bus gap listener failed")

    async def _poll_while_down(self) -> None:
        while not self._up and not self._closed:
            await asyncio.sleep(self.poll_interval)
            if not self._up:
                self._gap()

    # -- the subscriber connection ----------------------------------------------------------------------------

    def _connection_broken(self, exc: BaseException) -> None:
        """Something failed on the subscriber connection: make the reader start over."""
        if self._pubsub is not None and self._up:
            log.warning("Redis bus: subscriber connection failed (%s); reconnecting", exc)
            self._went_down(str(exc))
            pubsub, self._pubsub = self._pubsub, None
            asyncio.get_running_loop().create_task(self._close_quietly(pubsub))

    def _went_down(self, problem: str) -> None:
        was_up = self._up
        self._up = False
        self._problem = f"redis unavailable: {problem}"[:200]
        self._confirmed.clear()
        for waiters in self._waiting.values():
            for w in waiters:
                if not w.done():
                    w.set_result(None)  # the subscription will be made on reconnection; polling covers meanwhile
        self._waiting.clear()
        if was_up:
            self._gap()
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll_while_down())

    async def _close_quietly(self, pubsub: Any) -> None:
        with contextlib.suppress(Exception):  # the connection is broken already
            await pubsub.aclose()

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await self._close_quietly(pubsub)

    async def _read_forever(self, connected: asyncio.Future[None]) -> None:
        delay = 0.1
        first = True
        while not self._closed:
            try:
                await self._connect_and_read(connected)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError, TimeoutError) as exc:
                if first or self._up:
                    log.warning("Redis bus at %s: %s", self._where, exc)
                self._went_down(str(exc) or type(exc).__name__)
                await self._drop_pubsub()
            except Exception as exc:
                log.exception("Redis bus reader failed")
                self._went_down(repr(exc))
                await self._drop_pubsub()
            first = False
            if self._closed:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX)
            if self._up:
                delay = 0.1

    async def _connect_and_read(self, connected: asyncio.Future[None]) -> None:
        pubsub = self._subscriber.pubsub()
        self._pubsub = pubsub
        await pubsub.ping()  # connects
        last_heard = time.monotonic()
        pinged = False
        # Subscribe every topic and wait for Redis to confirm each before saying the bus is up and reporting the
        # gap: a listener that reads the store after that misses nothing. (Topics subscribed meanwhile are
        # picked up by the next round; there is no await between the last check and being up.)
        missing = set(self._subs) - self._confirmed
        while missing:
            topics = list(missing)
            for i in range(0, len(topics), 1000):
                await pubsub.subscribe(*topics[i : i + 1000])
            while missing:
                message = await pubsub.get_message(timeout=SUBSCRIBE_TIMEOUT)
                if message is None:
                    raise TimeoutError("Redis did not confirm the subscriptions")
                if message["type"] == "subscribe":
                    missing.discard(_text(message["channel"]))
                    self._confirmed.add(_text(message["channel"]))
                elif message["type"] == "message":
                    self._dispatch(message)
            missing = set(self._subs) - self._confirmed
        was_down = not self._up
        self._up = True
        self._problem = ""
        if not connected.done():
            connected.set_result(None)
        if was_down:
            log.info("Redis bus at %s is up (%d topics)", self._where, len(self._subs))
            self._gap()  # notices published while the connection was down are lost: read the store once
        while not self._closed and self._pubsub is pubsub:
            message = await pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is None:
                if now - last_heard > DEAD_AFTER:
                    raise TimeoutError("the Redis subscriber connection went silent")
                if now - last_heard > PING_EVERY and not pinged:
                    await pubsub.ping()
                    pinged = True
                continue
            last_heard, pinged = now, False
            kind = message["type"]
            if kind == "message":
                self._dispatch(message)
            elif kind == "subscribe":
                topic = _text(message["channel"])
                if topic in self._subs:
                    self._confirmed.add(topic)
                for w in self._waiting.pop(topic, ()):
                    if not w.done():
                        w.set_result(None)
                if topic not in self._subs:  # every handler left while the subscription was on its way
                    await pubsub.unsubscribe(topic)

    def _dispatch(self, message: dict[str, Any]) -> None:
        data: bytes = message["data"]
        if data.startswith(self._origin):
            return  # published here and handed to this process's handlers already
        self.received += 1
        topic = _text(message["channel"])
        handlers = self._subs.get(topic)
        if not handlers:
            return
        try:
            _, at, body = data.split(b"|", 2)
            notice = orjson.loads(body)
        except (ValueError, orjson.JSONDecodeError):
            log.warning("Redis bus: unreadable notice on %s", topic)
            return
        if self.on_received is not None:
            self.on_received(float(at))
        hand_over(handlers, topic, notice)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
