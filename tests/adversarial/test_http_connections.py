"""Connections that hold a file descriptor without making a request: sockets that send nothing, half a
request head a byte at a time, or many connections from one address (docs/protocol.md section 14)."""

import asyncio
import contextlib
import json
import time

import httpx
from websockets.asyncio.client import connect

from tests.support import RawClient

HALF_HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (reading and dropping whatever it sends)."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(4096):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def healthy(url: str, token: str, local: str = "127.0.0.1") -> None:
    """/healthz answers and a WebSocket gets to `synced`, from `local`."""
    transport = httpx.AsyncHTTPTransport(local_address=local)
    async with httpx.AsyncClient(transport=transport, timeout=5) as c:
        assert (await c.get(url + "/healthz")).status_code == 200
    ws_url = url.replace("http://", "ws://") + "/v1/ws"
    client = RawClient(await connect(ws_url, local_addr=(local, 0)))
    try:
        await client.hello(token)
    finally:
        await client.close()


async def test_silent_and_slow_heads_are_closed_after_the_head_timeout(server_factory):
    async with server_factory(http_head_timeout=1.0, max_connections_per_address=0) as s:
        _, _, token = await s.make_user("+201001234567")
        host, port = s.url.removeprefix("http://").split(":")
        silent = [await asyncio.open_connection(host, int(port)) for _ in range(30)]
        slow = [await asyncio.open_connection(host, int(port)) for _ in range(30)]
        for _, writer in slow:
            writer.write(HALF_HEAD)

        async def dribble() -> None:  # a byte every 0.2 s: never idle, never a whole head
            for _ in range(100):
                await asyncio.sleep(0.2)
                for _, writer in slow:
                    with contextlib.suppress(ConnectionError):
                        writer.write(b"X")

        dribbler = asyncio.create_task(dribble())
        try:
            started = time.monotonic()
            await healthy(s.url, token)  # meanwhile everyone else is served
            results = await asyncio.gather(*(closed_within(r, 4.0) for r, _ in silent + slow))
            assert all(results), f"{results.count(False)} of {len(results)} connections still open"
            assert time.monotonic() - started < 4.5, "closed by the 1 s head deadline, not by anything slower"
            await healthy(s.url, token)
        finally:
            dribbler.cancel()
            for _, writer in silent + slow:
                writer.close()


async def test_idle_keep_alive_connection_is_closed(server_factory):
    async with server_factory(http_keepalive_timeout=0.5, http_head_timeout=5.0) as s:
        host, port = s.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        assert await closed_within(reader, 2.0)
        writer.close()


async def test_a_trickled_body_is_closed_after_the_body_timeout(server_factory):
    async with server_factory(http_body_timeout=0.5) as s:
        host, port = s.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(b"POST /v1/auth/code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
            writer.write(b"Content-Length: 100\r\n\r\n{")
            assert await closed_within(reader, 2.0)
        finally:
            writer.close()


async def test_connections_per_address_are_capped(server_factory):
    async with server_factory(max_connections_per_address=10, connection_limit_exempt="") as s:
        _, _, token = await s.make_user("+201001234567")
        host, port = s.url.removeprefix("http://").split(":")
        held = [await asyncio.open_connection(host, int(port)) for _ in range(9)]
        ws = RawClient(await connect(s.ws_url))  # a WebSocket counts too: the tenth
        s.clients.append(ws)
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await ws.hello(token)
            # The eleventh from this address is answered at once, in the documented error shape, and closed.
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 3)
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 429"), head
            assert json.loads(body)["error"]["code"] == "too_many_connections"
            # Another address is served as usual.
            await healthy(s.url, token, local="127.0.0.2")
            # A slot is free again once a connection of the address closes: here the WebSocket.
            await ws.close()
            await asyncio.sleep(0.2)
            async with httpx.AsyncClient(timeout=5) as c:
                assert (await c.get(s.url + "/healthz")).status_code == 200
        finally:
            for _, w in [*held, (reader, writer)]:
                w.close()


async def test_the_server_wide_cap_answers_503(server_factory):
    async with server_factory(max_connections=5, connection_limit_exempt="") as s:
        host, port = s.url.removeprefix("http://").split(":")
        held = [await asyncio.open_connection(host, int(port)) for _ in range(5)]
        try:
            async with httpx.AsyncClient(timeout=5) as c:
                r = await c.get(s.url + "/healthz")
        finally:
            for _, w in held:
                w.close()
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "unavailable"
        assert r.headers["retry-after"] == "1"
