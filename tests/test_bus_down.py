"""Two nodes on one PostgreSQL database and one Redis bus, while Redis is down: what a lost notice would have
done is found in the store instead. (tests/cluster/ does the same with whole `hudhud serve` processes.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support import running_server

pytestmark = pytest.mark.postgres


async def test_a_device_revoked_on_one_node_while_redis_is_down_is_closed_on_another(
    tmp_path: Path, postgres_url: str, redis_process: Any
) -> None:
    settings = {"database_url": postgres_url, "bus_url": redis_process.url, "bus_poll_interval": 0.2}
    async with (
        running_server(tmp_path / "a", **settings) as a,
        running_server(tmp_path / "b", **settings) as b,
    ):
        _, device_id, token = await a.make_user("+201001234567", "Amal")
        _, _, other_token = await a.make_user("+201101234567", "Badr")
        on_b = await b.client(token)
        bystander = await b.client(other_token)
        redis_process.stop()
        await asyncio.sleep(0.3)  # both nodes know Redis is down
        async with a.http(token) as c:
            r = await c.delete(f"/v1/devices/{device_id}")
            assert r.status_code == 204
        # The notice to node b is lost with Redis; node b finds the revocation when it polls the store.
        err = await on_b.expect("error", timeout=10, code="device_revoked")
        assert err["ref"] is None
        await asyncio.wait_for(on_b.closed.wait(), 10)
        assert on_b.close_code == 4401
        # A device that was not revoked stays connected.
        await asyncio.sleep(0.5)
        assert not bystander.closed.is_set()
