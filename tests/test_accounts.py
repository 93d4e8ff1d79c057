"""Registration by SMS code, devices, profiles: over real HTTP against the real server."""

import pytest

from hudhud.clock import ManualClock


async def test_register_with_national_number(server):
    async with server.http() as c:
        r = await c.post("/v1/auth/code", json={"phone": "010 0123 4567"})
        assert r.status_code == 202
        assert r.json() == {"phone": "+201001234567", "expires_in": 600.0}
        code = server.codes["+201001234567"]
        assert len(code) == 6 and code.isdigit()
        r = await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": code, "device_name": "phone"})
        assert r.status_code == 200
        body = r.json()
        assert body["new_account"] is True
        me = await c.get("/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
        assert me.json()["phone"] == "+201001234567"
        assert me.json()["user_id"] == body["user_id"]


async def test_second_login_is_same_account_new_device(server_factory):
    async with server_factory(code_resend_interval=0) as server:
        first = await server.register("01001234567", "phone")
        second = await server.register("01001234567", "laptop")
        assert second["user_id"] == first["user_id"]
        assert second["device_id"] != first["device_id"]
        assert second["new_account"] is False
        async with server.http(second["token"]) as c:
            devices = (await c.get("/v1/devices")).json()["devices"]
        assert {d["name"] for d in devices} == {"phone", "laptop"}
        assert [d["current"] for d in devices if d["name"] == "laptop"] == [True]


@pytest.mark.parametrize("phone", ["", "12", "+999123", "hello", "0100123456789012345"])
async def test_invalid_phone(server, phone):
    async with server.http() as c:
        r = await c.post("/v1/auth/code", json={"phone": phone})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_phone"
    assert server.sms.requests == []


async def test_wrong_code_then_right_code(server):
    async with server.http() as c:
        await c.post("/v1/auth/code", json={"phone": "+201001234567"})
        code = server.codes["+201001234567"]
        wrong = "000000" if code != "000000" else "111111"
        r = await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": wrong})
        assert r.status_code == 400 and r.json()["error"]["code"] == "code_invalid"
        r = await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": code})
        assert r.status_code == 200


async def test_five_attempts_then_locked(server):
    async with server.http() as c:
        await c.post("/v1/auth/code", json={"phone": "+201001234567"})
        code = server.codes["+201001234567"]
        wrong = "000000" if code != "000000" else "111111"
        codes = []
        for _ in range(5):
            r = await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": wrong})
            codes.append(r.json()["error"]["code"])
        assert codes == ["code_invalid"] * 4 + ["code_attempts_exceeded"]
        # Even the right code is refused now: a new code must be requested.
        r = await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": code})
        assert r.status_code == 429 and r.json()["error"]["code"] == "code_attempts_exceeded"


async def test_code_expires_after_ten_minutes(server_factory):
    clock = ManualClock()
    async with server_factory(clock=clock) as server, server.http() as c:
        await c.post("/v1/auth/code", json={"phone": "+201001234567"})
        code = server.codes["+201001234567"]
        clock.advance(601)
        r = await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": code})
        assert r.status_code == 400 and r.json()["error"]["code"] == "code_expired"


async def test_one_code_cannot_log_in_two_devices_at_once(server):
    import asyncio

    async with server.http() as c:
        await c.post("/v1/auth/code", json={"phone": "+201001234567"})
        code = server.codes["+201001234567"]
        body = {"phone": "+201001234567", "code": code}
        results = await asyncio.gather(*(c.post("/v1/auth/verify", json=body) for _ in range(5)))
    assert sorted(r.status_code for r in results) == [200, 400, 400, 400, 400]


async def test_code_used_once(server):
    async with server.http() as c:
        await c.post("/v1/auth/code", json={"phone": "+201001234567"})
        code = server.codes["+201001234567"]
        assert (await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": code})).status_code == 200
        r = await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": code})
        assert r.json()["error"]["code"] == "code_invalid"


async def test_resend_throttled_per_number(server_factory):
    clock = ManualClock()
    async with server_factory(clock=clock) as server, server.http() as c:
        assert (await c.post("/v1/auth/code", json={"phone": "+201001234567"})).status_code == 202
        r = await c.post("/v1/auth/code", json={"phone": "+201001234567"})
        assert r.status_code == 429
        assert r.json()["error"]["code"] == "rate_limited"
        assert 0 < r.json()["error"]["retry_after"] <= 60
        assert "Retry-After" in r.headers
        # A minute later it may be sent again, up to five an hour.
        for _ in range(4):
            clock.advance(61)
            assert (await c.post("/v1/auth/code", json={"phone": "+201001234567"})).status_code == 202
        clock.advance(61)
        r = await c.post("/v1/auth/code", json={"phone": "+201001234567"})
        assert r.status_code == 429
        assert len(server.sms.requests) == 5


async def test_resend_throttled_per_client_address(server_factory):
    async with server_factory(code_max_per_ip_hour=3) as server, server.http() as c:
        statuses = [(await c.post("/v1/auth/code", json={"phone": f"+20100123456{i}"})).status_code for i in range(5)]
    assert statuses == [202, 202, 202, 429, 429]
    assert len(server.sms.requests) == 3


async def test_sms_provider_down(server):
    server.sms.fail = True
    async with server.http() as c:
        r = await c.post("/v1/auth/code", json={"phone": "+201001234567"})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "unavailable"


async def test_device_limit(server_factory):
    async with server_factory(max_devices=2, code_resend_interval=0) as server:
        await server.register("+201001234567", "one")
        await server.register("+201001234567", "two")
        async with server.http() as c:
            await c.post("/v1/auth/code", json={"phone": "+201001234567"})
            r = await c.post("/v1/auth/verify", json={"phone": "+201001234567", "code": server.codes["+201001234567"]})
        assert r.status_code == 409 and r.json()["error"]["code"] == "device_limit"


@pytest.mark.parametrize("token", ["", "hh_nonsense", "Bearer"])
async def test_bad_token(server, token):
    async with server.http() as c:
        r = await c.get("/v1/me", headers={"Authorization": f"Bearer {token}"} if token else {})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


async def test_profile_and_privacy(server):
    _, _, token = await server.make_user("+201001234567", "Mona")
    async with server.http(token) as c:
        r = await c.patch("/v1/me", json={"display_name": "منى", "about": "متاحة"})
        assert r.json()["display_name"] == "منى" and r.json()["about"] == "متاحة"
        assert r.json()["last_seen"] == "contacts"  # private by default
        r = await c.patch("/v1/me/privacy", json={"read_receipts": False, "last_seen": "nobody"})
        assert r.json()["read_receipts"] is False and r.json()["last_seen"] == "nobody"
        r = await c.patch("/v1/me/privacy", json={"last_seen": "strangers"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
        r = await c.patch("/v1/me", json={"display_name": "x" * 65})
        assert r.status_code == 400
        assert (await c.get("/v1/me")).json()["display_name"] == "منى"


async def test_revoked_device_is_disconnected_at_once(server):
    phone = "+201001234567"
    _, _, token = await server.make_user(phone, "Mona")
    second_id, second_token = await server.add_device(phone)
    live = await server.client(second_token)
    async with server.http(token) as c:
        assert (await c.delete(f"/v1/devices/{second_id}")).status_code == 204
        assert (await c.delete(f"/v1/devices/{second_id}")).status_code == 404
    err = await live.expect("error")
    assert err["code"] == "device_revoked"
    await live.closed.wait()
    assert live.close_code == 4401
    async with server.http(second_token) as c:
        r = await c.get("/v1/me")
    assert r.status_code == 401 and r.json()["error"]["code"] == "device_revoked"
    again = await server.client(second_token, hello=False)
    await again.send({"type": "hello", "v": 1, "token": second_token})
    assert (await again.expect("error"))["code"] == "device_revoked"
    await again.closed.wait()
    assert again.close_code == 4401


async def test_cannot_revoke_someone_elses_device(server):
    _, _, token_a = await server.make_user("+201001234567")
    _, device_b, _ = await server.make_user("+201101234567")
    async with server.http(token_a) as c:
        r = await c.delete(f"/v1/devices/{device_b}")
    assert r.status_code == 404


async def test_phone_number_is_shown_only_to_who_has_it(server):
    a_id, _, a_tok = await server.make_user("+201001234567", "Amal")
    b_id, _, b_tok = await server.make_user("+201101234567", "Badr")
    async with server.http(b_tok) as c:
        assert (await c.get(f"/v1/users/{a_id}")).json()["phone"] is None
    async with server.http(a_tok) as c:
        r = (await c.get(f"/v1/users/{b_id}")).json()
        assert r["display_name"] == "Badr" and r["phone"] is None
        await c.post("/v1/contacts", json={"contacts": [{"phone": "+201101234567", "name": "B"}]})
        assert (await c.get(f"/v1/users/{b_id}")).json()["phone"] == "+201101234567"
        assert (await c.get(f"/v1/users/{a_id}")).json()["phone"] == "+201001234567"
        assert (await c.get("/v1/users/unobody")).status_code == 404
    # Amal saved Badr, and her setting "phone: contacts" (the default) shows her number to her contacts.
    async with server.http(b_tok) as c:
        assert (await c.get(f"/v1/users/{a_id}")).json()["phone"] == "+201001234567"
    async with server.http(a_tok) as c:
        await c.patch("/v1/me/privacy", json={"phone": "nobody"})
    async with server.http(b_tok) as c:
        assert (await c.get(f"/v1/users/{a_id}")).json()["phone"] is None
    # Writing to Badr is Amal's own choice to show him her number, whatever the setting.
    a = await server.client(a_tok)
    await a.send_text("hi", to=b_id)
    async with server.http(b_tok) as c:
        assert (await c.get(f"/v1/users/{a_id}")).json()["phone"] == "+201001234567"


async def test_wrong_method_and_unknown_path(server):
    async with server.http() as c:
        r = await c.get("/v1/auth/code")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
        r = await c.get("/v1/nothing-here")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await c.post("/v1/auth/code", content=b"not json", headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"


async def test_health_and_openapi(server):
    async with server.http() as c:
        assert (await c.get("/healthz")).json()["status"] == "ok"
        assert (await c.get("/readyz")).json()["status"] == "ready"
        spec = (await c.get("/openapi.json")).json()
        assert "/v1/auth/code" in spec["paths"] and "/v1/conversations/{conversation_id}/messages" in spec["paths"]
        metrics = (await c.get("/metrics")).text
        assert "hudhud_connections_open 0.0" in metrics
