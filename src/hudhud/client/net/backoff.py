"""Reconnect delays (the counterpart of the browser's `webapp/src/net/backoff.ts`)."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base·2^attempt)]. Spreads the reconnects of many clients after an
    outage instead of having them all come back at the same instants."""
    ceiling = min(cap, base * (2 ** min(attempt, 32)))
    return (rng or random).uniform(0, ceiling)
