"""A protocol client for load: raw frames, no cleverness, spread over loopback source addresses so that one
load generator can open more connections than one address's port range allows."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

# 127.0.0.2 ... 127.0.0.41: about 28k ports each.
_SOURCES = itertools.cycle(f"127.0.0.{i}" for i in range(2, 42))


class Bot:
    def __init__(self, ws_url: str, user: dict[str, str]) -> None:
        self.ws_url = ws_url
        self.user = user
        self.ws: ClientConnection | None = None
        self.synced = asyncio.Event()
        self.on_frame: Callable[[dict[str, Any]], None] | None = None
        self.errors: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None

    async def connect(self, timeout: float = 60, ping_interval: float | None = None) -> None:
        self.synced = asyncio.Event()
        self.ws = await connect(
            self.ws_url,
            max_size=2**24,
            open_timeout=timeout,
            ping_interval=ping_interval,
            local_addr=(next(_SOURCES), 0),
            compression=None,
        )
        await self.ws.send(json.dumps({"type": "hello", "v": 1, "token": self.user["token"]}))
        self._reader = asyncio.create_task(self._read(self.ws))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                f = json.loads(raw)
                t = f["type"]
                if t == "synced":
                    self.synced.set()
                elif t == "error":
                    self.errors.append(f)
                if self.on_frame is not None:
                    self.on_frame(f)
        except Exception:
            pass

    async def send(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(frame))

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()


def now() -> float:
    return time.perf_counter()
