"""Operating a node: /metrics counts what happened (also summed over processes that share a
PROMETHEUS_MULTIPROC_DIR, as `hudhud serve --workers N` runs them), and JSON log lines carry connection and
request ids. Real servers over real sockets; the last two tests run `hudhud serve` processes."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from hudhud import __version__
from hudhud.metrics import worker_exited
from tests.support import RawClient, free_socket

HUDHUD = [sys.executable, "-m", "hudhud.cli"]


def parse(text: str) -> dict[str, float]:
    """Every sample of a scrape by name and labels (sorted), e.g. 'hudhud_client_errors_total{code=bad_frame}'.
    A metric that does not parse fails the test."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "pid")
            key = f"{s.name}{{{labels}}}" if labels else s.name
            out[key] = out.get(key, 0.0) + s.value
    return out


async def scrape(url: str) -> dict[str, float]:
    async with httpx.AsyncClient() as c:
        r = await c.get(url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def info(worker: int) -> str:
    return f"hudhud_process_info{{version={__version__},worker={worker}}}"


def moved(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_metrics_count_messages_frames_commits_and_errors(server):
    _, _, a_token = await server.make_user("+201001110001")
    b_id, _, b_token = await server.make_user("+201001110002")
    a = await server.client(a_token)
    b = await server.client(b_token)  # hello waits for synced: from here on b's deliveries are live
    first = await a.send_text("hello", to=b_id)
    await b.expect("deliver")
    m0 = await scrape(server.url)
    assert m0["hudhud_connections_open"] == 2
    assert m0["hudhud_connections_total"] == 2
    assert m0[info(0)] == 1

    n = 5
    for i in range(n):
        await a.send_text(f"message {i}", conversation_id=first["conversation_id"])
    for _ in range(n):
        await b.expect("deliver")
    # The same client id again: answered as a duplicate, not stored again.
    await a.send({"type": "send", "id": first["id"], "to": b_id, "content": {"type": "text", "text": "hello"}})
    assert (await a.expect("sent", id=first["id"]))["duplicate"] is True
    m1 = await scrape(server.url)
    assert moved(m0, m1, "hudhud_messages_sent_total") == n
    assert moved(m0, m1, "hudhud_messages_delivered_total") == n
    assert moved(m0, m1, "hudhud_delivery_latency_seconds_count") == n
    assert moved(m0, m1, "hudhud_delivery_latency_seconds_bucket{le=+Inf}") == n
    assert moved(m0, m1, "hudhud_frames_in_total") == n + 1
    assert moved(m0, m1, "hudhud_frames_out_total") >= 2 * n + 1  # sent and deliver frames, receipts besides
    # The commit histograms agree with the commit counters.
    batches = moved(m0, m1, "hudhud_commit_batches_total")
    assert batches >= 1
    assert moved(m0, m1, "hudhud_commit_batch_ops_count") == batches
    assert moved(m0, m1, "hudhud_commit_seconds_count") == batches
    assert moved(m0, m1, "hudhud_commit_batch_ops_sum") == moved(m0, m1, "hudhud_commit_ops_total") >= n + 1

    # Errors, labelled by code: two bad frames, an unknown one and a bad message id on the WebSocket, two on REST.
    await a.send_raw("this is not JSON")
    await a.expect("error", code="bad_frame")
    await a.send_raw("[1, 2]")
    await a.expect("error", code="bad_frame")
    await a.send({"type": "nonsense"})
    await a.expect("error", code="unknown_frame")
    await a.send({"type": "send", "id": "x" * 200, "to": b_id, "content": {"type": "text", "text": "?"}})
    await a.expect("error", code="invalid_request")
    async with server.http() as c:
        assert (await c.get("/v1/conversations")).json()["error"]["code"] == "unauthorized"
        assert (await c.get("/v1/no-such-thing")).status_code == 404
    m2 = await scrape(server.url)
    assert moved(m1, m2, "hudhud_client_errors_total{code=bad_frame}") == 2
    assert moved(m1, m2, "hudhud_client_errors_total{code=unknown_frame}") == 1
    assert moved(m1, m2, "hudhud_client_errors_total{code=invalid_request}") == 1
    assert moved(m1, m2, "hudhud_client_errors_total{code=unauthorized}") == 1
    assert moved(m1, m2, "hudhud_client_errors_total{code=not_found}") == 1

    await a.close()
    for _ in range(200):
        m3 = await scrape(server.url)
        if m3["hudhud_connections_open"] == 1:
            break
        await asyncio.sleep(0.02)
    assert m3["hudhud_connections_open"] == 1
    assert m3["hudhud_connections_total"] == 2


async def test_bus_lag_is_observed_for_notices_from_other_processes(server_factory, redis_process):
    from hudhud.bus.redis import RedisBus

    async with server_factory(bus_url=redis_process.url) as server:
        user_id, _, token = await server.make_user("+201001110003")
        c = await server.client(token)
        before = await scrape(server.url)
        # A notice from another process (another bus on the same Redis) carries its publication time.
        other = RedisBus(redis_process.url)
        await other.start()
        await other.publish(f"user:{user_id}", {"t": "settings", "rr": True})
        await other.close()
        # A notice published by this process reaches its handlers directly: no lag to observe.
        await server.hub.bus.publish(f"user:{user_id}", {"t": "settings", "rr": True})
        for _ in range(200):
            after = await scrape(server.url)
            if moved(before, after, "hudhud_bus_lag_seconds_count") >= 1:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        after = await scrape(server.url)
        assert moved(before, after, "hudhud_bus_lag_seconds_count") == 1
        assert not c.closed.is_set()


# -- real processes -------------------------------------------------------------------------------------------


def free_port() -> int:
    sock = free_socket()
    port: int = sock.getsockname()[1]
    sock.close()
    return port


def admin_create(data_dir: Path, phone: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    out = subprocess.run(
        [*HUDHUD, "admin", "create-user", phone, "--json", "--data-dir", str(data_dir)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    row: dict[str, str] = json.loads(out)
    return row


async def start_server(data_dir: Path, port: int, stderr: Any = subprocess.DEVNULL, **env: str) -> subprocess.Popen:
    environ = {**os.environ, "HUDHUD_LOG_LEVEL": "warning", "HUDHUD_MESSAGES_PER_MINUTE": "0", **env}
    args = [*HUDHUD, "serve", "--port", str(port), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(args, env=environ, stdout=subprocess.DEVNULL, stderr=stderr)  # noqa: ASYNC220
    async with httpx.AsyncClient() as c:
        for _ in range(400):
            try:
                if (await c.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def session(port: int, token: str, sends: int) -> RawClient:
    """A WebSocket client that says hello and sends `sends` notes to itself, each acknowledged."""
    c = RawClient(await connect(f"ws://127.0.0.1:{port}/v1/ws"))
    welcome = await c.hello(token)
    for i in range(sends):
        await c.send_text(f"note {i}", to=welcome["user_id"])
    return c


@pytest.mark.slow
async def test_processes_sharing_a_multiproc_dir_report_the_sum(tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    ports = [free_port(), free_port()]
    dirs = [tmp_path / "one", tmp_path / "two"]
    tokens = [
        admin_create(d, phone)["token"] for d, phone in zip(dirs, ("+201001110011", "+201001110012"), strict=True)
    ]
    procs = []
    clients = []
    try:
        for i in range(2):
            procs.append(
                await start_server(dirs[i], ports[i], PROMETHEUS_MULTIPROC_DIR=str(shared), HUDHUD_WORKER=str(i))
            )
        clients.append(await session(ports[0], tokens[0], 3))
        clients.append(await session(ports[1], tokens[1], 5))
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        # Each scrape sums both processes; the one that does not answer hands its counts over every second.
        for url in urls:
            for _ in range(100):
                m = await scrape(url)
                if m.get("hudhud_messages_sent_total") == 8 and m.get("hudhud_connections_open") == 2:
                    break
                await asyncio.sleep(0.1)
            assert m["hudhud_messages_sent_total"] == 8
            assert m["hudhud_connections_open"] == 2
            assert m["hudhud_connections_total"] == 2
            assert m["hudhud_frames_in_total"] == 2 + 8  # hellos and sends
            assert m["hudhud_commit_ops_total"] == m["hudhud_commit_batch_ops_sum"] >= 8
            assert m[info(0)] == 1
            assert m[info(1)] == 1
        # The second process dies with its connection open. Until the supervisor says so, its files still count
        # it; then its connection no longer counts as open, and what it counted stays in the sums.
        procs[1].kill()
        procs[1].wait()
        assert (await scrape(urls[0]))["hudhud_connections_open"] == 2
        worker_exited(procs[1].pid, str(shared))
        m = await scrape(urls[0])
        assert m["hudhud_connections_open"] == 1
        assert m["hudhud_messages_sent_total"] == 8
        assert info(1) not in m
    finally:
        for c in clients:
            await c.close()
        for p in procs:
            stop(p)


@pytest.mark.slow
async def test_json_logs_carry_request_and_connection_ids(tmp_path):
    data = tmp_path / "var"
    user = admin_create(data, "+201001110021")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "stderr.log"
    with open(log_path, "wb") as stderr:  # noqa: ASYNC230 - once, before the server starts
        proc = await start_server(data, port, stderr, HUDHUD_LOG_FORMAT="json", HUDHUD_LOG_LEVEL="info")
        try:
            async with httpx.AsyncClient() as c:
                given = await c.get(url + "/healthz", headers={"X-Request-Id": "req-from-proxy.1"})
                made = await c.get(url + "/healthz", headers={"X-Request-Id": "not sane {}" + "x" * 80})
                failed = await c.get(url + "/v1/conversations")
            client = await session(port, user["token"], 1)
            await client.close()
            await asyncio.sleep(0.2)  # the close line is written once the server has seen the socket go
        finally:
            stop(proc)
    assert given.headers["x-request-id"] == "req-from-proxy.1"
    generated = made.headers["x-request-id"]
    assert len(generated) == 12 and int(generated, 16) >= 0
    assert failed.status_code == 401 and len(failed.headers["x-request-id"]) == 12

    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for r in records:
        assert {"ts", "level", "logger", "msg", "worker"} <= r.keys(), r
        assert r["ts"].endswith("Z") and r["worker"] == 0
    assert any(r["logger"] == "uvicorn.error" for r in records)  # uvicorn's own lines, in the same format
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    by_req = {r.get("req"): r for r in access}
    assert by_req["req-from-proxy.1"]["path"] == "/healthz" and by_req["req-from-proxy.1"]["status"] == 200
    assert by_req[generated]["method"] == "GET"
    assert by_req[failed.headers["x-request-id"]]["status"] == 401
    ws = [r for r in records if r["logger"] == "hudhud.ws"]
    opened = [r for r in ws if r["msg"].startswith("connection open")]
    closed = [r for r in ws if r["msg"].startswith("connection closed")]
    assert len(opened) == 1 and len(closed) == 1, records
    assert opened[0]["user"] == user["user_id"] and opened[0]["device"] == user["device_id"]
    assert closed[0]["conn"] == opened[0]["conn"] and len(opened[0]["conn"]) == 12
    assert closed[0]["user"] == user["user_id"] and closed[0]["code"] == 1000
    assert "req" not in opened[0]
