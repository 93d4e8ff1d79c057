"""U+0000 in text: PostgreSQL's text types cannot hold it (SQLite's can), so every engine refuses it at the edge
with `invalid_request` / `bad_frame` instead of failing in the database with `internal_error`. Run on
PostgreSQL (HUDHUD_TEST_DATABASE=postgresql) these requests reached the database before the check existed."""

from __future__ import annotations

import pytest

from tests.support import ServerHandle


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/v1/me", {"display_name": "Amal\u0000"}),
        ("PATCH", "/v1/me", {"picture": "m\u0000"}),
        ("POST", "/v1/groups", {"subject": "s", "members": ["\u00003"]}),
        ("POST", "/v1/broadcast-lists", {"name": "n", "members": ["u\u0000"]}),
        ("GET", "/v1/media/m%00x", None),
        ("GET", "/v1/conversations?before=%00", None),
    ],
)
async def test_nul_is_refused_before_the_database(server: ServerHandle, method: str, path: str, body: object) -> None:
    _, _, token = await server.make_user("+201001234567", "Amal")
    async with server.http(token) as c:
        r = await c.request(method, path, json=body)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", r.text
        assert (await c.get("/v1/me")).json()["display_name"] == "Amal"


async def test_nul_in_a_frame_is_a_bad_frame(server: ServerHandle) -> None:
    _, _, token = await server.make_user("+201001234567", "Amal")
    a = await server.client(token)
    await a.send({"type": "typing", "conversation_id": "c\u0000", "ref": "t"})
    assert (await a.expect("error", ref="t"))["code"] == "bad_frame"
    await a.send({"type": "send", "id": "x1", "ref": "s", "content": {}, "media": ["m\u0000"], "to": "u"})
    assert (await a.expect("error", ref="s"))["code"] == "bad_frame"
    await a.send({"type": "ping", "ref": "p"})
    await a.expect("pong", ref="p")
