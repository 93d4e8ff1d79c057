"""Who is online: the count of open connections per user, on this process and, with Redis, on every process.

With the in-process bus, the count is this process's own. With Redis, each process also keeps, per user it has
connected, an entry in the sorted set `hudhud:online:<user>` whose score is when the entry expires; the process
renews its entries every `ONLINE_TTL / 3` seconds while the user is connected and removes the entry when the
user's last connection on it closes. A process that dies without removing its entries (SIGKILL, a lost machine)
stops renewing them, and after `ONLINE_TTL` seconds nobody counts it. If Redis does not answer, each process
answers for itself."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from redis.exceptions import RedisError

log = logging.getLogger("hudhud.presence")

ONLINE_TTL = 30.0
KEY = "hudhud:online:"


class OnlineRegistry(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def connected(self, user_id: str) -> bool:
        """Count one more connection of the user; True if it is the user's first on this process."""
        ...

    async def disconnected(self, user_id: str) -> bool:
        """Count one fewer; True if it was the user's last on this process."""
        ...

    async def is_online(self, user_id: str) -> bool:
        """Does the user have a connection open on any process?"""
        ...


class LocalOnline:
    def __init__(self) -> None:
        self.local: dict[str, int] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def connected(self, user_id: str) -> bool:
        self.local[user_id] = self.local.get(user_id, 0) + 1
        return self.local[user_id] == 1

    async def disconnected(self, user_id: str) -> bool:
        left = self.local.get(user_id, 0) - 1
        if left > 0:
            self.local[user_id] = left
            return False
        self.local.pop(user_id, None)
        return True

    async def is_online(self, user_id: str) -> bool:
        return self.local.get(user_id, 0) > 0


class RedisOnline(LocalOnline):
    def __init__(self, client: Any, origin: str) -> None:
        super().__init__()
        self._redis = client
        self._origin = origin
        self._renewer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
        users = list(self.local)
        self.local.clear()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in users:
                    pipe.zrem(KEY + user_id, self._origin)
                await pipe.execute()
        except (RedisError, OSError):
            pass  # the entries expire by themselves

    async def connected(self, user_id: str) -> bool:
        first = await super().connected(user_id)
        if first:
            try:
                await self._redis.zadd(KEY + user_id, {self._origin: time.time() + ONLINE_TTL})
            except (RedisError, OSError) as exc:
                log.debug("online registry: %s", exc)
        return first

    async def disconnected(self, user_id: str) -> bool:
        last = await super().disconnected(user_id)
        if last:
            try:
                await self._redis.zrem(KEY + user_id, self._origin)
            except (RedisError, OSError) as exc:
                log.debug("online registry: %s", exc)
        return last

    async def is_online(self, user_id: str) -> bool:
        if self.local.get(user_id, 0) > 0:
            return True
        try:
            return int(await self._redis.zcount(KEY + user_id, time.time(), "+inf")) > 0
        except (RedisError, OSError):
            return False

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(ONLINE_TTL / 3)
            users = list(self.local)
            until = time.time() + ONLINE_TTL
            try:
                for i in range(0, len(users), 1000):
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for user_id in users[i : i + 1000]:
                            key = KEY + user_id
                            pipe.zadd(key, {self._origin: until})
                            pipe.zremrangebyscore(key, "-inf", time.time())  # entries of processes that died
                            pipe.expire(key, int(ONLINE_TTL * 2))
                        await pipe.execute()
            except (RedisError, OSError) as exc:
                log.debug("online registry renewal: %s", exc)
