"""Clients that send and never read must not grow the server's memory: what one connection holds is bounded
(input is paused while its replies are not read). Measured on a server process of its own, from /proc.
(Three such clients used to take the server from about 60 MiB to 1.2 GiB before they were dropped.)"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.adversarial.rawws import RawSocket, text
from tests.support import database_env, free_socket
from tests.test_crash import HUDHUD, admin_create

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

MiB = 1024 * 1024


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def start_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """`hudhud serve` with its default limits (the message rate limit included, as in production)."""
    env = {**os.environ, "HUDHUD_LOG_LEVEL": "warning", **database_env(data_dir)}
    args = [*HUDHUD, "serve", "--port", str(port), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: ASYNC220
    async with httpx.AsyncClient() as c:
        for _ in range(200):
            try:
                if (await c.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def burst(b_id: str, n: int, i: int) -> bytes:
    """Frames that each earn a reply: pings, sends with large content, and frames answered by an error."""
    big = "x" * 60_000
    out = []
    for k in range(n):
        out.append(text({"type": "ping", "ref": k}))
        out.append(text({"type": "send", "id": f"m{i}-{k}", "to": b_id, "content": {"type": "text", "text": big}}))
        out.extend(text({"type": "teleport", "ref": k}) for _ in range(20))
    return b"".join(out)


async def attack(url: str, token: str, b_id: str, stop: asyncio.Event, index: int) -> int:
    """Send until the server stops reading (a write blocks for 2 s) or `stop`; never read. Bytes sent."""
    ws = await RawSocket.open(url, rcvbuf=4096)
    sent = 0
    try:
        await ws.send(text({"type": "hello", "v": 1, "token": token}))
        i = 0
        while not stop.is_set():
            data = burst(b_id, 20, index * 1_000_000 + i)
            i += 1
            try:
                if not await ws.send(data, timeout=2.0):
                    break
            except OSError:  # dropped by the server
                break
            sent += len(data)
        await stop.wait()
    finally:
        ws.close()
    return sent


async def test_clients_that_never_read_keep_server_memory_bounded(tmp_path):
    data = tmp_path / "var"
    users = [admin_create(data, f"+2010012345{i:02d}") for i in range(5)]
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    proc = await start_server(data, port)
    url = f"http://127.0.0.1:{port}"
    try:
        await asyncio.sleep(0.5)
        base = rss(proc.pid)
        peak = base
        stop = asyncio.Event()
        attackers = [
            # Their sends go to no one (answered not_found), so that what is measured is what the connections
            # hold, not the messages the store legitimately keeps (and caches) for a real recipient.
            asyncio.create_task(attack(url, users[i]["token"], "unosuchuser", stop, i))
            for i in range(3)
        ]

        async def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, rss(proc.pid))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        # Meanwhile a healthy pair keeps talking.
        from websockets.asyncio.client import connect

        async with (
            connect(url.replace("http", "ws") + "/v1/ws", max_size=2**22) as d,
            connect(url.replace("http", "ws") + "/v1/ws", max_size=2**22) as e,
        ):
            await d.send(json.dumps({"type": "hello", "v": 1, "token": users[3]["token"]}))
            await e.send(json.dumps({"type": "hello", "v": 1, "token": users[4]["token"]}))
            loop = asyncio.get_running_loop()
            # At least 8 s of attack, and at least 20 healthy round trips however loaded the machine is (each
            # has its own 5 s limit below; the 60 s cap only bounds the test).
            busy_until, cap = loop.time() + 8, loop.time() + 60
            rounds = 0
            while (loop.time() < busy_until or rounds < 20) and loop.time() < cap:
                msg_id = f"h{rounds}"
                await d.send(
                    json.dumps({"type": "send", "id": msg_id, "to": users[4]["user_id"], "content": {"t": "x"}})
                )
                while True:
                    f = json.loads(await asyncio.wait_for(e.recv(), 5))
                    if f["type"] == "deliver" and f["id"] == msg_id:
                        break
                rounds += 1
                await asyncio.sleep(0.1)
        stop.set()
        sent = await asyncio.gather(*attackers)
        await sampler
        assert all(s > 1 * MiB for s in sent), sent  # each attacker did get a lot in before the server paused it
        assert rounds >= 20
        assert proc.poll() is None
        print(f"server RSS {base / MiB:.0f} MiB, peak {peak / MiB:.0f} MiB; attackers sent {sum(sent) / MiB:.0f} MiB")
        assert peak - base < 150 * MiB, f"server grew by {(peak - base) / MiB:.0f} MiB"
    finally:
        proc.terminate()
        proc.wait(10)
