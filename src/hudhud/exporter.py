"""`/metrics`: this process's counts (hudhud.metrics) in the Prometheus text format, summed over the workers.

The counts live in plain attributes where they happen; `Exporter.flush` hands what changed since its last call
to prometheus_client's objects (one update per metric, not per event). A scrape flushes first, so a lone process
answers with its counts as of that moment. With several workers (`PROMETHEUS_MULTIPROC_DIR` set), every worker
also flushes each `FLUSH_INTERVAL` seconds into its files in that directory, and a scrape, whichever worker
takes it, reads them all: the sum is exact for the worker that answers and at most `FLUSH_INTERVAL` old for the
others. The metrics and their meaning are listed in docs/deploy.md ("Metrics").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest, values
from prometheus_client import Histogram as PromHistogram
from prometheus_client.multiprocess import MultiProcessCollector

from hudhud import __version__
from hudhud.metrics import Histogram, multiprocess_dir, worker_id

if TYPE_CHECKING:
    from hudhud.app import Hudhud

FLUSH_INTERVAL = 1.0  # seconds between two flushes of a worker's counts into the shared directory
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

# `_created` series (the time each counter was made) double the output and are not written in multiprocess mode.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


def _rss_bytes() -> float:
    try:
        with open("/proc/self/statm") as f:
            return float(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError):
        return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # the peak, where /proc is not


class Exporter:
    """The Prometheus side of one node's metrics. One per served app."""

    def __init__(self, hub: Hudhud) -> None:
        self.hub = hub
        self.path = multiprocess_dir()
        if self.path is not None and not getattr(values.ValueClass, "_multiprocess", False):
            # prometheus_client picks its value class when first imported; a worker forked from a process that
            # imported it before the directory was set would otherwise count in memory only.
            values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
        # A lone process keeps its metrics in a registry of its own (tests run several nodes in one process);
        # workers' metrics live in their files, which a scrape reads.
        self.registry = None if self.path is not None else CollectorRegistry()
        r = self.registry
        m, db = hub.metrics, hub.db
        self._counters: list[tuple[Counter, Callable[[], float], list[float]]] = []

        def counter(name: str, doc: str, source: Callable[[], float]) -> None:
            self._counters.append((Counter(name, doc, registry=r), source, [0.0]))

        counter("hudhud_connections_total", "WebSocket connections opened.", lambda: m.connections_total)
        counter("hudhud_frames_in_total", "WebSocket frames received and handled.", lambda: m.frames_in)
        counter("hudhud_frames_out_total", "WebSocket frames queued for sending.", lambda: m.frames_out)
        counter(
            "hudhud_messages_sent_total", "New messages stored (duplicates not counted).", lambda: hub.messaging.stored
        )
        counter("hudhud_messages_delivered_total", "Deliver frames queued on a socket.", lambda: m.messages_delivered)
        counter("hudhud_commit_batches_total", "Group commits.", lambda: db.batches)
        counter("hudhud_commit_ops_total", "Write operations in the group commits.", lambda: db.ops)
        msg = hub.messaging
        counter(
            "hudhud_recent_hits_total",
            "Woken feeds served from the memory of recently committed messages.",
            lambda: msg.recent.hits if msg.recent else 0,
        )
        counter(
            "hudhud_recent_misses_total",
            "Woken feeds that had to read the database.",
            lambda: msg.recent.misses if msg.recent else 0,
        )
        counter(
            "hudhud_discovery_units_total", "Contact discovery units spent.", lambda: hub.contacts.discovery_units_total
        )
        counter(
            "hudhud_discovery_alarms_total",
            "Hours in which service-wide discovery passed discovery_alarm_per_hour.",
            lambda: hub.contacts.discovery_alarms_total,
        )
        self._errors = Counter("hudhud_client_errors_total", "Error replies to clients, by code.", ["code"], registry=r)
        self._errors_sent: dict[str, int] = {}
        self._open = Gauge(
            "hudhud_connections_open", "WebSocket connections open now.", registry=r, multiprocess_mode="livesum"
        )
        info = Gauge(
            "hudhud_process_info",
            "1 for each live server process.",
            ["version", "worker"],
            registry=r,
            multiprocess_mode="liveall",
        )
        info.labels(__version__, str(worker_id())).set(1)
        self._cpu = Gauge(
            "hudhud_process_cpu_seconds",
            "CPU time used by the process, all threads.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self._rss = Gauge(
            "hudhud_process_resident_memory_bytes",
            "Resident memory of the process.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self._histograms: list[tuple[PromHistogram, Histogram, list[int], list[float]]] = []

        def histogram(name: str, doc: str, source: Histogram) -> None:
            h = PromHistogram(name, doc, registry=r, buckets=source.bounds)
            self._histograms.append((h, source, [0] * len(source.counts), [0.0]))

        histogram(
            "hudhud_delivery_latency_seconds",
            "From a message's server timestamp to its deliver frame being queued on a connected device's socket.",
            m.delivery_latency,
        )
        histogram("hudhud_bus_lag_seconds", "From a bus notice's publication to its handler.", m.bus_lag)
        histogram("hudhud_commit_batch_ops", "Write operations per group commit.", db.batch_sizes)
        histogram("hudhud_commit_seconds", "From a group commit's start to its commit.", db.commit_seconds)
        self._task: asyncio.Task[None] | None = None

    def flush(self) -> None:
        """Hand what was counted since the last flush to prometheus_client."""
        for c, source, last in self._counters:
            now = float(source())
            if now != last[0]:
                c.inc(now - last[0])
                last[0] = now
        sent = self._errors_sent
        for code, n in list(self.hub.metrics.errors.items()):
            if n != sent.get(code, 0):
                self._errors.labels(code).inc(n - sent.get(code, 0))
                sent[code] = n
        self._open.set(self.hub.metrics.connections)
        self._cpu.set(time.process_time())
        self._rss.set(_rss_bytes())
        for h, local, last_counts, last_sum in self._histograms:
            counts = local.counts
            if counts == last_counts:
                continue
            # prometheus_client has no call to add n observations at once: add to its per-bucket values (not
            # cumulative; it sums them when collected) and to its sum, as `observe` does one at a time.
            for i, (value, n) in enumerate(zip(h._buckets, counts, strict=True)):
                if n != last_counts[i]:
                    value.inc(n - last_counts[i])
                    last_counts[i] = n
            h._sum.inc(local.sum - last_sum[0])
            last_sum[0] = local.sum

    def render(self) -> bytes:
        """The text for a scrape: this process's counts as of now, plus (with workers) the other workers'."""
        self.flush()
        if self.path is None:
            assert self.registry is not None
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.path)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    # -- with several workers: flush on a timer --------------------------------------------------------------

    def start(self) -> None:
        if self.path is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="hudhud-metrics")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            self.flush()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()  # the last counts of a worker on its way out stay in the sums
