"""Consent in the browser: the first message from someone not in my contacts shows the stranger banner (protocol
10.2); adding them to contacts ends it; "Report and block" reports with the messages as evidence and blocks, after
which their messages no longer arrive (10.1)."""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.web.conftest import new_phone


class Raw:
    """Another user as a plain protocol client: log in, find a number, send."""

    def __init__(self, server: str, sms: Any) -> None:
        self.server = server
        self.phone = new_phone()
        self.http = httpx.Client(base_url=server, timeout=10)
        assert self.http.post("/v1/auth/code", json={"phone": self.phone}).status_code == 202
        login = self.http.post(
            "/v1/auth/verify", json={"phone": self.phone, "code": sms.code(self.phone), "device_name": "raw"}
        ).json()
        self.token = login["token"]
        self.n = 0

    def user_id(self, phone: str) -> str:
        r = self.http.post(
            "/v1/contacts", json={"contacts": [{"phone": phone}]}, headers={"Authorization": f"Bearer {self.token}"}
        )
        uid: str = r.json()["contacts"][0]["user_id"]
        return uid

    def send(self, to: str, text: str) -> None:
        with connect(self.server.replace("http", "ws") + "/v1/ws") as ws:
            ws.send(json.dumps({"type": "hello", "v": 1, "token": self.token}))
            assert json.loads(ws.recv(10))["type"] == "welcome"
            self.n += 1
            ws.send(
                json.dumps({"type": "send", "id": f"raw-{self.n}", "to": to, "content": {"type": "text", "text": text}})
            )
            while (frame := json.loads(ws.recv(10)))["type"] != "sent":
                assert frame["type"] != "error", frame


def test_stranger_banner_block_and_report(web: Any) -> None:
    amira_phone = new_phone()
    amira = web("en-GB")
    amira.register(amira_phone)
    server = amira.server.url

    carol = Raw(server, amira.sms)
    carol.send(carol.user_id(amira_phone), "hi, it is Carol from the office")
    amira.page.wait_for_selector(".chat-row")
    amira.page.click(".chat-row")
    banner = amira.page.locator("[data-testid=stranger]")
    banner.wait_for()
    assert carol.phone in banner.inner_text()  # she wrote first, so her number is shown (protocol 3.9)
    assert amira.axe() == []
    amira.screenshot("web-en-stranger")
    banner.locator("button", has_text="Add to contacts").click()
    banner.wait_for(state="detached")

    dave = Raw(server, amira.sms)
    dave.send(dave.user_id(amira_phone), "send me money now")
    amira.page.click(".chat-row:has-text('send me money')")
    amira.page.locator("[data-testid=stranger] button", has_text="Report and block").click()
    amira.page.locator("[data-testid=blocked]").wait_for()
    dave.send(dave.user_id(amira_phone), "are you there?")
    amira.page.wait_for_timeout(1000)
    assert amira.bubble("are you there?").count() == 0  # withheld from a user who blocked the sender

    # The server has Dave in Amira's block list (the report was POST /v1/reports with "block": true).
    blocks = httpx.get(server + "/v1/blocks", headers={"Authorization": f"Bearer {amira_token(amira)}"}).json()
    assert len(blocks["blocked"]) == 1


def amira_token(w: Any) -> str:
    token: str = w.page.evaluate(
        "() => new Promise(r => { const q = indexedDB.open('hudhud'); q.onsuccess = () => {"
        " const g = q.result.transaction('meta').objectStore('meta').get('auth');"
        " g.onsuccess = () => r(g.result.token); }; })"
    )
    return token
