"""The five workloads of the benchmark suite. Each takes its sizes as parameters and returns a result dict;
`benchmarks/run.py` runs them against a fresh server process and prints and saves the figures.

W1 one-to-one   P pairs, each sender keeping up to 10 messages in flight until the receiver has them; the
                receiver acknowledges every delivery (receipts on, as in production).
W2 group        a group of G members, 5 senders; deliveries per second summed over members.
W3 idle         N authenticated idle connections; server memory per connection.
W4 catch-up     a device that missed M messages reconnects; time until it is up to date.
W5 storm        N connected clients lose the server at once (restart); time until all are back.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import percentile, proc_cpu_seconds, proc_rss_kib, server_process
from benchmarks.loadgen import Bot, now


def lat_summary(seconds: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in seconds]
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else float("nan"),
    }


class Tracker:
    """Counts deliveries by unique message id: lost and duplicated are computed, never assumed."""

    def __init__(self) -> None:
        self.sent: dict[str, float] = {}
        self.got: dict[str, int] = {}
        self.latencies: list[float] = []
        self.timeline: list[tuple[float, float]] = []

    def on_deliver(self, key: str) -> None:
        n = self.got.get(key, 0)
        self.got[key] = n + 1
        if n == 0 and key in self.sent:
            self.latencies.append(now() - self.sent[key])
            self.timeline.append((self.sent[key], self.latencies[-1]))

    def lost(self, expected: int | None = None) -> int:
        want = expected if expected is not None else len(self.sent)
        return want - sum(1 for k in self.sent if self.got.get(k))

    def duplicated(self) -> int:
        return sum(n - 1 for n in self.got.values() if n > 1)


async def connect_all(bots: list[Bot], batch: int = 200) -> None:
    for i in range(0, len(bots), batch):
        await asyncio.gather(*(b.connect() for b in bots[i : i + batch]))
    await asyncio.gather(*(asyncio.wait_for(b.synced.wait(), 120) for b in bots))


async def w1_pairs(
    url: str,
    pid: int,
    users: list[dict[str, str]],
    pairs: int,
    seconds: float,
    rate: float | None = None,
    window: int = 10,
    warmup: float = 1.0,
) -> dict[str, Any]:
    """`warmup` seconds of the same load run first and are left out of throughput, CPU and latency (they are
    still checked for loss and duplicates, and their latency is reported apart): they open every chat and
    compile every statement, which a server does once, not per message."""
    ws_url = url.replace("http", "ws") + "/v1/ws"
    senders = [Bot(ws_url, users[2 * i]) for i in range(pairs)]
    receivers = [Bot(ws_url, users[2 * i + 1]) for i in range(pairs)]
    tr = Tracker()
    slots = [asyncio.Semaphore(window) for _ in range(pairs)]
    pending: set[asyncio.Future[None]] = set()
    for i, r in enumerate(receivers):

        def on_frame(f: dict[str, Any], r: Bot = r, i: int = i) -> None:
            if f["type"] == "deliver":
                tr.on_deliver(f["id"])
                slots[i].release()
                ack = {"type": "ack", "conversation_id": f["conversation_id"], "seq": f["seq"]}
                task = asyncio.ensure_future(r.send(ack))
                pending.add(task)
                task.add_done_callback(pending.discard)

        r.on_frame = on_frame
    await connect_all(senders + receivers)
    t0 = now() + warmup  # the measured part starts here
    stop = t0 + seconds
    cpu_at_t0: list[float] = []

    async def start_measuring() -> None:
        await asyncio.sleep(max(0.0, t0 - now()))
        cpu_at_t0.append(proc_cpu_seconds(pid))

    measuring = asyncio.ensure_future(start_measuring())
    counter = 0
    run_id = random.randbytes(4).hex()

    async def pump(i: int) -> None:
        nonlocal counter
        s, to = senders[i], receivers[i].user["user_id"]
        interval = pairs / rate if rate else 0.0
        next_at = now()
        while now() < stop:
            if rate:
                next_at += interval
                delay = next_at - now()
                if delay > 0:
                    await asyncio.sleep(delay)
            await slots[i].acquire()
            counter += 1
            mid = f"w1-{run_id}-{i}-{counter}"  # unique across runs: a reused id would be deduplicated
            tr.sent[mid] = now()
            await s.send({"type": "send", "id": mid, "to": to, "content": {"type": "text", "text": "x" * 40}})

    await asyncio.gather(*(pump(i) for i in range(pairs)))
    elapsed = now() - t0
    cpu = proc_cpu_seconds(pid)
    await measuring
    cpu -= cpu_at_t0[0]
    await asyncio.sleep(2)  # let the last ones arrive before counting
    for b in senders + receivers:
        await b.close()
    measured = [k for k, sent_at in tr.sent.items() if sent_at >= t0]
    delivered = sum(1 for k in measured if tr.got.get(k))
    return {
        "pairs": pairs,
        "offered_rate": rate,
        "seconds": round(elapsed, 2),
        "warmup_s": warmup,
        "sent": len(measured),
        "delivered": delivered,
        "per_second": delivered / elapsed,
        "latency_ms": lat_summary([lat for sent_at, lat in tr.timeline if sent_at >= t0]),
        "warmup_latency_ms": lat_summary([lat for sent_at, lat in tr.timeline if sent_at < t0]),
        "lost": tr.lost(),  # over the whole run, warm-up included
        "duplicated": tr.duplicated(),
        "server_cpu_s": round(cpu, 2),
        "server_cpu_us_per_message": cpu * 1e6 / max(1, delivered),
    }


async def w2_group(
    url: str, pid: int, users: list[dict[str, str]], members: int, seconds: float, senders: int = 5, window: int = 10
) -> dict[str, Any]:
    ws_url = url.replace("http", "ws") + "/v1/ws"
    owner = users[0]
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {owner['token']}"}, timeout=120) as c:
        r = await c.post("/v1/groups", json={"subject": "bench", "members": [u["user_id"] for u in users[1:members]]})
        r.raise_for_status()
        conv = r.json()["conversation_id"]
        for u in users[1:senders]:
            await c.post(f"/v1/groups/{conv}/members/{u['user_id']}/promote")
    bots = [Bot(ws_url, u) for u in users[:members]]
    tr = Tracker()
    first_seen: dict[str, int] = {}
    deliveries = 0
    slots = [asyncio.Semaphore(window) for _ in range(senders)]

    for b in bots:

        def on_frame(f: dict[str, Any], who: str = b.user["user_id"]) -> None:
            nonlocal deliveries
            if f["type"] == "deliver" and not f.get("system"):
                deliveries += 1
                tr.on_deliver(f"{f['id']}@{who}")
                n = first_seen[f["id"]] = first_seen.get(f["id"], 0) + 1
                if n == members - 1:  # everyone but the sender has it
                    slots[int(f["id"].split("-")[1])].release()

        b.on_frame = on_frame
    await connect_all(bots)
    stop = now() + seconds
    cpu0, t0, d0 = proc_cpu_seconds(pid), now(), deliveries
    sent = 0

    async def pump(i: int) -> None:
        nonlocal sent
        k = 0
        while now() < stop:
            await slots[i].acquire()
            k += 1
            sent += 1
            await bots[i].send(
                {
                    "type": "send",
                    "id": f"w2-{i}-{k}",
                    "conversation_id": conv,
                    "content": {"type": "text", "text": "y" * 40},
                }
            )

    await asyncio.gather(*(pump(i) for i in range(senders)))
    elapsed = now() - t0
    await asyncio.sleep(2)
    cpu = proc_cpu_seconds(pid) - cpu0
    for b in bots:
        await b.close()
    got = deliveries - d0
    return {
        "members": members,
        "senders": senders,
        "seconds": round(elapsed, 2),
        "messages": sent,
        "deliveries": got,
        "deliveries_per_second": got / elapsed,
        "lost": sent * (members - 1) - sum(first_seen.values()),
        "duplicated": tr.duplicated(),
        "server_cpu_s": round(cpu, 2),
        "server_cpu_us_per_delivery": cpu * 1e6 / max(1, got),
    }


async def w3_idle(url: str, pid: int, users: list[dict[str, str]], connections: int) -> dict[str, Any]:
    ws_url = url.replace("http", "ws") + "/v1/ws"
    await asyncio.sleep(1)
    before = proc_rss_kib(pid)
    bots = [Bot(ws_url, u) for u in users[:connections]]
    t0 = now()
    await connect_all(bots, batch=500)
    connect_s = now() - t0
    await asyncio.sleep(3)
    after = proc_rss_kib(pid)
    for b in bots:
        await b.close()
    return {
        "connections": connections,
        "server_rss_before_mib": round(before / 1024, 1),
        "server_rss_after_mib": round(after / 1024, 1),
        "kib_per_connection": round((after - before) / connections, 2),
        "connect_and_sync_s": round(connect_s, 2),
        "errors": sum(len(b.errors) for b in bots),
    }


async def w4_catch_up(url: str, pid: int, users: list[dict[str, str]], missed: int) -> dict[str, Any]:
    ws_url = url.replace("http", "ws") + "/v1/ws"
    sender, absent = Bot(ws_url, users[0]), Bot(ws_url, users[1])
    acked = 0
    done = asyncio.Event()

    def on_sender(f: dict[str, Any]) -> None:
        nonlocal acked
        if f["type"] == "sent":
            acked += 1
            if acked == missed:
                done.set()

    sender.on_frame = on_sender
    await sender.connect()
    await sender.synced.wait()
    for k in range(missed):
        await sender.send(
            {
                "type": "send",
                "id": f"w4-{k}",
                "to": absent.user["user_id"],
                "content": {"type": "text", "text": "z" * 40},
            }
        )
    await asyncio.wait_for(done.wait(), 300)
    got: list[int] = []
    absent.on_frame = lambda f: got.append(f["seq"]) if f["type"] == "deliver" else None
    t0 = now()
    await absent.connect()
    await asyncio.wait_for(absent.synced.wait(), 300)
    elapsed = now() - t0
    await sender.close()
    await absent.close()
    return {
        "missed": missed,
        "seconds_until_up_to_date": round(elapsed, 3),
        "delivered": len(got),
        "in_order": got == sorted(got),
        "lost": missed - len(set(got)),
        "duplicated": len(got) - len(set(got)),
    }


async def w5_storm(data: Path, users: list[dict[str, str]], clients: int) -> dict[str, Any]:
    """Clients reconnect the way the SDK does: full-jitter exponential backoff from 0.5 s, capped at 30 s."""
    async with server_process(data) as (proc, url):
        ws_url = url.replace("http", "ws") + "/v1/ws"
        bots = [Bot(ws_url, u) for u in users[:clients]]
        await connect_all(bots, batch=500)
        port = int(url.rsplit(":", 1)[1])
        proc.terminate()
        proc.wait(60)
    t0 = now()
    async with server_process(data, port=port) as (proc2, _):

        async def back(b: Bot) -> float:
            attempt = 0
            while True:
                try:
                    await b.connect(timeout=30)
                    await asyncio.wait_for(b.synced.wait(), 60)
                    return now() - t0
                except Exception:  # refused or reset while the server starts: retry, as clients do
                    attempt += 1
                    await asyncio.sleep(random.uniform(0, min(30.0, 0.5 * 2**attempt)))

        times = await asyncio.gather(*(back(b) for b in bots))
        errors = sum(1 for b in bots for e in b.errors if e.get("code") not in ("rate_limited", "unavailable"))
        for b in bots:
            await b.close()
        rss = proc_rss_kib(proc2.pid)
    return {
        "clients": clients,
        "all_back_s": round(max(times), 2),
        "p50_back_s": round(percentile(times, 50), 2),
        "errors_other_than_retry_hints": errors,
        "server_rss_mib": round(rss / 1024, 1),
    }
