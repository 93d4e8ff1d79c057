"""The five workloads of the benchmark suite. Each takes its sizes as parameters and returns a result dict;
`benchmarks/run.py` runs them against a fresh server process and prints and saves the figures.

W1 one-to-one   P pairs, each sender keeping up to 10 messages in flight until the receiver has them; the
                receiver acknowledges every delivery (receipts on, as in production).
W2 group        a group of G members, 5 senders; deliveries per second summed over members.
W3 idle         N authenticated idle connections; server memory per connection.
W4 catch-up     a device that missed M messages reconnects; time until it is up to date.
W5 storm        N connected clients lose the server at once (restart); time until all are back.
W1 real         one-to-one traffic as real clients make it: many pairs chatting at human rates, the server at
                its default settings (rate limit on), each receiver acking and reading the way the web client
                (or the Python SDK) does, pings included; server CPU per delivered message.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.common import (
    percentile,
    proc_cpu_seconds,
    proc_rss_kib,
    server_metrics,
    server_process,
    thread_cpu_seconds,
)
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


BROWSER_STORE_S = 0.005  # an IndexedDB transaction of a few messages, before the web client acks them
BROWSER_PING_S = 25.0  # the web client's application-level ping (webapp/src/net/session.ts)
SDK_ACK_DELAY_S = 0.05  # the Python SDK's ack batching delay (client/net/core.py)
SDK_PING_S = 20.0  # the Python SDK's WebSocket-level ping interval


class RealClient:
    """What one device of a real client sends in answer to what it receives (docs/protocol.md 6.3, 6.5, 7).

    browser (webapp/src/net/session.ts, state/chats.ts): on `deliver`, the open chat marks it read at once
    (`read`), the message is written to IndexedDB and, once written, acked; deliveries arriving during that
    write are stored and acked together by the next one. An application `ping` every 25 s.
    sdk (client/net/session.py): acks (then reads) of each conversation go out together at most every 50 ms;
    WebSocket-level pings every 20 s.
    """

    def __init__(self, bot: Bot, kind: str, reads: bool, fire: Any) -> None:
        self.bot, self.kind, self.reads, self.fire = bot, kind, reads, fire
        self.stored: dict[str, int] = {}  # waiting for the store write (browser) or the ack delay (sdk)
        self.to_read: dict[str, int] = {}
        self.acked: dict[str, int] = {}
        self.read_sent: dict[str, int] = {}
        self.busy = False
        self.loop = asyncio.get_running_loop()

    def deliver(self, conv: str, seq: int) -> None:
        self.stored[conv] = max(seq, self.stored.get(conv, 0))
        if self.reads:
            if self.kind == "browser":
                if seq > self.read_sent.get(conv, 0):
                    self.read_sent[conv] = seq
                    self.fire(self.bot, {"type": "read", "conversation_id": conv, "seq": seq})
            else:
                self.to_read[conv] = max(seq, self.to_read.get(conv, 0))
        if not self.busy:
            self._start()

    def _start(self) -> None:
        self.busy = True
        batch, self.stored = self.stored, {}
        delay = BROWSER_STORE_S if self.kind == "browser" else SDK_ACK_DELAY_S
        self.loop.call_later(delay, self._written, batch)

    def _written(self, batch: dict[str, int]) -> None:
        if self.kind == "sdk":
            batch.update({c: max(s, batch.get(c, 0)) for c, s in self.stored.items()})
            self.stored = {}
        for conv, seq in batch.items():
            if seq > self.acked.get(conv, 0):
                self.acked[conv] = seq
                self.fire(self.bot, {"type": "ack", "conversation_id": conv, "seq": seq})
        if self.kind == "sdk":
            reads, self.to_read = self.to_read, {}
            for conv, seq in reads.items():
                self.fire(self.bot, {"type": "read", "conversation_id": conv, "seq": seq})
        self.busy = False
        if self.stored:
            self._start()

    def ping(self) -> None:
        self.fire(self.bot, {"type": "ping", "ref": "keepalive"})  # the next one is due on its pong


async def w1_real(
    url: str,
    pid: int,
    users: list[dict[str, str]],
    pairs: int,
    seconds: float,
    rate: float,
    *,
    client: str = "browser",
    reads: bool = True,
    warmup: float = 3.0,
    ws_urls: list[str] | None = None,
) -> dict[str, Any]:
    """`pairs` one-to-one chats, both members of each online with one device and the chat open, sending to each
    other at random (Poisson arrivals, `rate` messages a second in all, each user at rate / (2 * pairs)), as
    people do; the server runs with its default settings (the caller starts it so). Each receiver answers as
    `RealClient` says. Figures: server CPU per delivered message over the `seconds` after `warmup`, latency from
    send to delivery and to `sent`, frames and commits per message (from /metrics), lost and duplicated
    messages counted by id, errors by code (rate_limited would mean the offered load breaks the default limit).
    `ws_urls`: several nodes; the members of a pair go to different ones (so every message crosses the bus)."""
    assert client in ("browser", "sdk")
    urls = ws_urls or [url.replace("http", "ws") + "/v1/ws"]
    n = 2 * pairs
    bots = [Bot(urls[i % len(urls)], users[i]) for i in range(n)]
    tr = Tracker()
    sent_lat: list[tuple[float, float]] = []
    errors: collections.Counter[str] = collections.Counter()
    got_frames: collections.Counter[str] = collections.Counter()
    convs: list[str] = [""] * pairs
    opened = asyncio.Event()
    background: set[asyncio.Future[None]] = set()
    loop = asyncio.get_running_loop()

    async def quietly(b: Bot, frame: dict[str, Any]) -> None:
        with contextlib.suppress(Exception):  # the connection closed at the end of the run
            await b.send(frame)

    def fire(b: Bot, frame: dict[str, Any]) -> None:
        task = asyncio.ensure_future(quietly(b, frame))
        background.add(task)
        task.add_done_callback(background.discard)

    clients = [RealClient(b, client, reads, fire) for b in bots]
    for i, (b, rc) in enumerate(zip(bots, clients, strict=True)):

        def on_frame(f: dict[str, Any], rc: RealClient = rc, i: int = i) -> None:
            t = f["type"]
            got_frames[t] += 1
            if t == "deliver":
                tr.on_deliver(f["id"])
                rc.deliver(f["conversation_id"], f["seq"])
            elif t == "sent":
                at = tr.sent.get(f["id"])
                if at is not None:
                    sent_lat.append((at, now() - at))
                elif f["id"].startswith("open-"):
                    convs[i // 2] = f["conversation_id"]
                    if all(convs):
                        opened.set()
            elif t == "pong" and client == "browser":
                loop.call_later(BROWSER_PING_S, rc.ping)
            elif t == "error":
                errors[f.get("code", "?")] += 1

        b.on_frame = on_frame
    ping = SDK_PING_S if client == "sdk" else None
    for k in range(0, n, 200):
        await asyncio.gather(*(b.connect(ping_interval=ping) for b in bots[k : k + 200]))
    await asyncio.gather(*(asyncio.wait_for(b.synced.wait(), 120) for b in bots))
    run_id = random.randbytes(4).hex()
    # Open each chat once (by user id, as a first message does), then send into it by conversation id.
    for p in range(pairs):
        fire(bots[2 * p], _text_send(f"open-{run_id}-{p}", to=users[2 * p + 1]["user_id"]))
    await asyncio.wait_for(opened.wait(), 60)
    if client == "browser":
        for rc in clients:  # spread over the interval, as clients that came online at different times
            loop.call_later(random.uniform(0, BROWSER_PING_S), rc.ping)

    t_start = now()
    t0 = t_start + warmup
    stop = t0 + seconds
    marks: dict[str, Any] = {}

    async def mark(at: float, key: str) -> None:
        await asyncio.sleep(max(0.0, at - now()))
        marks[key] = (now(), proc_cpu_seconds(pid), thread_cpu_seconds(pid), time.process_time())
        marks[key + "_metrics"] = await server_metrics(url)

    marking = [asyncio.ensure_future(mark(t0, "t0")), asyncio.ensure_future(mark(stop, "stop"))]
    counter = 0
    next_at = now()
    while now() < stop:
        next_at += random.expovariate(rate)
        delay = next_at - now()
        if delay > 0:
            await asyncio.sleep(delay)
        i = random.randrange(n)
        counter += 1
        mid = f"r-{run_id}-{counter}"
        tr.sent[mid] = now()
        await bots[i].send(_text_send(mid, conversation_id=convs[i // 2]))
    await asyncio.gather(*marking)
    await asyncio.sleep(2)  # let the last ones arrive before counting
    for b in bots:
        await b.close()
    (w0, cpu0, th0, lg0), (w1, cpu1, th1, lg1) = marks["t0"], marks["stop"]
    m0, m1 = marks["t0_metrics"], marks["stop_metrics"]
    elapsed = w1 - w0
    measured = [k for k, at in tr.sent.items() if t0 <= at < stop]
    delivered = sum(1 for k in measured if tr.got.get(k))
    per_msg = max(1, delivered)
    cpu = cpu1 - cpu0
    diff = {k: m1[k] - m0.get(k, 0.0) for k in m1}
    return {
        "pairs": pairs,
        "connections": n,
        "client": client,
        "reads": reads,
        "offered_rate": rate,
        "per_user_per_minute": round(rate / n * 60, 2),
        "seconds": round(elapsed, 2),
        "window": [w0, w1],  # perf_counter (CLOCK_MONOTONIC): comparable between processes of this machine
        "warmup_s": warmup,
        "sent": len(measured),
        "delivered": delivered,
        "per_second": delivered / elapsed,
        "latency_ms": lat_summary([lat for at, lat in tr.timeline if t0 <= at < stop]),
        "sent_latency_ms": lat_summary([lat for at, lat in sent_lat if t0 <= at < stop]),
        "lost": tr.lost(),  # over the whole run, warm-up included
        "duplicated": tr.duplicated(),
        "errors": dict(errors),
        "server_cpu_s": round(cpu, 2),
        "server_cpu_us_per_message": cpu * 1e6 / per_msg,
        "server_cpu_share_of_a_core": round(cpu / elapsed, 3),
        "thread_cpu_us_per_message": {
            k: round((v - th0.get(k, 0.0)) * 1e6 / per_msg, 1) for k, v in th1.items() if v - th0.get(k, 0.0) > 0
        },
        "loadgen_cpu_share_of_a_core": round((lg1 - lg0) / elapsed, 3),
        "per_message": {
            "frames_in": round(diff.get("frames_in_total", 0) / per_msg, 2),
            "frames_out": round(diff.get("frames_out_total", 0) / per_msg, 2),
            "commit_batches": round(diff.get("commit_batches_total", 0) / per_msg, 3),
            "commit_ops": round(diff.get("commit_ops_total", 0) / per_msg, 2),
        },
        "ops_per_commit": round(diff.get("commit_ops_total", 0) / max(1, diff.get("commit_batches_total", 0)), 2),
        "frames_received_by_clients": dict(got_frames),
    }


def _text_send(mid: str, *, to: str | None = None, conversation_id: str | None = None) -> dict[str, Any]:
    """A text message as the web client sends it (webapp/src/net/session.ts `sendEntry`)."""
    text = "".join(random.choices("abcdefghij klmnopqrstuvwxyz", k=random.randint(8, 80)))
    frame: dict[str, Any] = {"type": "send", "id": mid, "content": {"type": "text", "text": text}, "ref": "s:" + mid}
    if conversation_id is not None:
        frame["conversation_id"] = conversation_id
    else:
        frame["to"] = to
    return frame
