"""Two browsers register by SMS code and chat in Arabic and English: ticks, unread counts, typing, RTL layout,
text that is never HTML, accessibility, and the screenshots of the README."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import national, new_phone

# Records every tick state a message goes through, from the first render of its bubble (the outbox's clock).
TICK_RECORDER = """(text) => {
  window.__ticks = [];
  const seen = () => {
    for (const b of document.querySelectorAll('.bubble.mine')) {
      if (!b.textContent.includes(text)) continue;
      const t = b.querySelector('[data-tick]');
      const v = t && t.dataset.tick;
      if (v && window.__ticks[window.__ticks.length - 1] !== v) window.__ticks.push(v);
    }
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                     attributeFilter: ['data-tick']});
}"""


def ticks_of(w: Any, text: str) -> str | None:
    value: str | None = w.bubble(text).last.locator("[data-tick]").get_attribute("data-tick")
    return value


def test_two_browsers_chat_in_arabic_and_english(web: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    amira = web("en-GB")
    bassem = web("ar-EG")
    amira.register(amira_phone)
    amira.settings()  # her profile name, which Bassem's chat list shows
    amira.page.fill("#profile-name", "Amira")
    amira.page.click(".profile button[type=submit]")
    amira.page.wait_for_selector(".profile [role=status]:has-text('Saved.')")
    amira.close_settings()
    bassem.register(bassem_phone, typed=national(bassem_phone))
    assert bassem.page.evaluate("document.documentElement.dir") == "rtl"
    assert bassem.page.evaluate("document.documentElement.lang") == "ar"
    bassem.page.goto("about:blank")  # Bassem's browser is closed: the message stays at one tick

    # Amira starts the chat by Bassem's national number; the message goes clock → one tick.
    amira.start_chat(national(bassem_phone), "Bassem")
    amira.page.evaluate(TICK_RECORDER, "Hello Bassem")
    amira.send("Hello Bassem")
    amira.page.wait_for_selector(".bubble.mine [data-tick=sent]")
    assert amira.page.locator(".chat-row", has_text="Bassem").count() == 1

    # Bassem comes back: catch-up, ack → two ticks; one unread, counted in Arabic digits.
    bassem.open()
    bassem.page.wait_for_selector(".chat-row [data-testid=unread]")
    assert bassem.page.locator(".chat-row [data-testid=unread]").inner_text() == "١"
    assert "Hello Bassem" in bassem.page.locator(".chat-row").inner_text()
    assert bassem.page.locator(".chat-row .chat-title").inner_text() == "Amira"
    amira.page.wait_for_selector(".bubble.mine [data-tick=delivered]")

    # The Arabic interface is laid out right to left: the sidebar is at the right edge, the chat to its left.
    side = bassem.page.locator(".sidebar").bounding_box()
    main = bassem.page.locator(".main").bounding_box()
    assert side and main and side["x"] > main["x"], (side, main)
    assert abs(side["x"] + side["width"] - 1100) < 2

    # Bassem opens the chat (tab visible): read → blue ticks; the unread count goes away.
    bassem.page.click(".chat-row")
    bassem.page.wait_for_selector(".bubble.theirs")
    amira.page.wait_for_selector(".bubble.mine [data-tick=read]")
    assert bassem.page.locator(".chat-row [data-testid=unread]").count() == 0
    assert amira.page.evaluate("window.__ticks") == ["queued", "sent", "delivered", "read"]

    # Typing shows in the header; the answer in Arabic is laid out in its own direction.
    bassem.page.fill("#compose", "أهلا")
    bassem.page.type("#compose", " يا")
    amira.page.wait_for_selector(".typing.is-typing")
    assert amira.page.locator("[data-testid=typing]").inner_text() == "typing…"
    bassem.page.fill("#compose", "")
    bassem.send("أهلاً يا أميرة، كيف حالك؟")
    arabic = amira.bubble("أهلاً يا أميرة")
    arabic.wait_for()
    assert arabic.locator(".text").get_attribute("dir") == "auto"
    assert arabic.locator(".text").evaluate("e => getComputedStyle(e).direction") == "rtl"
    english = amira.bubble("Hello Bassem").locator(".text")
    assert english.evaluate("e => getComputedStyle(e).direction") == "ltr"
    bassem.page.wait_for_selector(".bubble.mine [data-tick=read]")  # Amira has the chat open
    # Presence in the header: Bassem sees Amira online, as his number is in her address book (`last_seen:
    # contacts`, the default); she does not see his, as she is not in his.
    bassem.page.wait_for_selector(".typing:not(.is-typing):has-text('متصل الآن')")
    assert amira.page.locator("[data-testid=typing]").inner_text() == ""

    # The language switch in Settings mirrors the page at once.
    amira.settings()
    amira.page.click("input[name=lang] >> nth=0")
    assert amira.page.evaluate("[document.documentElement.dir, document.documentElement.lang]") == ["rtl", "ar"]
    assert amira.page.locator(".settings h2").inner_text() == "الإعدادات"
    amira.page.click("input[name=lang] >> nth=1")
    assert amira.page.evaluate("document.documentElement.dir") == "ltr"
    amira.close_settings()

    # A reaction, a reply with its quote, an edit and a deletion for everyone show on the other side.
    bassem.bubble("Hello Bassem").locator(".more").click()
    bassem.bubble("Hello Bassem").locator(".actions-menu button", has_text="👍").click()
    amira.bubble("Hello Bassem").locator(".reactions", has_text="👍").wait_for()
    amira.bubble("أهلاً يا أميرة").locator(".more").click()
    amira.bubble("أهلاً يا أميرة").locator(".actions-menu button", has_text="Reply").click()
    assert "Replying to" in amira.page.locator(".compose-context").inner_text()
    amira.send("Fine, thanks!")
    answer = bassem.bubble("Fine, thanks!")
    answer.locator(".quote", has_text="أهلاً يا أميرة").wait_for()
    amira.bubble("Hello Bassem").locator(".more").click()
    amira.bubble("Hello Bassem").locator(".actions-menu button", has_text="Edit").click()
    assert amira.page.input_value("#compose") == "Hello Bassem"
    amira.send("Hello Bassem, edited")
    bassem.bubble("Hello Bassem, edited").locator(".edited").wait_for()
    amira.bubble("Fine, thanks!").locator(".more").click()
    amira.bubble("Fine, thanks!").locator(".actions-menu button", has_text="Delete for everyone").click()
    bassem.page.locator(".bubble", has_text="تم حذف هذه الرسالة").wait_for()
    assert bassem.bubble("Fine, thanks!").count() == 0

    # Markup is text; only http(s) links are links.
    hostile = "<img src=x onerror=alert(1)> javascript:alert(2) see https://example.org/a?b=1."
    amira.send(hostile)
    got = bassem.bubble("onerror")
    got.wait_for()
    assert got.locator(".text").inner_text() == hostile
    assert bassem.page.locator(".messages img").count() == 0
    links = got.locator("a")
    assert links.count() == 1
    assert links.get_attribute("href") == "https://example.org/a?b=1"
    assert set((links.get_attribute("rel") or "").split()) >= {"noopener", "noreferrer"}
    assert bassem.page.locator("a[href^='javascript:' i]").count() == 0
    amira.send("[x](javascript:alert(3)) javascript://%0aalert(4)")
    bassem.bubble("alert(3)").wait_for()
    assert bassem.page.locator("a[href^='javascript:' i]").count() == 0
    assert not amira.dialogs and not bassem.dialogs

    # Search filters the chat list.
    amira.page.fill("#chat-search", "zzz-nobody")
    assert amira.page.locator(".chat-row").count() == 0
    amira.page.fill("#chat-search", "bass")
    assert amira.page.locator(".chat-row").count() == 1
    amira.page.fill("#chat-search", "")

    # No serious or critical accessibility problems on the chat screen, in English and in Arabic.
    assert amira.axe() == []
    assert bassem.axe() == []

    # Screenshots for the README: English and Arabic, light and dark.
    amira.screenshot("web-en-light")
    bassem.screenshot("web-ar-light")
    amira.set_theme("dark")
    bassem.set_theme("dark")
    assert amira.page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert amira.axe() == []
    amira.screenshot("web-en-dark")
    bassem.screenshot("web-ar-dark")
    amira.set_theme("light")
    bassem.set_theme("light")


def test_login_screens_are_accessible(web: Any) -> None:
    for locale, tag in (("en-GB", "en"), ("ar-EG", "ar")):
        w = web(locale)
        w.open()
        w.page.wait_for_selector("#phone")
        assert w.axe() == []
        w.page.fill("#phone", "12")
        w.page.click("form button[type=submit]")
        w.page.wait_for_selector("[role=alert]")
        w.page.click(".link-button")
        w.page.wait_for_selector("[data-testid=pairing-code]")
        assert w.axe() == []
        w.screenshot(f"web-{tag}-link")


# The page as if its tab were in the background, with notifications allowed and recorded.
HIDDEN_TAB = """
window.__hidden = true;
Object.defineProperty(document, 'visibilityState', {get: () => window.__hidden ? 'hidden' : 'visible'});
window.__notes = [];
window.Notification = class {
  constructor(title, opts) { window.__notes.push([title, opts && opts.body]); }
  static get permission() { return 'granted'; }
  static requestPermission() { return Promise.resolve('granted'); }
};
"""


def test_a_hidden_tab_notifies_and_does_not_mark_read(web: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    amira, bassem = web("en-GB"), web("en-GB")
    bassem.context.add_init_script(HIDDEN_TAB)
    amira.register(amira_phone)
    bassem.register(bassem_phone)
    amira.start_chat(bassem_phone, "Bassem")
    amira.send("first")
    bassem.page.click(".chat-row")  # the chat is open, but the tab is in the background
    amira.send("are you there?")
    amira.bubble("are you there?").locator("[data-tick=delivered]").wait_for()
    bassem.page.wait_for_function("window.__notes.some(n => n[1] === 'are you there?')")
    assert bassem.page.title() == "(2) Hudhud"
    amira.page.wait_for_timeout(500)
    assert amira.bubble("are you there?").locator("[data-tick=read]").count() == 0

    # The tab comes to the front: now it is read, and the title loses its count.
    bassem.page.evaluate("window.__hidden = false; document.dispatchEvent(new Event('visibilitychange'))")
    amira.bubble("are you there?").locator("[data-tick=read]").wait_for()
    assert bassem.page.title() == "Hudhud"
