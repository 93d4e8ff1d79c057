"""Scale-out benchmarks: W1 real on one or more worker processes and nodes, PostgreSQL and Redis beside the
embedded SQLite, driven by a load generator of several processes (so that the generator is not what the figures
measure).

    python -m benchmarks.scale                                  # every layout, quick (a few minutes)
    python -m benchmarks.scale --layouts pg-2w --rates 2000,4000,8000
    python -m benchmarks.scale --generators 3 --pairs 600 --seconds 20

Layouts:
  sqlite-1   the default: one process, SQLite, in-process bus
  pg-1       one process on PostgreSQL with the Redis bus
  pg-2w      `--workers 2` on PostgreSQL and Redis (one node, both cores)
  pg-2n      two nodes (two `hudhud serve` processes, one worker each) on one PostgreSQL and one Redis; the two
             members of every pair are on different nodes, so every message crosses Redis. On one machine this
             shows the cost of the second node, not a gain.

Each point: `pairs` one-to-one chats whose members ack and read as the web client does (benchmarks/workloads.py
`w1_real`), Poisson sends at the offered rate split over the generator processes; server CPU is that of every
hudhud process (supervisor and workers), sampled around the common measuring window; latency is send to
delivery, over every generator's messages. Lost and duplicated messages are counted by id.
The machine's PostgreSQL (HUDHUD_BENCH_POSTGRES_URL, default postgresql://root@127.0.0.1:5432/test: a database
is made per run) and Redis (HUDHUD_BENCH_REDIS_URL, default redis://127.0.0.1:6379/9) are used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from benchmarks import workloads as w
from benchmarks.common import free_port, machine, make_users, proc_cpu_seconds, write_result

PG = os.environ.get("HUDHUD_BENCH_POSTGRES_URL", "postgresql://root@127.0.0.1:5432/test")
REDIS = os.environ.get("HUDHUD_BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
LAYOUTS = {
    "sqlite-1": {"engine": "sqlite", "workers": 1, "nodes": 1},
    "pg-1": {"engine": "postgresql", "workers": 1, "nodes": 1},
    "pg-2w": {"engine": "postgresql", "workers": 2, "nodes": 1},
    "pg-2n": {"engine": "postgresql", "workers": 1, "nodes": 2},
}


def _psql(sql: str) -> None:
    base = PG.rsplit("/", 1)[0]
    subprocess.run(["psql", f"{base}/postgres", "-qc", sql], check=True, capture_output=True)


def tree_pids(pid: int) -> list[int]:
    """`pid` and its descendants (a supervisor's workers)."""
    out = [pid]
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for child in f.read().split():
                    out += tree_pids(int(child))
    except OSError:
        pass
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


class CpuSampler:
    """Samples the CPU seconds of the server processes and of the machine every 0.2 s, so that the figure over
    any window can be read afterwards."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.samples: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _cpu(self) -> float:
        total = 0.0
        for root in self.roots:
            for pid in tree_pids(root):
                with contextlib.suppress(OSError):  # the process has ended
                    total += proc_cpu_seconds(pid)
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), self._cpu(), machine_busy()[0]))
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, t0: float, t1: float) -> tuple[float, float]:
        """(server CPU seconds, machine busy seconds) between two perf_counter moments (nearest samples)."""
        a = min(self.samples, key=lambda s: abs(s[0] - t0))
        b = min(self.samples, key=lambda s: abs(s[0] - t1))
        return b[1] - a[1], b[2] - a[2]


def _generator(args: tuple[str, list[str], list[dict[str, str]], int, float, float, float]) -> dict[str, Any]:
    url, ws_urls, users, pairs, seconds, rate, warmup = args
    return asyncio.run(
        w.w1_real(url, os.getpid(), users, pairs, seconds, rate, client="browser", warmup=warmup, ws_urls=ws_urls)
    )


async def _ready(url: str) -> None:
    async with httpx.AsyncClient() as c:
        for _ in range(600):
            try:
                if (await c.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready")


async def run_point(layout: str, pairs: int, rate: float, seconds: float, generators: int) -> dict[str, Any]:
    spec = LAYOUTS[layout]
    tmp = Path(tempfile.mkdtemp(prefix="hudhud-scale-"))
    db_name = f"hudhud_bench_{uuid.uuid4().hex[:10]}"
    database_url = ""
    env = {**os.environ, "HUDHUD_LOG_LEVEL": "warning"}
    if spec["engine"] == "postgresql":
        _psql(f'CREATE DATABASE "{db_name}"')
        database_url = f"{PG.rsplit('/', 1)[0]}/{db_name}"
        env.update({"HUDHUD_DATABASE_URL": database_url, "HUDHUD_BUS_URL": REDIS})
    procs: list[subprocess.Popen[bytes]] = []
    try:
        users = await make_users(tmp / "var", 2 * pairs, database_url=database_url)
        urls = []
        for _ in range(spec["nodes"]):
            port = free_port()
            cmd = [sys.executable, "-m", "hudhud.cli", "serve", "--port", str(port), "--data-dir", str(tmp / "var")]
            cmd += ["--workers", str(spec["workers"])]
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL))  # noqa: ASYNC220
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            await _ready(url)
        await asyncio.sleep(1.0)  # every worker up (readyz answers from the first)
        ws_urls = [u.replace("http", "ws") + "/v1/ws" for u in urls]
        sampler = CpuSampler([p.pid for p in procs])
        per = pairs // generators
        jobs = [
            (urls[0], ws_urls, users[2 * per * g : 2 * per * (g + 1)], per, seconds, rate / generators, 4.0)
            for g in range(generators)
        ]
        loop = asyncio.get_running_loop()
        with multiprocessing.get_context("spawn").Pool(generators) as pool:
            results = await loop.run_in_executor(None, pool.map, _generator, jobs)
        sampler.stop()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(40)
            except subprocess.TimeoutExpired:
                p.kill()
        if spec["engine"] == "postgresql":
            _psql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        shutil.rmtree(tmp, ignore_errors=True)
    t0 = max(r["window"][0] for r in results)
    t1 = min(r["window"][1] for r in results)
    span = max(0.001, t1 - t0)
    cpu, busy = sampler.between(t0, t1)
    delivered_rate = sum(r["per_second"] for r in results)
    lat_p50 = statistics.median(r["latency_ms"]["p50"] for r in results)
    lat_p99 = max(r["latency_ms"]["p99"] for r in results)
    return {
        "layout": layout,
        **spec,
        "pairs": per * generators,
        "generators": generators,
        "offered_rate": rate,
        "delivered_per_second": round(delivered_rate, 1),
        "latency_ms": {"p50": lat_p50, "p99_worst_generator": lat_p99},
        "server_cpu_us_per_message": round(cpu * 1e6 / max(1.0, delivered_rate * span), 1),
        "server_cores_busy": round(cpu / span, 2),
        "machine_cores_busy": round(busy / span, 2),
        "lost": sum(r["lost"] for r in results),
        "duplicated": sum(r["duplicated"] for r in results),
        "errors": {k: v for r in results for k, v in r["errors"].items()},
        "window_s": round(span, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layouts", default="sqlite-1,pg-1,pg-2w,pg-2n")
    ap.add_argument("--rates", default="1000,3000")
    ap.add_argument("--pairs", type=int, default=400)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--generators", type=int, default=2)
    a = ap.parse_args()
    points = []
    print(
        f"{'layout':<9} {'offered':>8} {'delivered/s':>11} {'p50 ms':>7} {'p99 ms':>8} {'µs/msg':>7} "
        f"{'srv cores':>9} {'all cores':>9} lost dup"
    )
    for layout in a.layouts.split(","):
        for rate in (float(x) for x in a.rates.split(",")):
            r = asyncio.run(run_point(layout, a.pairs, rate, a.seconds, a.generators))
            points.append(r)
            print(
                f"{layout:<9} {rate:>8.0f} {r['delivered_per_second']:>11.0f} {r['latency_ms']['p50']:>7.1f} "
                f"{r['latency_ms']['p99_worst_generator']:>8.1f} {r['server_cpu_us_per_message']:>7.0f} "
                f"{r['server_cores_busy']:>9.2f} {r['machine_cores_busy']:>9.2f} {r['lost']:>4} {r['duplicated']:>3}"
                + (f" errors {r['errors']}" if r["errors"] else ""),
                flush=True,
            )
    path = write_result("scale", {"machine": machine(), "args": vars(a), "points": points})
    print(f"written {path}")


if __name__ == "__main__":
    main()
