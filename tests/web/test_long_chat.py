"""A long chat stays light: only a window of at most 300 rows is in the DOM, and scrolling back reaches the
first message (the window slides). The messages come from a plain protocol client, as another user's device."""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.web.conftest import new_phone

COUNT = 400


def test_a_long_chat_keeps_the_dom_small(web: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    amira = web("en-GB")
    amira.register(amira_phone)
    server = amira.server.url

    # Bassem is a raw protocol client (docs/protocol.md 3.3, 3.11, 4.5).
    http = httpx.Client(base_url=server, timeout=10)
    assert http.post("/v1/auth/code", json={"phone": bassem_phone}).status_code == 202
    login = http.post(
        "/v1/auth/verify", json={"phone": bassem_phone, "code": amira.sms.code(bassem_phone), "device_name": "raw"}
    ).json()
    found = http.post(
        "/v1/contacts",
        json={"contacts": [{"phone": amira_phone, "name": "Amira"}]},
        headers={"Authorization": f"Bearer {login['token']}"},
    ).json()
    amira_id = found["contacts"][0]["user_id"]
    with connect(server.replace("http", "ws") + "/v1/ws") as ws:
        ws.send(json.dumps({"type": "hello", "v": 1, "token": login["token"]}))
        assert json.loads(ws.recv(10))["type"] == "welcome"
        for i in range(1, COUNT + 1):
            content = {"type": "text", "text": f"long #{i:04d}"}
            ws.send(json.dumps({"type": "send", "id": f"long-{i}", "to": amira_id, "content": content}))
        sent = 0
        while sent < COUNT:
            frame = json.loads(ws.recv(20))
            assert frame["type"] != "error", frame
            sent += frame["type"] == "sent"

    page = amira.page
    page.wait_for_selector(".chat-row [data-testid=unread]:has-text('400')", timeout=20000)
    page.click(".chat-row")
    amira.bubble(f"long #{COUNT:04d}").wait_for()
    rows = page.locator(".messages > li")
    assert 150 <= rows.count() <= 152, rows.count()  # the newest 150 messages and a date row or two

    for _ in range(20):
        if amira.bubble("long #0001").count():
            break
        page.evaluate("document.querySelector('.messages').scrollTop = 0")
        page.wait_for_timeout(150)
    assert amira.bubble("long #0001").count() == 1
    assert rows.count() <= 302, rows.count()
    assert amira.bubble(f"long #{COUNT:04d}").count() == 0  # the newest left the DOM

    # Sending jumps back to the newest messages.
    amira.send("back at the end")
    amira.bubble("back at the end").wait_for()
    amira.bubble(f"long #{COUNT:04d}").wait_for()
