"""A user on a plain protocol client (docs/protocol.md 3.3, 3.11, 4.5), for browser tests that need someone on
the other end who is quick to script: register, find a number, send many messages over one socket."""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.web.conftest import SmsThread


class RawUser:
    def __init__(self, server: str, sms: SmsThread, phone: str, name: str = "") -> None:
        self.server = server
        self.http = httpx.Client(base_url=server, timeout=30)
        assert self.http.post("/v1/auth/code", json={"phone": phone}).status_code == 202
        login = self.http.post(
            "/v1/auth/verify", json={"phone": phone, "code": sms.code(phone), "device_name": "raw"}
        ).json()
        self.token: str = login["token"]
        self.user_id: str = login["user_id"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        if name:
            assert self.http.patch("/v1/me", json={"display_name": name}).status_code == 200

    def find(self, phone: str, name: str) -> str:
        found = self.http.post("/v1/contacts", json={"contacts": [{"phone": phone, "name": name}]}).json()
        user_id: str = found["contacts"][0]["user_id"]
        return user_id

    def send_many(self, to: str, contents: list[dict[str, Any]], prefix: str = "raw") -> list[int]:
        """Send all of them on one connection, pipelined; the seq of each, in order."""
        seqs: dict[str, int] = {}
        with connect(self.server.replace("http", "ws") + "/v1/ws", max_size=None) as ws:
            ws.send(json.dumps({"type": "hello", "v": 1, "token": self.token}))
            assert json.loads(ws.recv(10))["type"] == "welcome"
            for i, content in enumerate(contents):
                ws.send(json.dumps({"type": "send", "id": f"{prefix}-{i}", "to": to, "content": content}))
            while len(seqs) < len(contents):
                frame = json.loads(ws.recv(60))
                assert frame["type"] != "error", frame
                if frame["type"] == "sent":
                    seqs[frame["id"]] = frame["seq"]
        return [seqs[f"{prefix}-{i}"] for i in range(len(contents))]
