"""Forward and copy (protocol 4.5 `forward`, 10.4): a message forwarded to two chats arrives in both with the
"Forwarded" label, counted by the server; copy puts the text on the clipboard."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import new_phone
from tests.web.rawuser import RawUser


def test_forward_to_two_chats_and_copy(web: Any) -> None:
    amira_phone = new_phone()
    amira = web("en-GB")
    amira.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=amira.server.url)
    amira.register(amira_phone)
    people = {}
    for name in ("Bassem", "Chadi", "Dalia"):
        raw = RawUser(amira.server.url, amira.sms, new_phone(), name)
        amira_id = raw.find(amira_phone, "Amira")
        raw.send_many(amira_id, [{"type": "text", "text": f"hi, {name} here"}], name)
        people[name] = raw
    page = amira.page
    page.locator(".chat-row").nth(2).wait_for()
    people["Bassem"].send_many(amira_id, [{"type": "text", "text": "pass this on"}], "on")
    page.click(".chat-row:has-text('pass this on')")
    bubble = amira.bubble("pass this on")
    bubble.wait_for()

    # Copy.
    bubble.locator(".more").click()
    bubble.get_by_role("button", name="Copy").click()
    assert page.evaluate("navigator.clipboard.readText()") == "pass this on"

    # Forward to Chadi and Dalia.
    bubble.locator(".more").click()
    bubble.get_by_role("button", name="Forward").click()
    dialog = page.get_by_role("dialog", name="Forward to…")
    dialog.wait_for()
    assert amira.axe() == []
    for name in ("Chadi", "Dalia"):
        dialog.locator("label", has_text=f"{name}").locator("input").check()
    dialog.get_by_role("button", name="Send (2)").click()
    dialog.wait_for(state="detached")

    # Both copies are in Amira's chats, labelled, and the recipients got forward_count 1 from the server.
    for name in ("Chadi", "Dalia"):
        raw = people[name]
        convs = raw.http.get("/v1/conversations").json()["conversations"]
        [conv] = [c for c in convs if c["last_message"]]
        last = conv["last_message"]
        assert last["content"] == {"type": "text", "text": "pass this on"} and last["forward_count"] == 1, last
    rows = page.locator(".chat-row", has_text="pass this on")
    page.wait_for_function("document.querySelectorAll('.chat-row .chat-preview').length >= 3")
    amira.page.wait_for_timeout(300)
    assert rows.count() == 3, rows.count()
    labelled = 0
    for i in range(3):
        rows.nth(i).click()
        amira.bubble("pass this on").wait_for()
        labelled += amira.bubble("pass this on").locator(".forwarded:has-text('Forwarded')").count()
    assert labelled == 2
