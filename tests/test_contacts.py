"""The address book, discovery, and its daily budget against number harvesting."""

from hudhud.clock import ManualClock


async def test_discovery_answers_only_for_submitted_numbers(server):
    _, _, token = await server.make_user("+201001234567", "Mona")
    bob_id, _, _ = await server.make_user("+201101234567", "Bob")
    await server.make_user("+201201234567", "Carol")  # on Hudhud, never submitted
    async with server.http(token) as c:
        r = await c.post(
            "/v1/contacts",
            json={"contacts": [{"phone": "01101234567", "name": "Bob"}, {"phone": "+201501234567", "name": "Dan"}]},
        )
        assert r.status_code == 200
        found = {x["phone"]: x for x in r.json()["contacts"]}
        assert set(found) == {"+201101234567", "+201501234567"}
        assert found["+201101234567"]["user_id"] == bob_id
        assert found["+201501234567"]["user_id"] is None
        listed = (await c.get("/v1/contacts")).json()["contacts"]
        assert {x["phone"] for x in listed} == {"+201101234567", "+201501234567"}  # Carol never appears
        assert (await c.delete("/v1/contacts/+201501234567")).status_code == 204
        assert (await c.delete("/v1/contacts/+201501234567")).status_code == 404


async def test_enumeration_stops_at_the_budget(server_factory):
    clock = ManualClock()
    async with server_factory(discovery_daily_budget=100, discovery_unknown_cost=1, clock=clock) as server:
        _, _, token = await server.make_user("+201001234567", "Harvester")
        for i in range(5):
            await server.make_user(f"+2010099900{i:02d}")
        async with server.http(token) as c:
            batch = [{"phone": f"+2010099900{i:02d}", "name": ""} for i in range(60)]
            r = await c.post("/v1/contacts", json={"contacts": batch})
            assert r.status_code == 200 and r.json()["discovery_budget_left"] == 40
            # Re-submitting known numbers costs nothing.
            r = await c.post("/v1/contacts", json={"contacts": batch[:10]})
            assert r.status_code == 200 and r.json()["discovery_budget_left"] == 40
            # The next 60 new numbers would exceed the budget: refused whole, nothing revealed or stored.
            more = [{"phone": f"+2010099901{i:02d}", "name": ""} for i in range(60)]
            r = await c.post("/v1/contacts", json={"contacts": more})
            assert r.status_code == 429
            assert r.json()["error"]["code"] == "discovery_budget_exceeded"
            assert "contacts" not in r.json()
            assert len((await c.get("/v1/contacts")).json()["contacts"]) == 60
            # The budget is daily.
            clock.advance(86400)
            r = await c.post("/v1/contacts", json={"contacts": more})
            assert r.status_code == 200 and r.json()["discovery_budget_left"] == 40


async def test_bad_contact_number_stores_nothing(server):
    _, _, token = await server.make_user("+201001234567")
    async with server.http(token) as c:
        r = await c.post(
            "/v1/contacts",
            json={"contacts": [{"phone": "+201101234567", "name": "ok"}, {"phone": "nonsense", "name": "bad"}]},
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_phone"
        assert (await c.get("/v1/contacts")).json()["contacts"] == []
