"""Getting SMS codes without a phone, as a test script or a load generator does it from docs/protocol.md
section 2.4: numbers from the documented fictional ranges, codes read from the development gateways."""

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.support import database_env, free_socket

HUDHUD = [sys.executable, "-m", "hudhud.cli"]
CONSOLE_LINE = re.compile(r"^\[hudhud\] SMS to (\+[0-9]{8,15}): your Hudhud code is ([0-9]{6})$")
# The documented test ranges: +1 <area code> 555 0100–0199 (NANP, fictional) and +44 20 7946 0000–0999 (Ofcom).
TEST_NUMBERS = [f"+1202555{n:04d}" for n in range(100, 112)] + [f"+44207946{n:04d}" for n in range(0, 8)]


@contextlib.contextmanager
def serve(data: Path, *args: str, stdout: int | None = subprocess.DEVNULL):
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "HUDHUD_LOG_LEVEL": "warning", "HUDHUD_CODE_MAX_PER_IP_HOUR": "1000", **database_env(data)}
    cmd = [*HUDHUD, "serve", "--port", str(port), "--data-dir", str(data), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=stdout, stderr=subprocess.DEVNULL, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            time.sleep(0.05)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.mark.slow
async def test_a_load_generator_reads_codes_from_the_file_gateway(tmp_path):
    data = tmp_path / "var"
    with serve(data, "--sms-gateway", "file") as (url, _):
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            answers = await asyncio.gather(*(c.post("/v1/auth/code", json={"phone": n}) for n in TEST_NUMBERS))
            assert [r.status_code for r in answers] == [202] * len(TEST_NUMBERS), answers[0].text
            # The line is in the file by the time the 202 arrives.
            lines = [json.loads(line) for line in (data / "sms-codes.jsonl").read_text().splitlines()]
            assert {tuple(sorted(line)) for line in lines} == {("code", "sent_at", "text", "to")}
            codes = {line["to"]: line["code"] for line in lines}
            assert set(codes) == set(TEST_NUMBERS)
            assert all(line["text"] == f"Your Hudhud code is {line['code']}" for line in lines)
            logins = await asyncio.gather(
                *(c.post("/v1/auth/verify", json={"phone": n, "code": codes[n]}) for n in TEST_NUMBERS)
            )
            assert [r.status_code for r in logins] == [200] * len(TEST_NUMBERS)
        ws_url = url.replace("http://", "ws://") + "/v1/ws"
        async with connect(ws_url) as ws:
            await ws.send(json.dumps({"type": "hello", "v": 1, "token": logins[0].json()["token"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"


@pytest.mark.slow
async def test_the_console_line_is_the_documented_one(tmp_path):
    with serve(tmp_path / "var", "--sms-gateway", "console", stdout=subprocess.PIPE) as (url, proc):
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            assert (await c.post("/v1/auth/code", json={"phone": "+12025550100"})).status_code == 202
            assert proc.stdout is not None
            while not (match := CONSOLE_LINE.match(proc.stdout.readline().rstrip("\n"))):
                pass
            assert match[1] == "+12025550100"
            r = await c.post("/v1/auth/verify", json={"phone": match[1], "code": match[2]})
            assert r.status_code == 200


async def test_the_webhook_body_has_exactly_the_documented_fields(server):
    await server.register("+442079460001")
    assert len(server.sms.requests) == 1
    body = server.sms.requests[0]
    assert body == {"to": "+442079460001", "code": body["code"], "text": f"Your Hudhud code is {body['code']}"}
    assert re.fullmatch(r"[0-9]{6}", body["code"])


@pytest.mark.parametrize("number", ["+12025550100", "+12025550199", "+13125550150", "+442079460000", "+442079460999"])
async def test_the_documented_test_ranges_are_valid_numbers(server, number):
    async with server.http() as c:
        r = await c.post("/v1/auth/code", json={"phone": number})
    assert r.status_code == 202, r.text
    assert r.json()["phone"] == number


async def test_555_without_an_area_code_is_not_a_number(server):
    async with server.http() as c:
        r = await c.post("/v1/auth/code", json={"phone": "+15555550123"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_phone"
