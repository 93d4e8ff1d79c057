"""Through an outage: the server is stopped while a message is written and the page is reloaded; the message shows a
clock, survives the reload (IndexedDB outbox, app shell from the service worker), the banner counts down to the
next try, and once the server is back the message arrives exactly once (idempotent ids, protocol 6.4)."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.web.conftest import new_phone


def test_message_written_during_an_outage_arrives_once(web: Any) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # here: the fixtures skip without playwright

    amira_phone, bassem_phone = new_phone(), new_phone()
    amira, bassem = web("en-GB"), web("ar-EG")
    amira.register(amira_phone)
    bassem.register(bassem_phone)
    amira.start_chat(bassem_phone, "Bassem")
    amira.send("before the outage")
    amira.page.wait_for_selector(".bubble.mine [data-tick=delivered]")
    bassem.page.click(".chat-row")
    bassem.bubble("before the outage").wait_for()
    # The app shell is cached by the service worker, so the page can reload without the server.
    amira.page.wait_for_function(
        "async () => { await navigator.serviceWorker.ready; const c = await caches.open('hudhud-shell-v1');"
        " return (await c.keys()).some(r => r.url.includes('/assets/') && r.url.endsWith('.js'))"
        " && !!navigator.serviceWorker.controller; }",
        polling=200,
    )

    server = amira.server
    server.stop()
    banner = amira.page.locator("[data-testid=offline-banner]")
    banner.wait_for()
    assert re.search(r"\d+ s", banner.inner_text()), banner.inner_text()

    amira.send("written while the server is down")
    pending = amira.bubble("written while the server is down")
    pending.locator("[data-tick=queued]").wait_for()

    amira.page.reload()
    # Everything is on screen from IndexedDB, with no server: the chat, the old message, the queued one.
    amira.page.wait_for_selector(".chat-row")
    amira.page.click(".chat-row")
    amira.bubble("before the outage").wait_for()
    amira.bubble("written while the server is down").locator("[data-tick=queued]").wait_for()
    amira.page.locator("[data-testid=offline-banner]").wait_for()
    amira.screenshot("web-en-offline")

    server.start()
    started = time.monotonic()
    # "Try now" instead of waiting for the backoff (unless the backoff's own try got there first).
    try:
        amira.page.click("[data-testid=offline-banner] button", timeout=2000)
    except PlaywrightTimeout:
        assert amira.page.locator("[data-testid=offline-banner]").count() == 0
    amira.bubble("written while the server is down").locator("[data-tick=delivered], [data-tick=read]").wait_for(
        timeout=30000
    )
    assert time.monotonic() - started < 30
    assert amira.page.locator("[data-testid=offline-banner]").count() == 0

    # Bassem (reconnected on his own, with backoff) gets it exactly once, also after a reload.
    bassem.bubble("written while the server is down").wait_for(timeout=30000)
    assert bassem.bubble("written while the server is down").count() == 1
    bassem.page.reload()
    bassem.page.click(".chat-row")
    bassem.bubble("before the outage").wait_for()
    assert bassem.bubble("written while the server is down").count() == 1

    # And the server stored it once: a reload of Amira's page resends nothing and shows one bubble.
    amira.page.reload()
    amira.page.click(".chat-row")
    amira.bubble("written while the server is down").locator("[data-tick]").wait_for()
    assert amira.bubble("written while the server is down").count() == 1
    assert amira.page.locator(".bubble [data-tick=queued]").count() == 0
