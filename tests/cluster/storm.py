"""Thousands of raw WebSocket clients connecting at once, each as an app would: hello, wait for `welcome` and
`synced`, stay connected, and after a lost connection come back with jittered backoff. A refusal (the server's
connection limits: 503 or 429) is honoured: never sooner than its Retry-After."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from hudhud.client.net.backoff import backoff_delay
from tests.cluster.harness import Account


@dataclass
class StormClient:
    account: Account
    url: str  # ws://…/v1/ws
    source: str  # the local address to connect from (127.0.0.x), so thousands do not share one port range
    ws: ClientConnection | None = None
    synced_at: list[float] = field(default_factory=list)
    attempts: int = 0


class Storm:
    def __init__(self, clients: list[StormClient], *, seed: int = 7) -> None:
        self.clients = clients
        self.refusals: collections.Counter[tuple[int, bool]] = collections.Counter()  # (status, had Retry-After)
        # Anything else before `synced`: a reset, a timeout, another status, a bad answer (when, what).
        self.failures: list[tuple[float, str]] = []
        self.unanswered: list[tuple[float, str]] = []  # closed by the server before it answered the handshake
        self.honoured: list[tuple[float, float]] = []  # (Retry-After asked, seconds actually waited)
        self._rng = random.Random(seed)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self.changed = asyncio.Event()

    def start(self) -> float:
        """Every client connects now, at once."""
        self._tasks = [asyncio.create_task(self._run(c)) for c in self.clients]
        return time.monotonic()

    @staticmethod
    def synced(clients: list[StormClient], round_: int) -> int:
        return sum(len(c.synced_at) >= round_ for c in clients)

    async def wait_round(self, round_: int, timeout: float, clients: list[StormClient] | None = None) -> None:
        """Wait until each of `clients` (default: all) has synced `round_` times."""
        clients = self.clients if clients is None else clients
        deadline = time.monotonic() + timeout
        while self.synced(clients, round_) < len(clients):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.synced(clients, round_)} of {len(clients)} storm clients synced {round_} times within "
                    f"{timeout:.0f} s "
                    f"(refusals {dict(self.refusals)}, failures {[f for _, f in self.failures[:5]]})"
                )
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), 1.0)

    async def stop(self) -> None:
        self._stopping = True
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(c.ws.close() for c in self.clients if c.ws is not None), return_exceptions=True)

    async def _run(self, c: StormClient) -> None:
        attempt = 0
        while not self._stopping:
            c.attempts += 1
            began = time.monotonic()
            retry_after: float | None = None
            established = False
            try:
                async with connect(
                    c.url, local_addr=(c.source, 0), open_timeout=60, ping_interval=None, close_timeout=1
                ) as ws:
                    c.ws = ws
                    await ws.send(json.dumps({"type": "hello", "v": 1, "token": c.account.token}))
                    first = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if first.get("type") != "welcome":
                        self.failures.append((time.monotonic(), f"first frame {first}"))
                    else:
                        while json.loads(await asyncio.wait_for(ws.recv(), 60)).get("type") != "synced":
                            pass
                        c.synced_at.append(time.monotonic())
                        established = True
                        attempt = 0
                        self.changed.set()
                    async for _ in ws:  # connected until the connection is lost
                        pass
            except InvalidStatus as exc:
                status = exc.response.status_code
                header = exc.response.headers.get("Retry-After")
                self.refusals[(status, header is not None)] += 1
                if status not in (429, 503):
                    self.failures.append((time.monotonic(), f"HTTP {status}"))
                if header is not None and header.isdigit():
                    retry_after = float(header)
            except (ConnectionClosed, OSError, TimeoutError) as exc:
                if not self._stopping and not established:
                    took = time.monotonic() - began
                    self.failures.append((time.monotonic(), f"{type(exc).__name__}: {exc} ({c.url}, {took:.1f} s)"))
            except InvalidMessage as exc:
                # Closed before any HTTP answer: a node too busy to read the request head within its head
                # timeout (10 s) closes it as it would a client that trickles its head. Counted, and retried.
                self.unanswered.append((time.monotonic(), f"{exc} ({c.url}, after {time.monotonic() - began:.1f} s)"))
            except Exception as exc:  # anything else: a failure, and try again
                took = time.monotonic() - began
                self.failures.append((time.monotonic(), f"{type(exc).__name__}: {exc} ({c.url}, after {took:.1f} s)"))
            finally:
                c.ws = None
            if self._stopping:
                return
            delay = backoff_delay(attempt, 0.5, 5.0, self._rng)
            attempt += 1
            if retry_after is not None:
                delay = retry_after + delay  # never sooner than asked, and spread out after it
            started = time.monotonic()
            await asyncio.sleep(delay)
            if retry_after is not None:
                self.honoured.append((retry_after, time.monotonic() - started))


def storm_clients(accounts: list[Account], urls: list[str], *, sources: int = 20) -> list[StormClient]:
    """Clients spread round-robin over `urls` (ws://…) and over `sources` local addresses 127.0.0.2…"""
    return [StormClient(a, urls[i % len(urls)], f"127.0.0.{2 + i % sources}") for i, a in enumerate(accounts)]


def describe(values: list[float], start: float) -> dict[str, Any]:
    rel = sorted(v - start for v in values)
    if not rel:
        return {}
    return {"first": round(rel[0], 2), "half": round(rel[len(rel) // 2], 2), "all": round(rel[-1], 2)}
