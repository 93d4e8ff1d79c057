"""How fast a process lets sessions start, so that a crowd coming back at once (after an outage, a restart, a
node lost) is taken at a pace the process can carry instead of all at once.

Starting a session is the expensive part of a connection (the token lookup, the catch-up snapshot, the
subscriptions: about 0.6 ms of CPU each, docs/performance.md), so the limit is on `hello`: a token bucket of
`hello_rate` sessions a second with room for a burst of `hello_burst`. A `hello` beyond it is answered with
`unavailable` and a `retry_after` and the connection is closed with 1013 (try again later). The hints are
spread: each refused client is given its own later moment, one `1 / hello_rate` after the previous one's, plus
a random second, so the crowd returns as a steady stream that the bucket can take."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

MAX_HINT = 60.0


class Admission:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._tokens = float(self.burst)
        self._at = clock()
        self._next_slot = 0.0  # the moment promised to the last refused client
        self.admitted = 0
        self.refused = 0

    def admit(self) -> float | None:
        """None if a session may start now; else seconds after which to try again."""
        if self.rate <= 0:
            return None
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            self.admitted += 1
            return None
        self.refused += 1
        self._next_slot = max(self._next_slot, now) + 1 / self.rate
        if self._next_slot - now > MAX_HINT:
            self._next_slot = now + MAX_HINT
        return float(math.ceil(self._next_slot - now + random.random()))
