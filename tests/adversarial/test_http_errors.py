"""Error answers a client written from docs/protocol.md did not expect: a plain-text 400, a body judged
before the caller, a 405 that does not say what is allowed (section 3.1)."""

import asyncio
import json

import pytest

from tests.support import ServerHandle


async def raw_request(s: ServerHandle, request: bytes) -> tuple[bytes, dict[str, str], bytes]:
    host, port = s.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        status, *lines = head.decode("latin-1").strip().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
        body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 5)
        return status.encode(), headers, body
    finally:
        writer.close()


@pytest.mark.parametrize("length", [b"", b"abc", b"-1"])
async def test_an_unparseable_content_length_gets_the_json_error(server, length):
    _, _, token = await server.make_user("+201001234567")
    status, headers, body = await raw_request(
        server,
        b"PATCH /v1/media/m1/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() + b"\r\n"
        b"Upload-Offset: 0\r\nContent-Length: " + length + b"\r\n\r\n",
    )
    assert status.startswith(b"HTTP/1.1 400")
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"]["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/media", b"{not json"),
        ("POST", "/v1/media", b'{"kind": "nope"}'),
        ("POST", "/v1/contacts", b"[]"),
        ("PATCH", "/v1/me", b"{"),
        ("POST", "/v1/groups", b'{"subject": 7}'),
        ("POST", "/v1/broadcast-lists", b"null"),
    ],
)
async def test_authentication_comes_before_the_body(server, method, path, body):
    async with server.http() as c:
        r = await c.request(method, path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthorized"
        r = await c.request(
            method, path, content=body, headers={"Content-Type": "application/json", "Authorization": "Bearer nope"}
        )
        assert r.status_code == 401, r.text


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("TRACE", "/v1/me", "DELETE, GET, PATCH"),
        ("PUT", "/v1/devices/d1", "DELETE"),
        ("PROPFIND", "/v1/contacts", "GET, POST"),
        ("TRACE", "/healthz", "GET"),
        ("POST", "/v1/media/m1/upload", "GET, HEAD, PATCH"),
    ],
)
async def test_405_says_what_is_allowed(server, method, path, allow):
    async with server.http() as c:
        r = await c.request(method, path)
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert r.headers["allow"] == allow


async def test_a_method_http_does_not_know_gets_the_json_error(server):
    status, _, body = await raw_request(server, b"FOO /v1/me HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 400")
    assert json.loads(body)["error"]["code"] == "invalid_request"


async def test_the_openapi_document_lists_the_error_answers(server):
    async with server.http() as c:
        doc = (await c.get("/openapi.json")).json()
    assert "Error" in doc["components"]["schemas"]
    statuses = {s for item in doc["paths"].values() for op in item.values() for s in op["responses"]}
    assert "422" not in statuses, "the server answers 400 invalid_request, never 422"
    upload = doc["paths"]["/v1/media/{media_id}/upload"]["patch"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "429", "500", "503"} <= set(upload)
    assert "upload_offset_mismatch" in upload["409"]["description"]


def test_the_error_table_names_only_routes_that_exist():
    from hudhud.web import chatstate_rest, groups_rest, link_rest, media_rest, rest
    from hudhud.web.routing import ROUTE_ERRORS

    routers = [rest.router, groups_rest.router, media_rest.router, link_rest.router, chatstate_rest.router]
    routes = {f"{m} {r.path}" for router in routers for r in router.routes for m in r.methods}  # type: ignore[attr-defined]
    operations = {"GET /healthz", "GET /readyz", "GET /metrics"}
    assert set(ROUTE_ERRORS) == routes | operations
