"""The whole server on PostgreSQL: the same guarantees as on the embedded default."""

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
