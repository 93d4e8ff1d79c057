"""The web client is served at / with strict headers, and never shadows the API or the operations endpoints."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from hudhud.web.webapp import WEBCLIENT_DIR, WebClient, content_security_policy, reserved
from tests.support import ServerHandle


def test_the_build_ships_in_the_package() -> None:
    client = WebClient()
    assert client.built, f"no index.html in {WEBCLIENT_DIR}: run make web"
    assert any(p.startswith("/assets/") and p.endswith(".js") for p in client.files)
    assert any(p.endswith(".woff2") for p in client.files), "the Arabic font ships with the app"
    index = (WEBCLIENT_DIR / "index.html").read_text()
    assert "<script>" not in index and '<script type="module" crossorigin src="/assets/' in index


async def test_index_and_client_routes(server: ServerHandle) -> None:
    async with server.http() as c:
        for path in ("/", "/chats/c123", "/settings"):
            r = await c.get(path)
            assert r.status_code == 200, path
            assert r.headers["content-type"].startswith("text/html")
            assert r.headers["cache-control"] == "no-cache"
            assert '<div id="app">' in r.text
            csp = r.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert "frame-ancestors 'none'" in csp
            assert "connect-src 'self' ws://127.0.0.1:" in csp
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"
        head = await c.head("/")
        assert head.status_code == 200 and head.content == b""


async def test_hashed_assets_are_cached_for_long(server: ServerHandle) -> None:
    async with server.http() as c:
        index = (await c.get("/")).text
        js = re.search(r'src="(/assets/[^"]+\.js)"', index)
        assert js
        r = await c.get(js.group(1))
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/javascript")
        assert "immutable" in r.headers["cache-control"] and "max-age=31536000" in r.headers["cache-control"]
        missing = await c.get("/assets/index-00000000.js")
        assert missing.status_code == 404 and "immutable" not in missing.headers.get("cache-control", "")
        assert (await c.get("/../pyproject.toml")).status_code == 404


async def test_api_and_operations_are_not_shadowed(server: ServerHandle) -> None:
    async with server.http() as c:
        r = await c.get("/v1/nope")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await c.get("/v1/auth/code")
        assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
        assert (await c.get("/v1/me")).status_code == 401
        assert (await c.get("/healthz")).json()["status"] == "ok"
        assert (await c.get("/readyz")).status_code == 200
        assert "hudhud_connections" in (await c.get("/metrics")).text
        assert (await c.get("/openapi.json")).json()["info"]["title"] == "Hudhud"
        assert (await c.get("/docs")).status_code == 200
        assert (await c.get("/metrics/x")).status_code == 404
        assert (await c.post("/", json={})).status_code == 404  # only GET and HEAD reach the web client


def test_reserved_prefixes_and_csp_host() -> None:
    assert reserved("/v1") and reserved("/v1/ws") and reserved("/healthz") and reserved("/docs/oauth2-redirect")
    assert not reserved("/v1x") and not reserved("/") and not reserved("/chats")
    assert "ws://" not in content_security_policy("evil\r\nX: y")
    assert "wss://chat.example:8443" in content_security_policy("chat.example:8443")


def test_a_new_build_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text("<!doctype html><title>one</title>")
    client = WebClient(tmp_path)
    assert "/assets/new-abc.js" not in client.files
    (tmp_path / "assets" / "new-abc.js").write_text("console.log(1)")
    (tmp_path / "index.html").write_text("<!doctype html><title>two</title>")
    os.utime(tmp_path / "index.html", (time.time() + 5, time.time() + 5))
    r = client.response("/assets/new-abc.js", "127.0.0.1:8080")
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    assert client.response("/../index.html", None).status_code == 404  # only paths of the listing
    assert client.response("/assets/missing.js", None).status_code == 404
