"""Durability: SIGKILL the server in the middle of a stream of sends, restart it, and find every acknowledged
message stored and delivered, and every resent message stored once."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support import database_env, free_socket

pytestmark = pytest.mark.slow

HUDHUD = [sys.executable, "-m", "hudhud.cli"]


def admin_create(data_dir: Path, phone: str) -> dict[str, str]:
    out = subprocess.run(
        [*HUDHUD, "admin", "create-user", phone, "--name", phone, "--data-dir", str(data_dir)],
        env={**os.environ, **database_env(data_dir)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split(None, 1) for line in out.strip().splitlines())


async def start_server(data_dir: Path, port: int, durability: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HUDHUD_LOG_LEVEL": "warning", "HUDHUD_MESSAGES_PER_MINUTE": "0", **database_env(data_dir)}
    args = [*HUDHUD, "serve", "--port", str(port), "--data-dir", str(data_dir), "--durability", durability]
    # Starting a process does not block the loop for long.
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


async def hello(ws, token):
    await ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))


# "full" is SQLite's synchronous=FULL (an fsync per commit); on PostgreSQL the server's synchronous_commit governs
# and --durability changes nothing, so that case would repeat "normal".
FULL = pytest.param("full", marks=pytest.mark.sqlite_only("--durability full is SQLite's synchronous=FULL"))


@pytest.mark.parametrize("durability", ["normal", FULL])
async def test_sigkill_loses_no_acknowledged_message(tmp_path, durability):
    data = tmp_path / "var"
    a = admin_create(data, "+201001234567")
    b = admin_create(data, "+201101234567")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    total = 2000
    acked: dict[str, int] = {}
    proc = await start_server(data, port, durability)
    try:
        async with connect(f"ws://127.0.0.1:{port}/v1/ws") as ws:
            await hello(ws, a["token"])

            async def reader():
                async for raw in ws:
                    f = json.loads(raw)
                    if f["type"] == "sent":
                        acked[f["id"]] = f["seq"]
                        if len(acked) == 600:
                            os.kill(proc.pid, signal.SIGKILL)

            read_task = asyncio.create_task(reader())
            try:
                for i in range(total):
                    await ws.send(
                        json.dumps(
                            {
                                "type": "send",
                                "id": f"m{i}",
                                "to": b["user_id"],
                                "content": {"type": "text", "text": f"{i}"},
                            }
                        )
                    )
                    if i % 50 == 0:
                        await asyncio.sleep(0.001)
            except Exception:
                pass
            await asyncio.wait_for(read_task, 30)
    except Exception:
        pass
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    assert 600 <= len(acked) < total, "the kill should land mid-stream"

    proc = await start_server(data, port, durability)
    try:
        # The sender comes back and resends everything not acknowledged, with the same ids.
        async with connect(f"ws://127.0.0.1:{port}/v1/ws") as ws:
            await hello(ws, a["token"])
            missing = [i for i in range(total) if f"m{i}" not in acked]
            for i in missing:
                await ws.send(
                    json.dumps(
                        {"type": "send", "id": f"m{i}", "to": b["user_id"], "content": {"type": "text", "text": f"{i}"}}
                    )
                )
            dupes = 0
            while len(acked) < total:
                f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if f["type"] == "sent":
                    first = acked.setdefault(f["id"], f["seq"])
                    assert first == f["seq"]
                    dupes += f["duplicate"]
        # Some of the unacknowledged sends had been committed before the kill: they come back as duplicates.
        assert sorted(acked.values()) == list(range(1, total + 1))
        # The recipient receives every message once, in order.
        async with connect(f"ws://127.0.0.1:{port}/v1/ws", max_size=2**24) as ws:
            await hello(ws, b["token"])
            got = []
            while True:
                f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if f["type"] == "deliver":
                    got.append(f)
                elif f["type"] == "synced":
                    break
        assert [f["seq"] for f in got] == list(range(1, total + 1))
        assert {f["id"] for f in got} == {f"m{i}" for i in range(total)}
        assert all(acked[f["id"]] == f["seq"] for f in got)
        # And in the order each was sent.
        assert [int(f["id"][1:]) for f in got] == sorted(int(f["id"][1:]) for f in got)
    finally:
        proc.terminate()
        proc.wait(10)


async def test_sigterm_is_graceful(tmp_path):
    """An operator's restart: SIGTERM closes WebSockets with 1012 (come back soon) and exits cleanly; nothing
    acknowledged is lost and the client resumes on the new process."""
    data = tmp_path / "var"
    a = admin_create(data, "+201001234567")
    b = admin_create(data, "+201101234567")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    proc = await start_server(data, port, "normal")
    try:
        async with connect(f"ws://127.0.0.1:{port}/v1/ws") as ws:
            await hello(ws, a["token"])
            for i in range(20):
                await ws.send(
                    json.dumps(
                        {"type": "send", "id": f"m{i}", "to": b["user_id"], "content": {"type": "text", "text": "x"}}
                    )
                )
            acked = 0
            while acked < 20:
                if json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "sent":
                    acked += 1
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(Exception):  # noqa: B017 - the close arrives as ConnectionClosed
                while True:
                    await asyncio.wait_for(ws.recv(), 15)
            assert ws.close_code == 1012
        assert proc.wait(15) == 0, "a drained stop exits 0"
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = await start_server(data, port, "normal")
    try:
        async with connect(f"ws://127.0.0.1:{port}/v1/ws") as ws:
            await hello(ws, b["token"])
            seqs = []
            while True:
                f = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if f["type"] == "deliver":
                    seqs.append(f["seq"])
                elif f["type"] == "synced":
                    break
        assert seqs == list(range(1, 21))
    finally:
        proc.terminate()
        proc.wait(10)
