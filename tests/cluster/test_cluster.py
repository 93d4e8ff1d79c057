"""Three nodes (`hudhud serve --workers 2` each, separate OS processes) on one PostgreSQL database and one
Redis bus, nginx in front (deploy/nginx-test.conf), SDK clients spread over the nodes and nginx sending a steady
stream of one-to-one and group messages, while the cluster loses a node (SIGKILL), its Redis, its PostgreSQL,
has every node restarted in turn, and takes a reconnect storm of thousands of clients. In every case: every
acknowledged message reaches every recipient device exactly once and in order, nothing is stored twice,
presence and revocation work across nodes, and the recovery figures are printed (`pytest -s` shows them;
docs/deploy.md, "Tested failure cases", has the ones measured).

The cases share one cluster (starting it takes a while) and each leaves it whole for the next."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from hudhud.client.net.protocol import FATAL_CODES, PERMANENT_SEND_ERRORS
from hudhud.client.sdk import ConnState
from tests.cluster.conftest import STORM_CLIENTS, AccountPool
from tests.cluster.harness import Cluster, PostgresServer
from tests.cluster.storm import Storm, describe, storm_clients
from tests.cluster.traffic import Traffic, probe_across_nodes, probe_revocation, raw_client, report, summary, ws_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PARTICIPANTS = 12


def servers_for(cluster: Cluster, n: int) -> list[str]:
    """Most clients through nginx; every fourth straight to a node (each node gets one)."""
    return [cluster.nodes[(i // 4) % 3].url if i % 4 == 3 else cluster.nginx.url for i in range(n)]


async def start_traffic(cluster: Cluster, pool: AccountPool, tmp_path: Path) -> Traffic:
    await asyncio.to_thread(cluster.healthy)
    traffic = Traffic(pool.take(PARTICIPANTS), tmp_path, servers_for(cluster, PARTICIPANTS))
    await traffic.setup()
    traffic.start()
    return traffic


async def finish(traffic: Traffic, cluster: Cluster, pool: AccountPool) -> dict[str, Any]:
    """Drain the stream, check every guarantee, and probe presence and revocation across the nodes."""
    drained = await traffic.drain(database_url=cluster.database_url)
    traffic.check()
    await traffic.check_store(cluster.database_url)
    assert not [p.name for p in traffic.participants if p.client.state is ConnState.LOGGED_OUT]
    probes = await probe_across_nodes([n.url for n in cluster.nodes], pool.take(3))
    return {
        "messages acknowledged": sum(len(p.acked) for p in traffic.participants),
        "deliveries": sum(len(p.deliveries) for p in traffic.participants),
        "drain after the stream stopped": f"{drained:.2f} s",
        "presence across nodes (online, offline)": f"{probes['presence online'] * 1000:.0f} ms, "
        f"{probes['presence offline'] * 1000:.0f} ms",
        "revocation across nodes": f"{probes['revocation'] * 1000:.0f} ms",
    }


async def readyz_all(cluster: Cluster) -> list[dict[str, Any]]:
    """/readyz of every worker of every node (asked a few times each: the kernel picks the worker)."""
    out = []
    async with httpx.AsyncClient(timeout=3) as c:
        for node in cluster.nodes:
            for _ in range(4):
                try:
                    r = await c.get(f"{node.url}/readyz")
                    out.append({"node": node.name, "code": r.status_code, **r.json()})
                except httpx.HTTPError as exc:
                    out.append({"node": node.name, "code": 0, "status": f"unreachable: {exc}"})
    return out


def answering(seen: list[dict[str, Any]]) -> bool:
    """Every worker answers: ready, or (a node at its connection limit) 503 unavailable."""
    return all(s["code"] == 200 or (s["code"] == 503 and s.get("error", {}).get("code") == "unavailable") for s in seen)


async def wait_readyz(cluster: Cluster, status: str, timeout: float) -> float:
    start = time.monotonic()
    while True:
        seen = await readyz_all(cluster)
        if all(s.get("status") == status for s in seen):
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"/readyz not all {status!r} within {timeout:.0f} s: {seen}")
        await asyncio.sleep(0.1)


# -- the cases ----------------------------------------------------------------------------------------------------


async def test_sigkill_of_a_node(cluster: Cluster, pool: AccountPool, tmp_path: Path) -> None:
    """SIGKILL a node, supervisor and workers: its clients reconnect (through nginx, to the other nodes; straight
    to it, once it is back) and catch up. A user who was only on the dead node stops counting as online once
    the dead node's entries expire."""
    traffic = await start_traffic(cluster, pool, tmp_path)
    victim, watcher_node = cluster.nodes[0], cluster.nodes[1]
    ghost, watcher = pool.take(2)
    try:
        await asyncio.sleep(3)
        g = await raw_client(victim.url, ghost.token)
        w = await raw_client(watcher_node.url, watcher.token)
        for who in (ghost, watcher):
            async with httpx.AsyncClient(base_url=victim.url, timeout=10) as c:
                r = await c.patch(
                    "/v1/me/privacy", json={"last_seen": "everyone"}, headers={"Authorization": f"Bearer {who.token}"}
                )
                assert r.status_code == 200
        await w.send({"type": "presence_subscribe", "user_ids": [ghost.user_id]})
        assert (await w.expect("presence", timeout=10, user_id=ghost.user_id))["status"] == "online"

        killed = time.monotonic()
        await asyncio.to_thread(victim.kill)
        await asyncio.wait_for(g.closed.wait(), 10)

        async def ghost_goes_offline() -> float:
            while True:
                await w.send({"type": "presence_subscribe", "user_ids": [ghost.user_id]})
                f = await w.expect("presence", timeout=10, user_id=ghost.user_id)
                if f["status"] == "offline":
                    return time.monotonic() - killed
                if time.monotonic() - killed > 60:
                    raise AssertionError("the dead node's user still counts as online after 60 s")
                await asyncio.sleep(1.0)

        offline = asyncio.create_task(ghost_goes_offline())
        # The clients that were on the dead node through nginx are back on the others, while it is down.
        await asyncio.sleep(5)
        via_nginx = {p.name for p in traffic.participants if p.server == cluster.nginx.url}
        back_early = traffic.reconnects(killed)
        assert set(back_early) & via_nginx, "no client of the killed node reconnected through nginx"
        restarted = time.monotonic()
        ready_in = await asyncio.to_thread(victim.start_and_wait)
        await asyncio.sleep(3)
        figures = await finish(traffic, cluster, pool)
        ghost_offline = await offline
        await w.close()
        back = traffic.reconnects(killed)
        direct = [p.name for p in traffic.participants if p.server == victim.url]
        assert set(direct) <= set(back), "the client connected straight to the killed node did not come back"
        report(
            "SIGKILL of a node (supervisor and both workers)",
            {
                "clients that lost their connection": len(back),
                "through nginx, synced again on another node after": ", ".join(
                    f"{back_early[n]:.2f} s" for n in sorted(back_early) if n in via_nginx
                ),
                "node restarted and ready in": f"{ready_in:.1f} s",
                "straight to the node, synced again after the restart began": ", ".join(
                    f"{back[n] - (restarted - killed):.2f} s" for n in direct
                ),
                "latency, messages queued in the 5 s after the kill": summary(traffic.latencies(killed, killed + 5)),
                "latency, all": summary(traffic.latencies()),
                "dead node's user counted offline after": f"{ghost_offline:.1f} s (the entries' TTL is 30 s)",
                **figures,
            },
        )
    finally:
        await traffic.close()


async def test_redis_restart(cluster: Cluster, pool: AccountPool, tmp_path: Path) -> None:
    """Redis killed and started again: /readyz says degraded, messages still reach every device (the feeds poll
    the store) before Redis is back, and notices flow again after; a device revoked meanwhile is closed."""
    traffic = await start_traffic(cluster, pool, tmp_path)
    victim = pool.take(1)[0]
    try:
        await asyncio.sleep(3)
        revokee = await raw_client(cluster.nodes[2].url, victim.token)
        down = time.monotonic()
        await asyncio.to_thread(cluster.redis.stop)
        degraded_in = await wait_readyz(cluster, "degraded", 30)
        degraded = await readyz_all(cluster)
        assert all(s["code"] == 200 and s["bus"].startswith("redis unavailable") for s in degraded), degraded
        # Revoked through one node while the bus is down: the notice to the node holding its socket is lost, and
        # that node finds the revocation when it polls the store.
        revoked = time.monotonic()
        async with httpx.AsyncClient(base_url=cluster.nodes[0].url, timeout=10) as c:
            r = await c.delete(f"/v1/devices/{victim.device_id}", headers={"Authorization": f"Bearer {victim.token}"})
            assert r.status_code == 204
        await asyncio.wait_for(revokee.closed.wait(), 30)
        revoked_after = time.monotonic() - revoked
        assert revokee.take_all("error", code="device_revoked") and revokee.close_code == 4401
        await asyncio.sleep(max(0.0, 4 - revoked_after))
        # Everything acknowledged so far reaches its recipients while Redis is still down.
        cutoff = time.monotonic()
        await traffic.wait_delivered(acked_before=cutoff, timeout=30)
        while_down = time.monotonic() - cutoff
        latencies_down = traffic.latencies(down, cutoff)
        await asyncio.to_thread(cluster.redis.start)
        up = time.monotonic()
        ready_in = await wait_readyz(cluster, "ready", 30)
        await asyncio.sleep(3)
        figures = await finish(traffic, cluster, pool)
        report(
            "Redis killed and started again",
            {
                "every node's /readyz degraded after": f"{degraded_in:.2f} s",
                "Redis down for": f"{up - down:.1f} s",
                "latency, messages queued while Redis was down": summary(latencies_down),
                "all of those delivered, Redis still down, within": f"{while_down:.2f} s of the cut-off",
                "every node ready again after Redis started": f"{ready_in:.2f} s",
                "device revoked on node A while Redis was down, closed on node C after": f"{revoked_after:.2f} s",
                "latency, messages queued after Redis started": summary(traffic.latencies(up)),
                **figures,
            },
        )
    finally:
        await traffic.close()
        if cluster.redis.proc is None:
            cluster.redis.start()


async def test_postgres_restart(cluster: Cluster, pool: AccountPool, tmp_path: Path) -> None:
    """PostgreSQL restarted (fast: every session cut): sends fail meanwhile with an error the clients retry,
    connections that drop come back, outboxes drain, nothing is lost and nobody is logged out."""
    pg = PostgresServer(int(cluster.database_url.rsplit(":", 1)[1].split("/", 1)[0]))
    traffic = await start_traffic(cluster, pool, tmp_path)
    try:
        await asyncio.sleep(3)
        cut = time.monotonic()
        took = await asyncio.to_thread(pg.restart)
        ready_in = await wait_readyz(cluster, "ready", 60)
        first_ack = min(
            (t for p in traffic.participants for _, _, t in p.acked.values() if t > cut + took), default=None
        )
        await asyncio.sleep(3)
        figures = await finish(traffic, cluster, pool)
        errors = traffic.error_codes(cut)
        assert not set(errors) & (PERMANENT_SEND_ERRORS | FATAL_CODES), errors
        report(
            "PostgreSQL restarted (pg_ctlcluster restart -m fast)",
            {
                "restart took": f"{took:.2f} s",
                "every node's /readyz ready again after": f"{ready_in:.2f} s",
                "first acknowledgement after the restart returned": "none"
                if first_ack is None
                else f"{first_ack - cut - took:.2f} s",
                "errors the clients got": dict(errors),
                "disconnections": dict(traffic.close_reasons(cut)),
                "clients synced again after": summary(list(traffic.reconnects(cut).values())),
                "latency, messages queued in the 5 s from the restart": summary(traffic.latencies(cut, cut + 5)),
                **figures,
            },
        )
    finally:
        await traffic.close()
        await asyncio.to_thread(pg.ensure_up)


async def test_rolling_restart(cluster: Cluster, pool: AccountPool, tmp_path: Path) -> None:
    """SIGTERM each node in turn, start it again, wait until it is ready, then the next: under load, nothing
    lost or repeated; the clients are closed with 1012 and come back."""
    traffic = await start_traffic(cluster, pool, tmp_path)
    try:
        await asyncio.sleep(2)
        began = time.monotonic()
        steps = []
        for node in cluster.nodes:
            t = time.monotonic()
            code = await asyncio.to_thread(node.terminate)
            assert code == 0, f"{node.name} exited with {code} after SIGTERM"
            drained = time.monotonic() - t
            ready = await asyncio.to_thread(node.start_and_wait)
            steps.append(f"{node.name} drained in {drained:.1f} s, ready {ready:.1f} s after start")
        await asyncio.sleep(3)
        figures = await finish(traffic, cluster, pool)
        reasons = traffic.close_reasons(began)
        assert any("1012" in r for r in reasons), reasons
        report(
            "rolling restart (SIGTERM, start, /readyz, next)",
            {
                "steps": "; ".join(steps),
                "whole restart": f"{time.monotonic() - began - 3:.1f} s",
                "disconnections": dict(reasons),
                "latency, messages queued during the restart": summary(traffic.latencies(began)),
                **figures,
            },
        )
    finally:
        await traffic.close()


async def test_reconnect_storm(cluster: Cluster, pool: AccountPool, accounts: dict[str, Any], tmp_path: Path) -> None:
    """Thousands of raw WebSocket clients connect at once (most through nginx, some straight to two nodes), then
    nginx restarts and every client behind it reconnects at once; all get `welcome` and `synced` each time, and
    every refusal is a 503 or 429 with Retry-After. Meanwhile the message stream goes on."""
    traffic = await start_traffic(cluster, pool, tmp_path)
    nginx_ws = ws_url(cluster.nginx.url)
    urls = [nginx_ws, nginx_ws, nginx_ws, ws_url(cluster.nodes[0].url), ws_url(cluster.nodes[1].url)]
    storm = Storm(storm_clients(accounts["storm"], urls))
    try:
        start = storm.start()
        await storm.wait_round(1, timeout=180)
        first = describe([c.synced_at[0] for c in storm.clients], start)
        assert not storm.failures, storm.failures[:5]
        refusals_first = dict(storm.refusals)
        alive = await readyz_all(cluster)
        assert answering(alive), alive

        behind_nginx = [c for c in storm.clients if c.url == nginx_ws]
        cut = time.monotonic()
        await asyncio.to_thread(cluster.nginx.restart_abruptly)
        nginx_back = time.monotonic()
        await storm.wait_round(2, timeout=180, clients=behind_nginx)
        again = describe([c.synced_at[1] for c in behind_nginx], cut)
        # The clients straight to the nodes were not cut.
        assert all(len(c.synced_at) == 1 for c in storm.clients if c.url != nginx_ws)
        # Before nginx listened again, connections were refused; after that, only 503/429 may turn one away.
        late = [f for t, f in storm.failures if t > nginx_back]
        assert not late, late[:5]
        assert all(has_header for (_, has_header) in storm.refusals), dict(storm.refusals)
        assert all(waited >= asked for asked, waited in storm.honoured)
        alive = await readyz_all(cluster)
        assert answering(alive), alive
        await storm.stop()
        figures = await finish(traffic, cluster, pool)
        report(
            f"reconnect storm ({STORM_CLIENTS} raw WebSocket clients)",
            {
                "at once, synced (first, half, all) after": first,
                "refusals (status, Retry-After given) in that storm": refusals_first,
                "nginx restart: clients behind it": len(behind_nginx),
                "nginx restart took": f"{nginx_back - cut:.2f} s",
                "reconnected and synced (first, half, all) after the cut": again,
                "refused while nginx was down": len(storm.failures),
                "closed before an answer (a node too busy to read the request head in 10 s), retried": [
                    f for _, f in storm.unanswered[:3]
                ]
                or 0,
                "latency of the message stream, all": summary(traffic.latencies()),
                **figures,
            },
        )
    finally:
        await storm.stop()
        await traffic.close()
        if cluster.nginx.proc is None:
            cluster.nginx.start()


async def test_revocation_on_one_node_closes_the_socket_on_another(cluster: Cluster, pool: AccountPool) -> None:
    await asyncio.to_thread(cluster.healthy)
    took = await probe_revocation(cluster.nodes[1].url, cluster.nodes[2].url, pool.take(1)[0])
    report("revocation across nodes, nothing else going on", {"socket closed after": f"{took * 1000:.0f} ms"})
