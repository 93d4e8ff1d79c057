"""Groups and consent in the browser (protocol 3.15-3.18, section 9): a group created with someone who does not
have my number invites them (9.2), the invitation shows in their sidebar and accepting opens the group; names on
group bubbles; announcement mode replaces the composer for members and a promotion brings it back (9.6); an
invite link with its QR code, opened as the app's /join/ route by a third user (9.7); exit-and-report (9.8);
report and block from a direct chat's menu, unblock from Settings; privacy settings reach the server (3.6)."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

from tests.support import database_env
from tests.web.conftest import Web, new_phone, which_hudhud


def wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def menu(w: Web, item: str) -> None:
    """Open the conversation header's menu and choose `item`."""
    w.page.click(".conv-header .chat-menu > button")
    w.page.locator(".menu-list > button", has_text=item).click()


def group_id(w: Web) -> str:
    conv = [c for c in w.rest("GET", "/v1/conversations")["conversations"] if c["kind"] == "group"]
    assert len(conv) == 1, conv
    cid: str = conv[0]["conversation_id"]
    return cid


def test_groups_invitations_roles_links_and_consent(web: Any) -> None:
    amira_phone, bassem_phone, chadi_phone = new_phone(), new_phone(), new_phone()
    amira, bassem, chadi = web("en-GB"), web("en-GB"), web("ar-EG")
    amira.register(amira_phone)
    bassem.register(bassem_phone)
    amira.rest("PATCH", "/v1/me", json={"display_name": "Amira"})
    bassem.rest("PATCH", "/v1/me", json={"display_name": "Bassem"})
    amira_id = amira.rest("GET", "/v1/me")["user_id"]
    bassem_id = bassem.rest("GET", "/v1/me")["user_id"]

    # -- Amira creates a group naming Bassem by phone; he does not have her number, so he is invited (9.2).
    a, b = amira.page, bassem.page
    a.click(".groups-bar button >> nth=0")
    a.fill("#group-subject", "Book club")
    a.fill("#people-phone", bassem_phone)
    a.click(".add-by-phone button")
    a.locator(".people input[type=checkbox]:checked").wait_for()
    a.click(".panel form button[type=submit]")
    outcome = a.locator("[data-testid=add-outcome]")
    outcome.wait_for()
    assert "Invited:" in outcome.inner_text() and "Added:" not in outcome.inner_text()
    a.locator(".panel button", has_text="Open the group").click()
    a.wait_for_selector("#compose")
    assert a.inner_text("#conv-title") == "Book club"

    # Bassem sees the invitation in his sidebar and accepts it: the group opens.
    invitations = b.locator("[data-testid=invitations]")
    invitations.wait_for()
    invitations.locator("p", has_text="From Amira").wait_for()  # not his contact: the name from her profile
    assert "Book club" in invitations.inner_text()
    assert bassem.axe() == []
    invitations.locator("button", has_text="Accept").click()
    b.wait_for_selector("#compose")
    b.locator("#conv-title", has_text="Book club").wait_for()
    invitations.wait_for(state="detached")

    # Both write; each bubble from the other side carries the sender's name.
    bassem.send("hello from Bassem")
    amira.bubble("hello from Bassem").locator(".sender", has_text="Bassem").wait_for()
    amira.send("hello from Amira")
    bassem.bubble("hello from Amira").locator(".sender", has_text="Amira").wait_for()
    a.locator(".system-message", has_text="Bassem accepted an invitation and joined").wait_for()

    # -- Announcement mode: Bassem's composer is replaced by a notice; making him an admin brings it back.
    menu(amira, "Group info")
    a.wait_for_selector(".group-info .members")
    a.check("input[name=only_admins_send]")
    b.locator("[data-testid=composer-notice]").wait_for()
    assert b.locator("#compose").count() == 0
    b.locator(".system-message", has_text="Amira allowed only admins to send messages").wait_for()
    a.click(f"li[data-member='{bassem_id}'] button:has-text('Make admin')")
    a.locator(f"li[data-member='{bassem_id}'][data-role=admin]").wait_for()
    b.wait_for_selector("#compose")
    assert b.locator("[data-testid=composer-notice]").count() == 0
    assert a.locator(f"li[data-member='{amira_id}'] .badge", has_text="Group owner").count() == 1
    a.fill("#info-description", "Tuesdays at 8")
    a.click(".group-about button[type=submit]")
    b.locator(".system-message", has_text="Amira changed the group description").wait_for()

    # -- An invite link with its QR code; Chadi opens it as the app's route and joins.
    a.select_option(".link-options label:has-text('Expires') select", label="After a day")
    a.select_option(".link-options label:has-text('Uses') select", label="10")
    a.locator(".links button", has_text="Create an invite link").click()
    link = a.locator(".link-item .link-url").first
    link.wait_for()
    assert "Used 0 of 10 times · expires" in a.inner_text(".link-item .hint")
    url = link.inner_text()
    assert url.startswith(amira.server.url + "/join/")
    assert a.locator(".link-item svg.qr").count() == 1
    assert amira.axe() == []
    a.evaluate("document.querySelector('.group-info').scrollTop = 0")
    amira.screenshot("web-en-group-info")

    chadi.register(chadi_phone)
    chadi.rest("PATCH", "/v1/me", json={"display_name": "شادي"})
    c = chadi.page
    c.goto(url)
    c.wait_for_selector("#join-link")
    assert c.input_value("#join-link") == url
    c.click(".panel form button[type=submit]")
    c.locator("#conv-title", has_text="Book club").wait_for()
    c.locator("[data-testid=composer-notice]").wait_for()  # still announcement mode, and he is no admin
    assert c.evaluate("location.pathname") == "/"
    a.locator(".group-info .members .member-name", has_text="شادي").wait_for()  # Amira's open info follows

    # Arabic mirrors the header: the menu is at the inline end, which is the left.
    menu_box = c.locator(".conv-header .chat-menu").bounding_box()
    title_box = c.locator("#conv-title").bounding_box()
    assert menu_box and title_box and menu_box["x"] < title_box["x"]

    # Chadi (in Arabic) sees the info without admin actions, then exits and reports the group (9.8).
    menu(chadi, "معلومات المجموعة")
    c.wait_for_selector(".group-info .members")
    assert c.locator(".member-actions").count() == 0
    assert c.locator(".links").count() == 0
    assert chadi.axe() == []
    chadi.screenshot("web-ar-group-info")
    c.click(".group-info .panel-head button")
    menu(chadi, "الخروج والإبلاغ")
    c.click(".confirm button.danger")
    c.locator("[data-testid=composer-notice]", has_text="لم تعد عضوًا").wait_for()
    gid = group_id(amira)
    wait_until(lambda: len(amira.rest("GET", f"/v1/groups/{gid}")["members"]) == 2, "Chadi to be out of the group")
    reports = subprocess.run(
        [*which_hudhud(), "admin", "reports"],
        env={**os.environ, "HUDHUD_DATA_DIR": str(amira.server.data_dir), **database_env(amira.server.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert reports.returncode == 0, reports.stderr
    line = next(ln for ln in reports.stdout.splitlines() if f"chat {gid}" in ln)
    assert chadi_phone in line  # by Chadi, against the group (no user named)

    # -- With approval on, using the link again files a join request; Amira approves it and Chadi is back (9.7).
    a.check("input[name=approve_joins]")
    a.wait_for_selector("input[name=approve_joins]:checked:enabled")
    c.goto(url)
    c.click(".panel form button[type=submit]")
    c.locator(".panel [role=status]", has_text="أُرسل طلب انضمامك").wait_for()
    a.locator(".requests button", has_text="Check for requests").click()
    a.locator(".requests li", has_text="شادي").locator("button", has_text="Approve").click()
    a.locator(".group-info .members .member-name", has_text="شادي").wait_for()
    c.click(".panel button:not([type=submit])")  # back to the chat list
    c.click(".chat-row:has-text('Book club')")
    c.locator("[data-testid=composer-notice]", has_text="المشرفون وحدهم").wait_for()  # a member again

    # Amira removes him (after a confirmation); his open chat says he is no longer a member.
    chadi_id = chadi.rest("GET", "/v1/me")["user_id"]
    a.click(f"li[data-member='{chadi_id}'] button:has-text('Remove')")
    a.click(f"li[data-member='{chadi_id}'] .confirm button.danger")
    a.locator(f"li[data-member='{chadi_id}']").wait_for(state="detached")
    c.locator("[data-testid=composer-notice]", has_text="لم تعد عضوًا").wait_for()

    # -- Report and block from a direct chat's menu; unblock from Settings → Blocked contacts.
    amira.start_chat(bassem_phone)
    amira.send("buy my course")
    b.click(".chat-row:has-text('buy my course')")
    b.wait_for_selector("#compose")
    # The menu by keyboard: Enter opens it with the focus on the first choice, Escape closes it and gives it back.
    b.focus(".conv-header .chat-menu > button")
    b.keyboard.press("Enter")
    b.locator(".menu-list").wait_for()
    b.wait_for_function("() => document.activeElement?.closest('.menu-list') != null")
    b.keyboard.press("Escape")
    b.locator(".menu-list").wait_for(state="detached")
    b.wait_for_function("() => document.activeElement?.matches('.chat-menu > button') === true")
    menu(bassem, "Report and block")
    b.locator(".confirm").wait_for()
    assert bassem.axe() == []
    b.click(".confirm button.danger")
    b.locator("[data-testid=blocked]").wait_for()
    assert bassem.rest("GET", "/v1/blocks")["blocked"] == [amira_id]

    bassem.settings()
    blocked = b.locator("[data-testid=blocked-list] li")
    blocked.filter(has_text="Amira").wait_for()
    assert blocked.count() == 1
    b.click("[data-testid=blocked-list] button:has-text('Unblock')")
    blocked.first.wait_for(state="detached")
    assert bassem.rest("GET", "/v1/blocks")["blocked"] == []

    # -- Settings → Privacy: each choice is a PATCH /v1/me/privacy that GET /v1/me then shows.
    b.check("input[name=privacy-last_seen][value=nobody]")
    b.check("input[name=privacy-group_add][value=everyone]")
    b.check("input[name=privacy-phone][value=nobody]")
    b.check("input[name=privacy-group_invites][value=contacts]")
    b.wait_for_selector("input[name=privacy-group_invites][value=contacts]:checked:enabled")
    b.uncheck("input[name=privacy-read_receipts]")
    b.wait_for_selector("input[name=privacy-read_receipts]:not(:checked):enabled")
    wanted = {
        "last_seen": "nobody",
        "group_add": "everyone",
        "phone_privacy": "nobody",
        "group_invites": "contacts",
        "read_receipts": False,
    }
    wait_until(
        lambda: {k: bassem.rest("GET", "/v1/me")[k] for k in wanted} == wanted, "the privacy settings on the server"
    )
    assert bassem.axe() == []

    # -- The dark theme on the new screens: Settings (privacy, blocked), then group info as an admin.
    b.click("input[name=theme] >> nth=1")
    assert bassem.axe() == []
    bassem.close_settings()
    bassem.open_chat("Book club")
    menu(bassem, "Group info")
    b.wait_for_selector(".group-info .links")  # Bassem is an admin: links and requests are his to manage
    assert bassem.axe() == []
