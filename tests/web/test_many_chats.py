"""A list of 1,000 chats stays light: only the rows on screen are in the DOM, scrolling reaches every chat,
search finds one among them, and the title counts every unread message. The 1,000 other users are accounts made
by the operator (`hudhud admin create-users`) writing from plain protocol clients, as other people's devices."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from tests.support import database_env
from tests.web.conftest import new_phone, which_hudhud

COUNT = 1000


def make_accounts(data_dir: Path, n: int) -> list[dict[str, Any]]:
    rows = [f"{new_phone()},Sender {i:04d}" for i in range(n)]
    csv = data_dir / "many-chats.csv"
    csv.write_text("\n".join(rows) + "\n")
    out = subprocess.run(
        [*which_hudhud(), "admin", "create-users", "--json", "--data-dir", str(data_dir), str(csv)],
        env={**os.environ, **database_env(data_dir)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    accounts = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(accounts) == n and all("token" in a for a in accounts), out.stdout[-500:]
    return accounts


def say_hello(server: str, token: str, to: str, text: str, message_id: str = "hello-1") -> None:
    with connect(server.replace("http", "ws") + "/v1/ws") as ws:
        ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))
        assert json.loads(ws.recv(10))["type"] == "welcome"
        ws.send(json.dumps({"type": "send", "id": message_id, "to": to, "content": {"type": "text", "text": text}}))
        while True:
            frame = json.loads(ws.recv(30))
            assert frame["type"] != "error", frame
            if frame["type"] == "sent":
                return


def test_a_thousand_chats(web: Any) -> None:
    amira = web("en-GB")
    amira.register(new_phone())
    page = amira.page
    user_id = amira.rest("GET", "/v1/me")["user_id"]

    accounts = make_accounts(amira.server.data_dir, COUNT)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda ia: say_hello(amira.server.url, ia[1]["token"], user_id, f"hello number {ia[0]:04d}"),
                enumerate(accounts),
            )
        )

    deadline = time.monotonic() + 120
    while not page.title().startswith(f"({COUNT})") and time.monotonic() < deadline:
        page.wait_for_timeout(250)
    assert page.title().startswith(f"({COUNT})"), page.title()

    rows = page.locator(".chat-row")
    assert 5 <= rows.count() <= 40, rows.count()
    # The newest chat is on top.
    say_hello(amira.server.url, accounts[0]["token"], user_id, "the newest of all", "hello-2")
    page.wait_for_selector(".chat-row >> nth=0 >> text=the newest of all")
    # Scrolling down the list reaches every one of the 1,000 chats, with never more than 40 rows in the DOM. (A
    # pass may miss a row that moved above it meanwhile, as the list refreshes from the server: up to three passes.)
    seen: set[str] = set()
    wanted = {f"Sender {i:04d}" for i in range(COUNT)}
    for _ in range(3):
        page.evaluate("document.querySelector('.chat-list').scrollTop = 0")
        for _ in range(200):
            texts = rows.all_inner_texts()
            assert len(texts) <= 40, len(texts)
            seen.update(line for t in texts for line in t.split("\n") if line.startswith("Sender "))
            at_end = page.evaluate(
                "(() => { const l = document.querySelector('.chat-list');"
                " const end = l.scrollTop + l.clientHeight >= l.scrollHeight - 1; l.scrollTop += 600; return end; })()"
            )
            if at_end:
                break
            page.wait_for_timeout(50)
        if wanted <= seen:
            break
    missing = wanted - seen
    assert not missing, sorted(missing)[:5]

    page.fill("input[type=search], .search input", "hello number 0500")
    page.wait_for_selector(".chat-row:has-text('hello number 0500')")
    assert rows.count() == 1
