"""Linking a new device with a pairing code approved by a device already logged in (protocol section 2.5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hudhud.clock import ManualClock
from tests.clikit import Cli, _clean_env  # noqa: F401 - the fixture applies to this module
from tests.test_client_sdk import login_profile


async def ask(server: Any, name: str = "Chromium on Linux") -> dict[str, Any]:
    async with server.http() as c:
        r = await c.post("/v1/link/requests", json={"device_name": name})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def claim(server: Any, req: dict[str, Any], secret: str | None = None) -> Any:
    async with server.http() as c:
        return await c.post(f"/v1/link/requests/{req['request_id']}/claim", json={"secret": secret or req["secret"]})


async def approve(server: Any, token: str, code: str) -> Any:
    async with server.http(token) as c:
        return await c.post("/v1/link/approve", json={"code": code})


async def test_a_browser_is_linked_sees_recent_history_and_can_be_revoked(server):
    amal_id, amal_dev, amal_tok = await server.make_user("+201001234567", "Amal")
    _, _, badr_tok = await server.make_user("+201101234567", "Badr")
    b = await server.client(badr_tok)
    sent = await b.send_text("أهلاً يا أمل", to=amal_id)

    req = await ask(server)
    assert len(req["code"]) == 9 and req["code"][4] == "-" and req["uri"].endswith(req["code"])
    assert (await claim(server, req)).status_code == 202  # not approved yet
    # The phone approves the code as a person types it: any case, spaces instead of the dash.
    r = await approve(server, amal_tok, req["code"].lower().replace("-", " "))
    assert r.status_code == 200 and r.json()["device_name"] == "Chromium on Linux"
    r = await claim(server, req)
    assert r.status_code == 200
    linked = r.json()
    assert linked["status"] == "linked" and linked["user_id"] == amal_id and linked["device_id"] != amal_dev
    # Single use: the token is handed out once.
    assert (await claim(server, req)).status_code == 404

    async with server.http(linked["token"]) as c:
        assert (await c.get("/v1/me")).json()["user_id"] == amal_id
    async with server.http(amal_tok) as c:
        devices = (await c.get("/v1/devices")).json()["devices"]
    assert {d["device_id"]: d["name"] for d in devices}[linked["device_id"]] == "Chromium on Linux"
    # The new device catches up on the chats' history like any device of the account.
    browser = await server.client(linked["token"], hello=False)
    await browser.send({"type": "hello", "v": 1, "token": linked["token"]})
    got = await browser.expect("deliver", seq=sent["seq"])
    assert got["content"]["text"] == "أهلاً يا أمل"
    await browser.expect("synced")
    # Revoked like any other device: its live connection is closed.
    async with server.http(amal_tok) as c:
        assert (await c.delete(f"/v1/devices/{linked['device_id']}")).status_code == 204
    await browser.closed.wait()
    assert browser.close_code == 4401


async def test_only_the_holder_of_the_secret_gets_the_token(server):
    _, _, amal_tok = await server.make_user("+201001234567", "Amal")
    req = await ask(server)
    assert (await approve(server, amal_tok, req["code"])).status_code == 200
    r = await claim(server, req, secret="hh_someone_else")
    assert r.status_code == 404 and r.json()["error"]["code"] == "pairing_invalid"
    # A code approved once cannot be approved again (by anyone).
    _, _, badr_tok = await server.make_user("+201101234567", "Badr")
    assert (await approve(server, badr_tok, req["code"])).json()["error"]["code"] == "pairing_invalid"
    assert (await claim(server, req)).status_code == 200


async def test_codes_expire_and_guessing_is_limited(server_factory):
    clock = ManualClock()
    async with server_factory(clock=clock, link_misses_per_day=3) as server:
        _, _, tok = await server.make_user("+201001234567", "Amal")
        req = await ask(server)
        clock.advance(301)
        r = await approve(server, tok, req["code"])
        assert r.status_code == 404 and r.json()["error"]["code"] == "pairing_invalid"
        assert (await claim(server, req)).status_code == 404
        for guess in ("AAAA-AAAA", "nonsense"):
            assert (await approve(server, tok, guess)).status_code == 404
        # Three misses today: even a good code is refused until tomorrow.
        fresh = await ask(server)
        r = await approve(server, tok, fresh["code"])
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        clock.advance(86400)
        assert (await approve(server, tok, fresh["code"])).status_code == 404  # it expired meanwhile
        newer = await ask(server)
        assert (await approve(server, tok, newer["code"])).status_code == 200


async def test_link_requests_are_limited_per_address_and_by_the_device_limit(server_factory):
    async with server_factory(link_requests_per_ip_hour=2, max_devices=1) as server:
        _, _, tok = await server.make_user("+201001234567", "Amal")
        first = await ask(server)
        await ask(server)
        async with server.http() as c:
            r = await c.post("/v1/link/requests", json={"device_name": "third"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
        # The account already has its one device.
        r = await approve(server, tok, first["code"])
        assert r.status_code == 409 and r.json()["error"]["code"] == "device_limit"


async def test_hudhud_link_approves_from_the_command_line(
    server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    amal = await server.make_user("+201001234567", "Amal")
    login_profile(tmp_path / "amal", server.url, "+201001234567", amal)
    cli = Cli(capsys, tmp_path / "amal", server.url)
    req = await ask(server, "Office PC")
    out = await cli.ok("link", req["code"])
    assert "linked Office PC" in out
    assert (await claim(server, req)).json()["user_id"] == amal[0]
    rc, _, err = await cli("link", "ZZZZ-ZZZZ")
    assert rc == 1 and "pairing" in err
