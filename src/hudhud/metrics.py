"""What a process counts for `/metrics`, counted where it happens in plain attributes.

The hot path (a frame in, a frame out, a commit) only adds to ints and to the buckets of `Histogram` here:
about 0.06 µs an update. `prometheus_client`'s own objects cost 1 to 3 µs an update, and in multiprocess mode
each one writes to a memory-mapped file, so they are fed from these counts in batches instead, at a scrape and
(with several workers) every second: see `hudhud.exporter`, which names every metric (docs/deploy.md
"Metrics").

With `hudhud serve --workers N` the supervisor gives every worker the same empty directory in
`PROMETHEUS_MULTIPROC_DIR`; each worker writes its counts there and a scrape of any worker sums them all. When a
worker exits the supervisor calls `worker_exited(pid)`, so that its gauges (connections open) stop counting; its
counters stay in the sums, which therefore never go down.
"""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Callable

# Bucket upper bounds (an implicit +Inf follows each).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BUS_LAG_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
COMMIT_SECONDS_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0)


class Histogram:
    """Observations counted per bucket, as Prometheus defines them: bucket i holds the values above bound i-1 and
    at most bound i (the last one, everything above the last bound)."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)


class Metrics:
    """This process's counts, since it started. (Messages stored, commits, the recent-messages cache and contact
    discovery are counted by their own services; the exporter reads them there.)"""

    __slots__ = (
        "bus_lag",
        "connections",
        "connections_total",
        "delivery_latency",
        "errors",
        "frames_in",
        "frames_out",
        "messages_delivered",
        "now",
    )

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now  # the clock that stamped the messages (their created_at)
        self.connections = 0  # WebSockets open now
        self.connections_total = 0
        self.frames_in = 0
        self.frames_out = 0
        self.messages_delivered = 0  # deliver frames queued on a socket
        self.errors: dict[str, int] = {}  # error replies, by code
        self.delivery_latency = Histogram(LATENCY_BUCKETS)
        self.bus_lag = Histogram(BUS_LAG_BUCKETS)

    def client_error(self, code: str) -> None:
        """An error reply with this code went to a client (REST or WebSocket)."""
        self.errors[code] = self.errors.get(code, 0) + 1

    def delivered(self, created_at: float, live: bool) -> None:
        """A deliver frame of a message stamped `created_at` was queued on a socket. `live`: the device was
        connected when it was sent; only those count in the latency (a catch-up after connecting measures how
        long the device was away, not the server)."""
        self.messages_delivered += 1
        if live:
            latency = self.now() - created_at
            self.delivery_latency.observe(latency if latency > 0.0 else 0.0)

    def notice_received(self, at: float) -> None:
        """A notice from another process, published at `at` (the publisher's time.time()), reached this
        process's bus (bus/redis.py)."""
        lag = time.time() - at
        self.bus_lag.observe(lag if lag > 0.0 else 0.0)


def multiprocess_dir() -> str | None:
    """The directory workers share their counts in, when the supervisor set one."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def worker_id() -> int:
    """This worker's index under `hudhud serve --workers N` (HUDHUD_WORKER), 0 for a lone process."""
    try:
        return int(os.environ.get("HUDHUD_WORKER", "0"))
    except ValueError:
        return 0


def worker_exited(pid: int, path: str | None = None) -> None:
    """For the supervisor, when a worker process has exited (however it ended): drop its gauges from the shared
    directory, `path` or PROMETHEUS_MULTIPROC_DIR (its counters and histograms stay in the sums)."""
    path = path or multiprocess_dir()
    if path is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
