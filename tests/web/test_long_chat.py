"""History of any length (docs/subsystems/web.md, "Long lists"): a chat of 10,000 messages keeps only the rows on
screen in the DOM, scrolling back pages older messages in over REST (protocol 3.14) when this device's copy runs
out, and a reply's quote far back loads history until the quoted message is there. The messages come from a
plain protocol client, as another user's device."""

from __future__ import annotations

import time
from typing import Any

from tests.web.conftest import new_phone
from tests.web.rawuser import RawUser

COUNT = 10_000
KEEP_FROM = 9_901  # the browser's copy is cut to the newest 100 messages, so the rest must come over REST
MAX_ROWS = 80  # rows in the DOM at any moment (about 30 fit the viewport, plus the overscan)

# Drop from IndexedDB every message of the chat older than `keep`: a device whose local copy ends there (one
# that was linked with only recent history, or whose storage was trimmed). The page is reloaded afterwards.
TRIM = """async ([keep]) => {
  const db = await new Promise((ok, fail) => {
    const r = indexedDB.open('hudhud'); r.onsuccess = () => ok(r.result); r.onerror = fail;
  });
  const tx = db.transaction('messages', 'readwrite');
  const all = await new Promise((ok) => {
    const r = tx.objectStore('messages').getAllKeys(); r.onsuccess = () => ok(r.result);
  });
  for (const k of all) if (k[1] < keep) tx.objectStore('messages').delete(k);
  await new Promise((ok) => { tx.oncomplete = ok; });
  db.close();
  return all.length;
}"""
COUNT_STORED = """async () => {
  const db = await new Promise((ok, fail) => {
    const r = indexedDB.open('hudhud'); r.onsuccess = () => ok(r.result); r.onerror = fail;
  });
  const n = await new Promise((ok) => {
    const r = db.transaction('messages').objectStore('messages').count(); r.onsuccess = () => ok(r.result);
  });
  db.close();
  return n;
}"""


def text(i: int) -> str:
    return f"long #{i:05d}"


def test_ten_thousand_messages_page_in_and_keep_the_dom_small(web: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    amira = web("en-GB")
    amira.register(amira_phone)
    bassem = RawUser(amira.server.url, amira.sms, bassem_phone)
    amira_id = bassem.find(amira_phone, "Amira")
    contents: list[dict[str, Any]] = [{"type": "text", "text": text(i)} for i in range(1, COUNT + 1)]
    seqs = bassem.send_many(amira_id, contents, "long")
    assert seqs == list(range(1, COUNT + 1))
    [reply_seq] = bassem.send_many(amira_id, [{"type": "text", "text": "about the fifth", "reply_to": 5}], "reply")

    page = amira.page
    page.wait_for_selector(".chat-row [data-testid=unread]:has-text('10,001')", timeout=120_000)
    page.wait_for_function(f"({COUNT_STORED})().then(n => n >= {COUNT + 1})", timeout=60_000)

    # A device whose copy holds only the newest hundred messages.
    assert page.evaluate(TRIM, [KEEP_FROM]) == COUNT + 1
    page.reload()
    history_calls: list[str] = []
    page.on("request", lambda r: history_calls.append(r.url) if "/messages?" in r.url else None)
    page.click(".chat-row")
    amira.bubble("about the fifth").wait_for()
    rows = page.locator(".messages > li:not(.spacer)")
    assert 0 < rows.count() <= MAX_ROWS, rows.count()

    # Scroll back to the very first message: page after page comes over REST, the DOM stays small.
    most = 0
    deadline = time.monotonic() + 180
    while not amira.bubble(text(1)).count() and time.monotonic() < deadline:
        page.evaluate("document.querySelector('.messages').scrollTop = 0")
        page.wait_for_timeout(50)
        most = max(most, rows.count())
    assert amira.bubble(text(1)).count() == 1, (len(history_calls), rows.count())
    assert most <= MAX_ROWS, most
    assert rows.count() <= MAX_ROWS, rows.count()
    assert amira.bubble("about the fifth").count() == 0  # the newest left the DOM
    assert len(history_calls) >= (KEEP_FROM - 1) // 200, len(history_calls)
    assert all("before=" in u for u in history_calls)
    # What came over REST is kept: the whole chat is in IndexedDB again.
    assert page.evaluate(COUNT_STORED) == COUNT + 1

    # Scrolled far back, a new message does not move what is on screen; sending goes back to the newest.
    top_before = page.evaluate("document.querySelector('.messages [data-seq=\"1\"]').getBoundingClientRect().top")
    bassem.send_many(amira_id, [{"type": "text", "text": "while you read"}], "late")
    page.wait_for_timeout(500)
    top_after = page.evaluate("document.querySelector('.messages [data-seq=\"1\"]').getBoundingClientRect().top")
    assert abs(top_after - top_before) < 2, (top_before, top_after)
    amira.send("back at the end")
    amira.bubble("back at the end").wait_for()
    amira.bubble("while you read").wait_for()

    # A reply's quote far back: cut the copy again, reload, click the quote: history loads until seq 5 is here.
    page.evaluate(TRIM, [KEEP_FROM])
    page.reload()
    page.click(".chat-row")
    amira.bubble("about the fifth").wait_for()
    page.locator(f".bubble[data-seq='{reply_seq}'] .quote").click()
    fifth = amira.bubble(text(5))
    fifth.wait_for(timeout=60_000)
    page.wait_for_timeout(300)
    box = fifth.bounding_box()
    view = page.locator(".messages").bounding_box()
    assert box is not None and view is not None
    assert view["y"] <= box["y"] and box["y"] + box["height"] <= view["y"] + view["height"], (box, view)
    assert rows.count() <= MAX_ROWS, rows.count()
