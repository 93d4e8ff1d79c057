"""The message rate limit across processes: how many messages an account sent in the last minute on every
process that shares the Redis bus.

The check runs inside the send's database transaction, which cannot wait for Redis, so each process decides at
once from what it knows: the account's counts in Redis as of the last exchange, plus what it accepted since.
Every `FLUSH_EVERY` seconds a process adds what it accepted to the account's counter for the current minute
(`hudhud:rate:<user>:<minute>`, INCRBY, expiring after two minutes) and reads back the totals, which include
the other processes'. The last minute is estimated as this minute's count plus the previous minute's weighted by
how much of it is still within sixty seconds (a sliding window). An account sending through many devices on many
nodes is held to the limit, give or take what the processes accept between two exchanges (the rate times
`FLUSH_EVERY`, on each process). If Redis does not answer, each process holds the account to the limit alone.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from typing import Any

from redis.exceptions import RedisError

log = logging.getLogger("hudhud.ratelimit")

FLUSH_EVERY = 0.05
KEY = "hudhud:rate:"


class SharedCounts:
    def __init__(self, client: Any) -> None:
        self._redis = client
        self._lock = threading.Lock()  # take() may run on the database writer's thread
        self._unflushed: dict[str, int] = {}
        self._known: dict[str, tuple[int, int, int]] = {}  # user -> (minute, count then, previous minute's)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._flush_forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.flush()

    def over(self, user_id: str, n: int, per_minute: int) -> float | None:
        """Would `n` more messages take the account over `per_minute` across processes? If so, seconds until
        it is worth trying again; else None, and the messages are counted."""
        now = time.time()
        minute = int(now // 60)
        frac = (now % 60) / 60
        with self._lock:
            known_minute, current, previous = self._known.get(user_id, (minute, 0, 0))
            if known_minute != minute:  # the minute turned since the last exchange
                previous = current if known_minute == minute - 1 else 0
                current = 0
            pending = self._unflushed.get(user_id, 0)
            estimate = previous * (1 - frac) + current + pending + n
            if estimate > per_minute:
                return max(1.0, math.ceil((estimate - per_minute) * 60 / per_minute))
            self._unflushed[user_id] = pending + n
        return None

    async def flush(self) -> None:
        with self._lock:
            batch, self._unflushed = self._unflushed, {}
        if not batch:
            return
        minute = int(time.time() // 60)
        users = list(batch)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in users:
                    key = f"{KEY}{user_id}:{minute}"
                    pipe.incrby(key, batch[user_id])
                    pipe.expire(key, 120)
                    pipe.get(f"{KEY}{user_id}:{minute - 1}")
                replies = await pipe.execute()
        except (RedisError, OSError) as exc:
            log.debug("shared rate counts: %s", exc)
            with self._lock:  # keep counting them here; they go out with the next exchange that works
                for user_id, n in batch.items():
                    self._unflushed[user_id] = self._unflushed.get(user_id, 0) + n
            return
        with self._lock:
            for i, user_id in enumerate(users):
                current, previous = int(replies[3 * i]), int(replies[3 * i + 2] or 0)
                self._known[user_id] = (minute, current, previous)
            if len(self._known) > 100_000:  # forget the idle
                self._known = {k: v for k, v in self._known.items() if v[0] >= minute - 1}

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self.flush()
