"""Process lifecycle: an operator's `kill <pid>` (SIGTERM) drains the server and the process exits 0."""

import asyncio
import json
import signal

import pytest
from websockets.asyncio.client import connect

from tests.support import free_socket
from tests.test_crash import admin_create, hello, start_server

pytestmark = pytest.mark.slow


async def test_sigterm_drains_and_exits_zero(tmp_path):
    data = tmp_path / "var"
    a = admin_create(data, "+201001234567")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    proc = await start_server(data, port, "normal")
    try:
        sockets = [await connect(f"ws://127.0.0.1:{port}/v1/ws") for _ in range(3)]
        for ws in sockets:
            await hello(ws, a["token"])
            while json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] != "synced":
                pass
        proc.send_signal(signal.SIGTERM)
        for ws in sockets:
            with pytest.raises(Exception):  # noqa: B017 - the close arrives as ConnectionClosed
                while True:
                    await asyncio.wait_for(ws.recv(), 15)
            assert ws.close_code == 1012, "told to come back soon"
        # A systemd unit or a container runtime reads a drained stop as success only from exit status 0.
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
