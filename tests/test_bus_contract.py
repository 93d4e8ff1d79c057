"""One contract for every bus (hudhud.bus.Bus): the in-process bus and the Redis bus.

"Two processes" here are two bus objects of one test, each with its own connections to Redis, which is all a
second process would have. The Redis cases run against a redis-server of the test's own so that it can be
killed and restarted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hudhud.bus import Bus, MemoryBus, Notice
from hudhud.bus.redis import RedisBus


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


class Pair:
    """A publisher and a subscriber bus that share one broker (for the memory bus, one object: one process)."""

    def __init__(self, a: Bus, b: Bus) -> None:
        self.a, self.b = a, b


@pytest.fixture(params=["memory", "redis"])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    if request.param == "memory":
        bus = MemoryBus()
        await bus.start()
        yield Pair(bus, bus)
        await bus.close()
        return
    url = request.getfixturevalue("redis_process").url
    a, b = RedisBus(url, poll_interval=0.2), RedisBus(url, poll_interval=0.2)
    await a.start()
    await b.start()
    yield Pair(a, b)
    await a.close()
    await b.close()


def recorder() -> tuple[list[Notice], Callable[[Notice], None]]:
    got: list[Notice] = []
    return got, got.append


async def test_a_notice_published_after_subscribe_returns_arrives(pair: Pair) -> None:
    got, handler = recorder()
    await pair.b.subscribe("user:u1", handler)
    await pair.a.publish("user:u1", {"t": "msg", "c": "c1", "s": 1})
    await until(lambda: len(got) == 1)
    assert got == [{"t": "msg", "c": "c1", "s": 1}]
    assert pair.a.status() == "up" and pair.b.status() == "up"


async def test_notices_arrive_in_the_order_published_and_only_on_their_topic(pair: Pair) -> None:
    mine, handler = recorder()
    other, other_handler = recorder()
    await pair.b.subscribe("user:u1", handler)
    await pair.b.subscribe("user:u2", other_handler)
    for seq in range(1, 301):
        pair.a.publish_nowait("user:u1", {"t": "msg", "c": "c1", "s": seq})
    await pair.a.publish("user:u2", {"t": "typing"})
    await until(lambda: len(mine) == 300 and len(other) == 1)
    assert [n["s"] for n in mine] == list(range(1, 301))
    assert other == [{"t": "typing"}]


async def test_every_handler_of_a_topic_gets_it_once_and_unsubscribed_ones_do_not(pair: Pair) -> None:
    first, h1 = recorder()
    second, h2 = recorder()
    await pair.b.subscribe("presence:u9", h1)
    await pair.b.subscribe("presence:u9", h2)
    await pair.a.publish("presence:u9", {"n": 1})
    await until(lambda: len(first) == 1 and len(second) == 1)
    await pair.b.unsubscribe("presence:u9", h1)
    await pair.a.publish("presence:u9", {"n": 2})
    await until(lambda: len(second) == 2)
    await asyncio.sleep(0.1)
    assert first == [{"n": 1}] and second == [{"n": 1}, {"n": 2}]
    await pair.b.unsubscribe("presence:u9", h2)
    await pair.b.unsubscribe("presence:u9", h2)  # twice is harmless
    await pair.a.publish("presence:u9", {"n": 3})
    await asyncio.sleep(0.2)
    assert len(second) == 2


async def test_a_process_gets_its_own_notices_once(pair: Pair) -> None:
    got, handler = recorder()
    await pair.a.subscribe("user:self", handler)
    await pair.a.publish("user:self", {"n": 1})
    assert got == [{"n": 1}]  # at once, before the round trip to Redis
    await asyncio.sleep(0.2)
    assert got == [{"n": 1}]  # and the copy that comes back is not handed over again


async def test_a_failing_handler_does_not_stop_the_others(pair: Pair) -> None:
    got, handler = recorder()

    def broken(_: Notice) -> None:
        raise RuntimeError("boom")

    await pair.b.subscribe("user:u3", broken)
    await pair.b.subscribe("user:u3", handler)
    await pair.a.publish("user:u3", {"n": 1})
    await until(lambda: got == [{"n": 1}])


# -- the Redis bus when Redis fails -----------------------------------------------------------------------------


async def test_redis_restart_reports_gaps_polls_and_resumes(redis_process: Any) -> None:
    a, b = RedisBus(redis_process.url, poll_interval=0.2), RedisBus(redis_process.url, poll_interval=0.2)
    await a.start()
    await b.start()
    gaps: list[float] = []
    b.watch_gaps(lambda: gaps.append(asyncio.get_running_loop().time()))
    got, handler = recorder()
    await b.subscribe("user:u1", handler)
    try:
        redis_process.stop()
        await until(lambda: b.status() != "up")
        assert "redis unavailable" in b.status()
        await until(lambda: len(gaps) >= 3)  # at once, then every poll_interval while Redis is down
        await a.publish("user:u1", {"lost": True})  # dropped, never raised
        await b.subscribe("user:u2", handler)  # subscribing while down returns, and is made on reconnection
        seen = len(gaps)
        redis_process.start()
        await until(lambda: a.status() == "up" and b.status() == "up", timeout=10)
        await until(lambda: len(gaps) > seen)  # once more when it is back: read what was missed
        await a.publish("user:u1", {"n": 1})
        await a.publish("user:u2", {"n": 2})
        await until(lambda: len(got) == 2)
        assert got == [{"n": 1}, {"n": 2}]
        assert a.dropped >= 1
        # Back up: no more polling.
        settled = len(gaps)
        await asyncio.sleep(0.6)
        assert len(gaps) == settled
    finally:
        await a.close()
        await b.close()


async def test_redis_down_at_start_starts_anyway_and_connects_later(redis_process: Any) -> None:
    redis_process.stop()
    bus = RedisBus(redis_process.url, poll_interval=0.2)
    gaps: list[int] = []
    bus.watch_gaps(lambda: gaps.append(1))
    await bus.start()  # does not raise: the store is the truth
    try:
        assert bus.status() != "up"
        got, handler = recorder()
        await bus.subscribe("user:u1", handler)
        await until(lambda: len(gaps) >= 2)
        redis_process.start()
        await until(lambda: bus.status() == "up", timeout=10)
        other = RedisBus(redis_process.url)
        await other.start()
        await other.publish("user:u1", {"n": 1})
        await until(lambda: got == [{"n": 1}])
        await other.close()
    finally:
        await bus.close()


async def test_a_killed_subscriber_connection_is_noticed_and_remade(redis_process: Any) -> None:
    import redis.asyncio as aioredis

    a, b = RedisBus(redis_process.url, poll_interval=0.2), RedisBus(redis_process.url, poll_interval=0.2)
    await a.start()
    await b.start()
    gaps: list[int] = []
    b.watch_gaps(lambda: gaps.append(1))
    got, handler = recorder()
    await b.subscribe("user:u1", handler)
    admin = aioredis.Redis.from_url(redis_process.url)
    try:
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await until(lambda: len(gaps) >= 2, timeout=10)  # down, then up again
        await until(lambda: b.status() == "up")
        await a.publish("user:u1", {"n": 1})
        await until(lambda: got == [{"n": 1}])
    finally:
        await admin.aclose()
        await a.close()
        await b.close()
