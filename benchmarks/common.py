"""Shared pieces of the benchmarks: a server process to measure, accounts made straight in its database, and
figures read from /proc."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from hudhud.app import Hudhud
from hudhud.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def machine() -> dict[str, Any]:
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def proc_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of `pid`'s main thread (the event loop: "main_user", "main_sys") and of its other threads
    together ("threads_user", "threads_sys": the SQLite writer, above all), user and system time apart. Python
    does not name OS threads, so they are told apart by thread id only."""
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
        except OSError:
            continue  # the thread has ended
        name = "main" if int(tid) == pid else "threads"
        fields = raw.rsplit(")", 1)[1].split()
        for part, value in (("user", fields[11]), ("sys", fields[12])):
            key = f"{name}_{part}"
            out[key] = out.get(key, 0.0) + int(value) / ticks
    return out


async def server_metrics(url: str) -> dict[str, float]:
    """The server's /metrics counters (Prometheus text), without the `hudhud_` prefix."""
    async with httpx.AsyncClient() as c:
        text = (await c.get(url + "/metrics")).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("hudhud_"):
            out[name.removeprefix("hudhud_")] = float(value)
    return out


def proc_rss_kib(pid: int, peak: bool = False) -> int:
    key = "VmHWM:" if peak else "VmRSS:"
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


async def make_users(
    data_dir: Path, n: int, prefix: str = "+2010", group_add: str = "everyone", database_url: str = ""
) -> list[dict[str, str]]:
    """Provision accounts directly in the database, 500 to a transaction, letting anyone add them to groups, so
    that a benchmark measures messaging rather than sign-up."""
    from hudhud import ids
    from hudhud.store import accounts as aq

    hub = Hudhud(Settings(data_dir=data_dir, database_url=database_url))
    await hub.start()
    out: list[dict[str, str]] = []
    try:
        for start in range(0, n, 500):
            chunk = []
            for i in range(start, min(n, start + 500)):
                chunk.append((ids.new_id("u"), ids.new_id("d"), ids.new_token(), f"{prefix}{i:08d}"))

            def op(conn: Any, chunk: list[tuple[str, str, str, str]] = chunk) -> None:
                for user_id, device_id, token, phone in chunk:
                    aq.insert_user(conn, user_id, phone, f"user {phone[-4:]}", 0.0)
                    aq.update_user(conn, user_id, group_add_privacy=group_add)
                    aq.insert_device(conn, device_id, user_id, "bench", ids.hash_token(token), 0.0)

            await hub.db.write(op)
            out += [{"user_id": u, "device_id": d, "token": t, "phone": p} for u, d, t, p in chunk]
    finally:
        await hub.close()
    return out


@asynccontextmanager
async def server_process(
    data_dir: Path, port: int | None = None, *, default_limits: bool = False, server_src: str = "", **env: str
) -> Any:
    """A `hudhud serve` process. Rate limits are off (HUDHUD_MESSAGES_PER_MINUTE=0) unless `default_limits`,
    which runs the server with the settings it ships with, as real deployments do. `server_src`: a source tree
    to run the server from instead of the installed package (an older commit, to compare against)."""
    port = port or free_port()
    environ = {**os.environ, "HUDHUD_LOG_LEVEL": "warning", "HUDHUD_MESSAGES_PER_MINUTE": "0"}
    if default_limits:
        del environ["HUDHUD_MESSAGES_PER_MINUTE"]
    environ.update(env)
    if server_src:
        environ["PYTHONPATH"] = server_src
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting the server once, before measuring
        [sys.executable, "-m", "hudhud.cli", "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=environ,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as c:
        for _ in range(400):
            try:
                if (await c.get(url + "/readyz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    try:
        yield proc, url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def write_result(name: str, result: dict[str, Any]) -> Path:
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


def pick(result: dict[str, Any], path: str) -> float:
    """The number at a dotted path of a result dict, e.g. "latency_ms.p99"."""
    value: Any = result
    for part in path.split("."):
        value = value[part]
    return float(value)
