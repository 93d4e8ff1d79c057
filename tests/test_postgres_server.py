"""The whole server on PostgreSQL: the same guarantees as on the embedded default."""

import asyncio

import pytest

pytestmark = pytest.mark.postgres


async def test_exchange_catch_up_and_receipts_on_postgres(server_factory, postgres_url):
    async with server_factory(database_url=postgres_url) as server:
        assert server.hub.db.dialect == "postgresql"
        a_id, _, a_tok = await server.make_user("+201001234567", "Amal")
        b_id, _, b_tok = await server.make_user("+201101234567", "Badr")
        a = await server.client(a_tok)
        for i in range(300):
            await a.send({"type": "send", "id": f"m{i}", "to": b_id, "content": {"type": "text", "text": f"{i}"}})
        acks = [await a.expect("sent", id=f"m{i}") for i in range(300)]
        assert sorted(x["seq"] for x in acks) == list(range(1, 301))
        again = await a.send_text("dup", to=b_id, msg_id="m0")
        assert again["duplicate"] is True and again["seq"] == acks[0]["seq"]
        b = await server.client(b_tok)
        got = b.take_all("deliver")
        assert [f["seq"] for f in got] == list(range(1, 301))
        assert [f["id"] for f in got] == [f"m{i}" for i in range(300)]
        conv = got[0]["conversation_id"]
        await b.send({"type": "read", "conversation_id": conv, "seq": 300})
        r = await a.expect("receipt", user_id=b_id, read_seq=300)
        assert r["delivered_seq"] == 300
        async with server.http(a_tok) as c:
            convs = (await c.get("/v1/conversations")).json()["conversations"]
        assert convs[0]["last_seq"] == 300 and a_id in {m["user_id"] for m in convs[0]["members"]}


async def _database_accepts_connections(name: str, accept: bool) -> None:
    from tests.support import _admin as _execute

    await _execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(accept).lower()}')
    if not accept:
        await _execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")


async def test_a_hello_while_the_database_is_down_is_answered_unavailable_not_unauthorized(
    server_factory, postgres_url, tmp_path
):
    """The token cannot be checked while the database is down: the client is told to come back (error
    unavailable, close 1013), never that it is logged out (4401), and an SDK session reconnects once the
    database is back instead of giving up for good."""
    from websockets.asyncio.client import connect

    from hudhud.client.sdk import ConnState, HudhudClient
    from hudhud.client.state import StateStore
    from tests.support import RawClient

    name = postgres_url.rsplit("/", 1)[1]
    async with server_factory(database_url=postgres_url) as server:
        user_id, device_id, token = await server.make_user("+201001234567", "Amal")
        store = StateStore(tmp_path / "profile")
        store.save_login(server.url, "+201001234567", user_id, device_id, token)
        client = HudhudClient(store, server=server.url, backoff_base=0.05, backoff_cap=0.3)
        await _database_accepts_connections(name, False)
        try:
            raw = RawClient(await connect(server.ws_url))
            await raw.send({"type": "hello", "v": 1, "token": token, "ref": "h"})
            err = await raw.expect("error", timeout=10)
            assert err["code"] == "unavailable" and err["ref"] == "h" and err["retry_after"] > 0
            await asyncio.wait_for(raw.closed.wait(), 10)
            assert raw.close_code == 1013
            client.start()
            await asyncio.sleep(1.5)
            assert client.state is not ConnState.LOGGED_OUT
        finally:
            await _database_accepts_connections(name, True)
        try:
            await client.wait_synced(timeout=15)
        finally:
            await client.aclose()


async def test_a_hello_still_being_checked_when_the_hello_deadline_passes_is_not_refused(
    server_factory, postgres_url, monkeypatch
):
    """The hello deadline is for clients that say nothing: a hello that arrived in time but whose token check
    waits on the database (a lock, a reconnect storm) gets its welcome when the check returns, not 4401."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from hudhud.web import ws

    monkeypatch.setattr(ws, "HELLO_TIMEOUT", 0.5)
    async with server_factory(database_url=postgres_url) as server:
        _, _, token = await server.make_user("+201001234567", "Amal")
        engine = create_async_engine(postgres_url.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            async with engine.connect() as conn:
                await conn.execute(text("BEGIN"))
                await conn.execute(text("LOCK TABLE devices IN ACCESS EXCLUSIVE MODE"))  # the token lookup waits
                c = await server.client(token, hello=False)
                await c.send({"type": "hello", "v": 1, "token": token})
                await asyncio.sleep(1.0)  # twice the deadline
                assert not c.closed.is_set()
                await conn.execute(text("ROLLBACK"))
            await c.expect("welcome", timeout=10)
            await c.expect("synced", timeout=10)
        finally:
            await engine.dispose()
