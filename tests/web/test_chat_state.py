"""Pinned, archived and muted chats (protocol 3.13a) in the browser: a change in one browser shows in a second
browser of the same account at once (the `chat_state` frame), and the title counts unread messages."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import new_phone
from tests.web.rawuser import RawUser


def test_pin_archive_mute_show_on_my_other_browser(web: Any) -> None:
    amira_phone = new_phone()
    one = web("en-GB")
    one.register(amira_phone)
    two = web("en-GB")
    two.register(amira_phone)  # a second device of the same account
    friends = []
    for name in ("Bassem", "Chadi"):
        raw = RawUser(one.server.url, one.sms, new_phone())
        amira_id = raw.find(amira_phone, "Amira")
        raw.send_many(amira_id, [{"type": "text", "text": f"hello from {name}"}], name)
        friends.append(raw)
    for w in (one, two):
        w.page.locator(".chat-row").nth(1).wait_for()
    # The title counts unread messages (two chats, one each).
    two.page.wait_for_function("document.title.startsWith('(2)')")
    # … and so does the tab's icon (a PNG drawn from icon.svg with a badge).
    two.page.wait_for_function("document.querySelector('link[rel=icon]').href.startsWith('data:image/png')")

    def row(w: Any, text: str) -> Any:
        return w.page.locator(".chat-item", has=w.page.locator(".chat-preview", has_text=text))

    # Pin the older chat in the first browser: it goes on top in both.
    bassem = row(one, "hello from Bassem")
    bassem.locator("[data-testid=chat-more]").click()
    bassem.get_by_role("button", name="Pin chat").click()
    for w in (one, two):
        w.page.wait_for_selector(".chat-item:first-child [data-testid=pinned]")
        assert "hello from Bassem" in w.page.locator(".chat-item").first.inner_text()

    # Mute it always: the muted icon shows in the second browser.
    bassem.locator("[data-testid=chat-more]").click()
    bassem.get_by_role("button", name="Mute always").click()
    row(two, "hello from Bassem").locator("[data-testid=muted]").wait_for()

    # Archive Chadi's chat from the second browser: gone from both lists, behind "Archived (1)".
    chadi = row(two, "hello from Chadi")
    chadi.locator("[data-testid=chat-more]").click()
    chadi.get_by_role("button", name="Archive chat").click()
    for w in (one, two):
        w.page.wait_for_selector("[data-testid=archive-open]:has-text('Archived (1)')")
        assert row(w, "hello from Chadi").count() == 0
    one.page.click("[data-testid=archive-open]")
    row(one, "hello from Chadi").wait_for()
    assert one.axe() == []
    # A new message keeps it archived.
    friends[1].send_many(amira_id_of(friends[1], amira_phone), [{"type": "text", "text": "still archived?"}], "again")
    row(one, "still archived?").wait_for()
    assert row(two, "still archived?").count() == 0
    # Unarchive from the archive view.
    chadi = row(one, "still archived?")
    chadi.locator("[data-testid=chat-more]").click()
    chadi.get_by_role("button", name="Unarchive chat").click()
    row(two, "still archived?").wait_for()
    one.page.click("[data-testid=archive-back]")
    row(one, "still archived?").wait_for()


def amira_id_of(raw: RawUser, phone: str) -> str:
    return raw.find(phone, "Amira")


def test_new_chat_from_contacts(web: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    amira = web("en-GB")
    amira.register(amira_phone)
    RawUser(amira.server.url, amira.sms, bassem_phone, "Bassem")
    amira.start_chat(bassem_phone, "Bassem B")  # saves Bassem in the address book
    amira.send("first by number")
    amira.bubble("first by number").wait_for()
    amira.page.click(".side-header .row button >> nth=0")
    contact = amira.page.locator("[data-testid=contact]", has_text="Bassem B")
    contact.wait_for()
    assert amira.axe() == []
    contact.click()
    amira.bubble("first by number").wait_for()  # the same chat, not a new one
    assert amira.page.locator(".chat-row").count() == 1
