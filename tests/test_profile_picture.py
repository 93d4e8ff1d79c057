"""Profile pictures over the real server (docs/protocol.md 3.4, 3.5, 3.9): set from one's own finished image
upload, shown and downloadable under the rule of the name and about (not to someone the owner blocked), kept
from retention, cleared with "". Runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hudhud.clock import ManualClock
from tests import mediakit as mk
from tests.groupkit import Person, people


async def upload(p: Person, kind: str, data: bytes, ctype: str) -> str:
    async with p.http() as c:
        media_id: str = (await mk.upload(c, kind, data, ctype))["media_id"]
    return media_id


async def set_picture(p: Person, value: str | None) -> Any:
    return await p.call("PATCH", "/v1/me", json={"picture": value})


async def test_picture_is_set_shown_and_cleared(server_factory: Callable[..., Any], database_url: str) -> None:
    async with server_factory(database_url=database_url) as server:
        amal, badr = await people(server, "amal", "badr")
        pic = await upload(amal, "image", mk.png(64, 64), "image/png")
        r = await set_picture(amal, pic)
        assert r.status_code == 200, r.text
        assert r.json()["picture"] == pic
        assert (await amal.call("GET", "/v1/me")).json()["picture"] == pic

        # Badr sees it in the profile and in the conversation's members, and may download it and its thumbnail.
        profile = (await badr.call("GET", f"/v1/users/{amal.id}")).json()
        assert profile["picture"] == pic
        b = await badr.client()
        await b.send_text("hi", to=amal.id)
        convs = (await badr.call("GET", "/v1/conversations")).json()["conversations"]
        members = {m["user_id"]: m for m in convs[0]["members"]}
        assert members[amal.id]["picture"] == pic and members[badr.id]["picture"] is None
        got = await badr.call("GET", f"/v1/media/{pic}")
        assert got.status_code == 200 and got.content == mk.png(64, 64)
        assert (await badr.call("GET", f"/v1/media/{pic}/thumbnail")).status_code == 200
        url = (await badr.call("POST", f"/v1/media/{pic}/url", json={})).json()["url"]
        async with server.http() as anon:
            assert (await anon.get(url)).status_code == 200

        # A picture that a message refers to cannot be deleted, and neither can the current profile picture.
        assert (await amal.call("DELETE", f"/v1/media/{pic}")).status_code == 400

        # "" clears it; null or absent leaves it alone.
        assert (await amal.call("PATCH", "/v1/me", json={"about": "x"})).json()["picture"] == pic
        assert (await set_picture(amal, None)).json()["picture"] == pic
        assert (await set_picture(amal, "")).json()["picture"] is None
        assert (await badr.call("GET", f"/v1/users/{amal.id}")).json()["picture"] is None
        assert (await badr.call("GET", f"/v1/media/{pic}")).status_code == 404
        assert (await amal.call("DELETE", f"/v1/media/{pic}")).status_code == 204


async def test_a_blocked_user_sees_no_picture(server_factory: Callable[..., Any], database_url: str) -> None:
    async with server_factory(database_url=database_url) as server:
        amal, badr, chadi = await people(server, "amal", "badr", "chadi")
        pic = await upload(amal, "image", mk.jpeg(80, 60), "image/jpeg")
        assert (await set_picture(amal, pic)).status_code == 200
        r = await amal.call("POST", "/v1/blocks", json={"user_id": badr.id})
        assert r.status_code in (200, 201, 204), r.text
        assert (await badr.call("GET", f"/v1/users/{amal.id}")).json()["picture"] is None
        for path in (f"/v1/media/{pic}", f"/v1/media/{pic}/thumbnail", f"/v1/media/{pic}/info"):
            assert (await badr.call("GET", path)).status_code == 404, path
        assert (await badr.call("POST", f"/v1/media/{pic}/url", json={})).status_code == 404
        # Others still see it; blocking is one person's choice about one person.
        assert (await chadi.call("GET", f"/v1/users/{amal.id}")).json()["picture"] == pic
        assert (await chadi.call("GET", f"/v1/media/{pic}")).status_code == 200
        assert (await amal.call("DELETE", f"/v1/blocks/{badr.id}")).status_code == 204
        assert (await badr.call("GET", f"/v1/users/{amal.id}")).json()["picture"] == pic


@pytest.mark.parametrize("case", ["someone_elses", "unfinished", "not_an_image", "unknown"])
async def test_only_my_own_finished_image(server_factory: Callable[..., Any], database_url: str, case: str) -> None:
    async with server_factory(database_url=database_url) as server:
        amal, badr = await people(server, "amal", "badr")
        if case == "someone_elses":
            media_id = await upload(badr, "image", mk.png(), "image/png")
        elif case == "unfinished":
            async with amal.http() as c:
                media_id = (await mk.create(c, "image", mk.png(), "image/png")).json()["media_id"]
        elif case == "not_an_image":
            media_id = await upload(amal, "document", mk.pdf(), "application/pdf")
        else:
            media_id = "m" + "a" * 26
        r = await set_picture(amal, media_id)
        want = (400, "invalid_request") if case == "not_an_image" else (404, "media_not_found")
        assert (r.status_code, r.json()["error"]["code"]) == want
        assert (await amal.call("GET", "/v1/me")).json()["picture"] is None


async def test_retention_keeps_the_picture(server_factory: Callable[..., Any], database_url: str) -> None:
    clock = ManualClock(1_800_000_000.0)
    async with server_factory(database_url=database_url, clock=clock) as server:
        (amal,) = await people(server, "amal")
        pic = await upload(amal, "image", mk.png(), "image/png")
        other = await upload(amal, "image", mk.webp(), "image/webp")
        assert (await set_picture(amal, pic)).status_code == 200
        clock.advance(server.hub.settings.media_retention + 60)
        await server.hub.media.sweep()
        assert (await amal.call("GET", f"/v1/media/{pic}")).status_code == 200
        assert (await amal.call("GET", f"/v1/media/{other}")).status_code == 404


async def test_deleting_the_account_clears_the_picture(server_factory: Callable[..., Any], database_url: str) -> None:
    async with server_factory(database_url=database_url) as server:
        amal, badr = await people(server, "amal", "badr")
        pic = await upload(amal, "image", mk.png(), "image/png")
        assert (await set_picture(amal, pic)).status_code == 200
        b = await badr.client()
        await b.send_text("hi", to=amal.id)
        r = await amal.call("DELETE", "/v1/me", json={"phone": amal.phone})
        assert r.status_code == 204
        convs = (await badr.call("GET", "/v1/conversations")).json()["conversations"]
        assert all(m["picture"] is None for m in convs[0]["members"])
        assert (await badr.call("GET", f"/v1/media/{pic}")).status_code == 404
