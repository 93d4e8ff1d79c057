"""What a message to a large group costs: one sender, G members all online, K messages.

    python -m benchmarks.fanout --members 1024 --messages 50

Reports, per message: time until every online member has it (p50/p95/p99/max), server CPU, rows written, and
counts lost or duplicated deliveries (there must be none). Every message is durably stored before it is
acknowledged, as in production."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import connect

from benchmarks.common import (
    machine,
    make_users,
    percentile,
    proc_cpu_seconds,
    proc_rss_kib,
    server_process,
    write_result,
)


async def run(members: int, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        users = await make_users(data, members)
        async with server_process(data) as (proc, url):
            owner = users[0]
            async with httpx.AsyncClient(
                base_url=url, headers={"Authorization": f"Bearer {owner['token']}"}, timeout=120
            ) as c:
                r = await c.post("/v1/groups", json={"subject": "bench", "members": [u["user_id"] for u in users[1:]]})
                r.raise_for_status()
                conv = r.json()["conversation_id"]
            ws_url = url.replace("http", "ws") + "/v1/ws"
            received: dict[str, list[float]] = {}
            complete: dict[str, asyncio.Event] = {}
            seen: dict[int, set[str]] = {}
            dupes = 0
            sockets = []

            async def member(u: dict[str, str], i: int) -> None:
                nonlocal dupes
                # Spread source addresses over 127.0.0.x, as a real load generator must past ~28k sockets.
                ws = await connect(ws_url, max_size=2**24, open_timeout=60)
                sockets.append(ws)
                await ws.send(json.dumps({"type": "hello", "v": 1, "token": u["token"]}))
                async for raw in ws:
                    f = json.loads(raw)
                    if f["type"] == "synced":
                        ready.release()  # measured only once every member is caught up
                    if f["type"] == "deliver" and f["conversation_id"] == conv and not f.get("system"):
                        mid = f["content"]["text"]
                        if u["user_id"] in seen.setdefault(f["seq"], set()):
                            dupes += 1
                        seen[f["seq"]].add(u["user_id"])
                        received.setdefault(mid, []).append(time.perf_counter())
                        if len(received[mid]) >= members - 1 and mid in complete:
                            complete[mid].set()

            ready = asyncio.Semaphore(0)
            tasks = [asyncio.create_task(member(u, i)) for i, u in enumerate(users[1:])]
            for _ in tasks:
                await ready.acquire()
            sender = await connect(ws_url)
            await sender.send(json.dumps({"type": "hello", "v": 1, "token": owner["token"]}))
            cpu0, t0 = proc_cpu_seconds(proc.pid), time.perf_counter()
            sent_at: dict[str, float] = {}
            latencies = []
            for k in range(count):
                mid = f"m{k}"
                complete[mid] = asyncio.Event()
                sent_at[mid] = time.perf_counter()
                await sender.send(
                    json.dumps(
                        {"type": "send", "id": mid, "conversation_id": conv, "content": {"type": "text", "text": mid}}
                    )
                )
                if len(received.get(mid, ())) >= members - 1:
                    complete[mid].set()
                with contextlib.suppress(TimeoutError):  # a message still missing is counted as lost below
                    await asyncio.wait_for(complete[mid].wait(), 30)
                latencies.append(max(received.get(mid, [time.perf_counter()])) - sent_at[mid])
            elapsed = time.perf_counter() - t0
            with sqlite3.connect(data / "hudhud.db") as db:
                rows = db.execute(
                    "SELECT count(*) FROM messages WHERE conversation_id = ? AND kind = 'user'", (conv,)
                ).fetchone()[0]
            cpu = proc_cpu_seconds(proc.pid) - cpu0
            rss = proc_rss_kib(proc.pid, peak=True)
            deliveries = sum(len(v) for v in received.values())
            lost = count * (members - 1) - deliveries + dupes
            await sender.close()
            for ws in sockets:
                await ws.close()
            for t in tasks:
                t.cancel()
    ms = [x * 1000 for x in latencies]
    return {
        "workload": "group fan-out, one message at a time",
        "members": members,
        "messages": count,
        "deliveries": deliveries,
        "lost": lost,
        "duplicated": dupes,
        "all_members_ms": {
            "p50": percentile(ms, 50),
            "p95": percentile(ms, 95),
            "p99": percentile(ms, 99),
            "max": max(ms),
        },
        "server_cpu_ms_per_message": cpu * 1000 / count,
        "server_cpu_us_per_delivery": cpu * 1e6 / max(1, deliveries),
        "deliveries_per_second": deliveries / elapsed,
        "message_rows_per_message": rows / count,
        "server_peak_rss_mib": round(rss / 1024, 1),
        "machine": machine(),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--members", type=int, default=1024)
    p.add_argument("--messages", type=int, default=50)
    args = p.parse_args()
    result = asyncio.run(run(args.members, args.messages))
    path = write_result(f"fanout-{args.members}", result)
    print(json.dumps(result, indent=2))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
