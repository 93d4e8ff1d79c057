"""SMS gateways: how a verification code reaches a phone.

`console` writes the code to the server log (development, one machine). `webhook` POSTs JSON to a URL that
a real SMS provider (or the operator's own relay) answers; any 2xx means accepted.
"""

from __future__ import annotations

import logging
from typing import Protocol

import httpx

from hudhud.errors import ServiceUnavailable

log = logging.getLogger("hudhud.sms")


class SmsGateway(Protocol):
    async def send_code(self, phone: str, code: str) -> None: ...

    async def close(self) -> None: ...


class ConsoleSms:
    async def send_code(self, phone: str, code: str) -> None:
        log.warning("SMS to %s: your Hudhud code is %s", phone, code)
        print(f"[hudhud] SMS to {phone}: your Hudhud code is {code}", flush=True)

    async def close(self) -> None:
        return None


class WebhookSms:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout)

    async def send_code(self, phone: str, code: str) -> None:
        body = {"to": phone, "code": code, "text": f"Your Hudhud code is {code}"}
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
