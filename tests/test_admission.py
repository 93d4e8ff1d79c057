"""Admission of sessions (web/admission.py): a crowd arriving at once is taken at `hello_rate`, the rest are told
when to come back, with hints spread so that they return as a stream; and over a real socket the refusal is an
`unavailable` error with `retry_after` and close 1013."""

from __future__ import annotations

import asyncio
import itertools

from hudhud.web.admission import Admission


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_admitted_then_the_rest_get_spread_hints() -> None:
    clock = FakeTime()
    gate = Admission(rate=10, burst=5, clock=clock)
    assert [gate.admit() for _ in range(5)] == [None] * 5
    hints = [gate.admit() for _ in range(30)]
    assert all(h is not None and h >= 1 for h in hints)
    # Later arrivals are sent later (each hint adds up to a random second to its client's moment).
    assert all(b >= a - 1 for a, b in itertools.pairwise(hints))
    assert hints[-1] > hints[0]
    assert hints[-1] is not None and 3 <= hints[-1] <= 5  # 30 clients at 10 a second: about three seconds on
    # Tokens come back with time, up to the burst.
    clock.now += 0.35
    assert [gate.admit() for _ in range(3)] == [None] * 3
    assert gate.admit() is not None
    clock.now += 10
    assert [gate.admit() for _ in range(5)] == [None] * 5
    assert gate.admit() is not None
    assert gate.admitted == 13 and gate.refused == 32


def test_hints_are_capped_and_no_limit_means_no_refusal() -> None:
    clock = FakeTime()
    gate = Admission(rate=1, burst=1, clock=clock)
    gate.admit()
    hints = [gate.admit() for _ in range(500)]
    assert max(h for h in hints if h is not None) <= 61
    assert Admission(rate=0, burst=0).admit() is None


async def test_a_hello_over_the_rate_is_told_to_come_back(server_factory) -> None:
    async with server_factory(hello_rate=1, hello_burst=2) as server:
        tokens = [(await server.make_user(f"+2010012345{i:02d}"))[2] for i in range(4)]
        first = [await server.client(t) for t in tokens[:2]]  # the burst
        late = await server.client(tokens[2], hello=False)
        await late.send({"type": "hello", "v": 1, "token": tokens[2]})
        err = await late.expect("error")
        assert err["code"] == "unavailable" and err["retry_after"] >= 1
        await asyncio.wait_for(late.closed.wait(), 5)
        assert late.close_code == 1013
        # The sessions already started are not touched, and after the hint the client gets in.
        assert not any(c.closed.is_set() for c in first)
        await asyncio.sleep(err["retry_after"])
        again = await server.client(tokens[2])
        assert not again.closed.is_set()
