"""SMS gateways: how a verification code reaches a phone.

`webhook` POSTs JSON to a URL that a real SMS provider (or the operator's own relay) answers; any 2xx means
accepted. The other two are for development and testing, and send nothing to any phone: `console` prints
the code on the server's standard output, `file` appends it as one JSON line to a file that a test script or
a load generator reads. The formats are part of docs/protocol.md section 2.4.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Protocol

import httpx

from hudhud.errors import ServiceUnavailable

log = logging.getLogger("hudhud.sms")


class SmsGateway(Protocol):
    async def send_code(self, phone: str, code: str) -> None: ...

    async def close(self) -> None: ...


def message_text(code: str) -> str:
    return f"Your Hudhud code is {code}"


class ConsoleSms:
    async def send_code(self, phone: str, code: str) -> None:
        log.warning("SMS to %s: your Hudhud code is %s", phone, code)
        print(f"[hudhud] SMS to {phone}: your Hudhud code is {code}", flush=True)

    async def close(self) -> None:
        return None


class FileSms:
    """One JSON object per line, appended and flushed before the request is answered: a reader that sees the
    `202` of `POST /v1/auth/code` finds the line already there. Each line is written with one `write` on a
    file opened for appending, so lines of concurrent requests do not interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send_code(self, phone: str, code: str) -> None:
        line = json.dumps({"to": phone, "code": code, "text": message_text(code), "sent_at": round(time.time(), 3)})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    async def close(self) -> None:
        return None


class WebhookSms:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send_code(self, phone: str, code: str) -> None:
        body = {"to": phone, "code": code, "text": message_text(code)}
        try:
            resp = await self._client.post(self._url, json=body)
        except httpx.HTTPError as exc:
            log.error("SMS webhook failed: %s", exc)
            raise ServiceUnavailable("the SMS provider could not be reached", retry_after=30) from None
        if not resp.is_success:
            log.error("SMS webhook answered %s", resp.status_code)
            raise ServiceUnavailable("the SMS provider refused the message", retry_after=30)

    async def close(self) -> None:
        await self._client.aclose()
