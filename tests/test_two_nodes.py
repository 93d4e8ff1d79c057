"""Two nodes that share one PostgreSQL database and one Redis: what one user does on node A reaches another on
node B (messages, receipts, typing, presence, revocation), the message rate limit holds across both, and with
Redis down messages still arrive, by polling the store.

Each node is a whole server (its own `Hudhud`, database pool, Redis connections and HTTP port) as a separate
process would have; they run in the test's process so that the test can look inside. The multi-process,
multi-machine shape (workers, nginx, SIGKILL) is tested in tests/test_cluster.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ServerHandle, running_server

pytestmark = pytest.mark.postgres


@contextlib.asynccontextmanager
async def two_nodes(tmp: Path, postgres_url: str, redis_url: str, **overrides: Any) -> AsyncIterator[Any]:
    settings = {"database_url": postgres_url, "bus_url": redis_url, "bus_poll_interval": 0.3, **overrides}
    async with running_server(tmp / "a", **settings) as a, running_server(tmp / "b", **settings) as b:
        yield a, b


async def users(node: ServerHandle) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    amal = await node.make_user("+201001234567", "Amal")
    badr = await node.make_user("+201101234567", "Badr")
    return amal, badr


async def test_a_message_typing_and_receipts_cross_nodes(tmp_path: Path, postgres_url: str, redis_process: Any) -> None:
    async with two_nodes(tmp_path, postgres_url, redis_process.url) as (node_a, node_b):
        (a_id, _, a_tok), (b_id, _, b_tok) = await users(node_a)
        amal = await node_a.client(a_tok)
        badr = await node_b.client(b_tok)
        sent = await amal.send_text("from A", to=b_id)
        got = await badr.expect("deliver")
        assert got["content"]["text"] == "from A" and got["seq"] == sent["seq"]
        conv = sent["conversation_id"]
        # Badr answers on node B; Amal gets it on node A.
        back = await badr.send_text("from B", conversation_id=conv)
        assert (await amal.expect("deliver"))["seq"] == back["seq"] == sent["seq"] + 1
        # Receipts: Badr has read; Amal's ticks turn blue on the other node.
        await badr.send({"type": "read", "conversation_id": conv, "seq": sent["seq"]})
        rcpt = await amal.expect("receipt", user_id=b_id, read_seq=sent["seq"])
        assert rcpt["conversation_id"] == conv
        # Typing.
        await amal.send({"type": "typing", "conversation_id": conv, "state": "composing"})
        assert (await badr.expect("typing"))["user_id"] == a_id
        # A second device of Badr's on node A gets the whole conversation too.
        _, tok2 = await node_a.add_device("+201101234567")
        other = await node_a.client(tok2, hello=False)
        await other.send({"type": "hello", "v": 1, "token": tok2})
        await other.expect("welcome")
        seqs = [(await other.expect("deliver", timeout=5))["seq"] for _ in range(2)]
        assert sorted(seqs) == [sent["seq"], back["seq"]]


async def test_presence_counts_connections_on_every_node(tmp_path: Path, postgres_url: str, redis_process: Any) -> None:
    async with two_nodes(tmp_path, postgres_url, redis_process.url) as (node_a, node_b):
        (_, _, a_tok), (b_id, _, b_tok) = await users(node_a)
        async with node_a.http(b_tok) as c:
            await c.patch("/v1/me/privacy", json={"last_seen": "everyone"})
        watcher = await node_a.client(a_tok)
        await watcher.send({"type": "presence_subscribe", "user_ids": [b_id]})
        assert (await watcher.expect("presence", user_id=b_id))["status"] == "offline"
        on_b = await node_b.client(b_tok)  # Badr comes online on the other node
        assert (await watcher.expect("presence", user_id=b_id))["status"] == "online"
        # A second connection of Badr's, on node A, then the first one closes: still online.
        _, tok2 = await node_a.add_device("+201101234567")
        on_a = await node_a.client(tok2)
        await on_b.close()
        await asyncio.sleep(0.3)
        watcher.take_all("presence")
        await watcher.send({"type": "presence_subscribe", "user_ids": [b_id]})
        assert (await watcher.expect("presence", user_id=b_id))["status"] == "online"
        await on_a.close()
        seen = await watcher.expect("presence", user_id=b_id, status="offline")
        assert seen["last_seen"] is not None


@pytest.mark.parametrize("redis_down", [False, True], ids=["notice", "redis-down"])
async def test_a_device_revoked_on_one_node_is_disconnected_on_the_other(
    tmp_path: Path, postgres_url: str, redis_process: Any, redis_down: bool
) -> None:
    """By the `revoked` notice; or, with Redis down and the notice lost, when node B looks in the store after
    the gap."""
    async with two_nodes(tmp_path, postgres_url, redis_process.url) as (node_a, node_b):
        (_, _, a_tok), _ = await users(node_a)
        second_id, second_tok = await node_a.add_device("+201001234567")
        live = await node_b.client(second_tok)
        if redis_down:
            redis_process.stop()
        async with node_a.http(a_tok) as c:
            assert (await c.delete(f"/v1/devices/{second_id}")).status_code == 204
        err = await live.expect("error", timeout=5)
        assert err["code"] == "device_revoked"
        await asyncio.wait_for(live.closed.wait(), 5)
        assert live.close_code == 4401


async def test_the_message_rate_limit_holds_across_nodes(tmp_path: Path, postgres_url: str, redis_process: Any) -> None:
    async with two_nodes(tmp_path, postgres_url, redis_process.url, messages_per_minute=10) as (node_a, node_b):
        (_, _, a_tok), (b_id, _, _) = await users(node_a)
        _, tok2 = await node_b.add_device("+201001234567")
        one, two = await node_a.client(a_tok), await node_b.client(tok2)
        accepted = refused = 0
        for i in range(8):  # 16 in all, alternating nodes; each node alone would allow 10
            for dev, name in ((one, "one"), (two, "two")):
                frame = {"type": "send", "id": f"{name}-{i}", "ref": f"{name}-{i}", "to": b_id}
                await dev.send({**frame, "content": {"type": "text", "text": "x"}})
                frame = await _answer(dev, f"{name}-{i}")
                if frame["type"] == "sent":
                    accepted += 1
                else:
                    assert frame["code"] == "rate_limited" and frame["retry_after"] > 0
                    refused += 1
            await asyncio.sleep(0.06)  # the processes exchange counts every 50 ms
        assert accepted + refused == 16
        # Held to the limit across both nodes (give or take what one exchange interval lets through).
        assert 10 <= accepted <= 11, accepted
        assert refused >= 5


async def _answer(client: Any, msg_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for kind in ("sent", "error"):
            found = client._take(kind, {"id": msg_id} if kind == "sent" else {"ref": msg_id})
            if found is not None:
                return dict(found)
        await asyncio.sleep(0.01)
    raise AssertionError(f"no answer to {msg_id}: {client.inbox[-3:]}")


async def test_with_redis_down_messages_still_arrive_by_polling(
    tmp_path: Path, postgres_url: str, redis_process: Any
) -> None:
    async with two_nodes(tmp_path, postgres_url, redis_process.url) as (node_a, node_b):
        (_, _, a_tok), (b_id, _, b_tok) = await users(node_a)
        amal = await node_a.client(a_tok)
        badr = await node_b.client(b_tok)
        first = await amal.send_text("before", to=b_id)
        await badr.expect("deliver", seq=first["seq"])
        redis_process.stop()
        async with node_b.http() as c:
            for _ in range(100):
                ready = (await c.get("/readyz")).json()
                if ready["status"] == "degraded":
                    break
                await asyncio.sleep(0.05)
        assert ready["status"] == "degraded" and ready["database"] == "up" and "redis" in ready["bus"]
        # The doorbell is down, the store is not: sends are acknowledged and delivered by polling.
        during = [await amal.send_text(f"during {i}", to=b_id) for i in range(5)]
        got = [await badr.expect("deliver", timeout=5, seq=s["seq"]) for s in during]
        assert [g["content"]["text"] for g in got] == [f"during {i}" for i in range(5)]
        redis_process.start()
        async with node_b.http() as c:
            for _ in range(200):
                if (await c.get("/readyz")).json()["status"] == "ready":
                    break
                await asyncio.sleep(0.05)
            assert (await c.get("/readyz")).json() == {"status": "ready", "database": "up", "bus": "up"}
        for _ in range(100):
            if node_a.hub.bus.status() == "up":
                break
            await asyncio.sleep(0.05)
        after = await amal.send_text("after", to=b_id)
        await badr.expect("deliver", seq=after["seq"])
        await badr.no_frame("deliver", wait=0.5)  # nothing twice


async def test_two_nodes_sending_into_the_same_conversations_number_every_message_once(
    tmp_path: Path, postgres_url: str, redis_process: Any
) -> None:
    """Both nodes commit batches at once into the same two chats, in opposite orders (the case that deadlocked
    before batches took conversations in one order): every send is acknowledged, and each chat's seqs run
    1..N with no gap and no repeat."""
    async with two_nodes(tmp_path, postgres_url, redis_process.url) as (node_a, node_b):
        (a_id, _, a_tok), (b_id, _, b_tok) = await users(node_a)
        amal_a, badr_b = await node_a.client(a_tok), await node_b.client(b_tok)
        x = (await amal_a.send_text("open x", to=b_id))["conversation_id"]
        y = (await amal_a.send_text("open y", to=a_id))["conversation_id"]  # a chat with herself
        _, a2_tok = await node_b.add_device("+201001234567")
        amal_b = await node_b.client(a2_tok)
        _, b2_tok = await node_a.add_device("+201101234567")
        badr_a = await node_a.client(b2_tok)
        plan = [(amal_a, [x, y]), (badr_a, [x]), (amal_b, [y, x]), (badr_b, [x])]
        count = 60
        for client, convs in plan:
            for i in range(count):
                for conv in convs:
                    mid = f"{id(client)}-{conv}-{i}"
                    frame = {"type": "send", "id": mid, "conversation_id": conv}
                    await client.send({**frame, "content": {"type": "text", "text": "x"}})
        acks: dict[str, list[int]] = {x: [], y: []}
        for client, convs in plan:
            for i in range(count):
                for conv in convs:
                    sent = await client.expect("sent", timeout=20, id=f"{id(client)}-{conv}-{i}")
                    assert sent["conversation_id"] == conv
                    acks[conv].append(sent["seq"])
        for conv, seqs in acks.items():
            assert sorted(seqs) == list(range(2, len(seqs) + 2)), conv  # seq 1 opened the chat


async def test_an_operator_revoking_a_device_from_the_command_line_closes_its_live_socket(
    tmp_path: Path, postgres_url: str, redis_process: Any
) -> None:
    """`hudhud admin revoke-device` runs in a process of its own; with the Redis bus its notice reaches the node
    that holds the device's WebSocket."""
    import os
    import subprocess
    import sys

    async with two_nodes(tmp_path, postgres_url, redis_process.url) as (node_a, _):
        _, device_id, token = await node_a.make_user("+201001234567", "Amal")
        live = await node_a.client(token)
        env = {**os.environ, "HUDHUD_DATABASE_URL": postgres_url, "HUDHUD_BUS_URL": redis_process.url}
        done = await asyncio.to_thread(
            subprocess.run,
            [*[sys.executable, "-m", "hudhud.cli", "admin", "revoke-device"], device_id, "--data-dir", str(tmp_path)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        err = await live.expect("error", timeout=10)
        assert err["code"] == "device_revoked"
        await asyncio.wait_for(live.closed.wait(), 5)
        assert live.close_code == 4401
