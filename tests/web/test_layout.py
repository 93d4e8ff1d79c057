"""From a phone's width to a wide screen, and with the keyboard alone (issue 10, "usable by everyone").

At 360 px the app shows one pane at a time (the chat list, or the open chat with a back button), never scrolls
sideways, and the Arabic layout is mirrored there too. A user who never touches the mouse can log in, start a
chat, send, open a chat from the list and get back, with the focus visible at every step."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import national, new_phone


def no_sideways_scroll(w: Any) -> None:
    widths = w.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths


def visible(w: Any, selector: str) -> bool:
    box = w.page.locator(selector).first.bounding_box()
    return bool(box and box["width"] > 0 and box["x"] < w.page.viewport_size["width"] and box["x"] + box["width"] > 0)


def test_phone_width_one_pane_at_a_time(web: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    devices = []
    for locale, phone, other in (("en-GB", amira_phone, bassem_phone), ("ar-EG", bassem_phone, amira_phone)):
        w = web(locale)
        w.page.set_viewport_size({"width": 360, "height": 700})
        w.open()
        no_sideways_scroll(w)
        w.register(phone)
        no_sideways_scroll(w)
        assert visible(w, ".sidebar")
        devices.append((w, locale, other))
    for w, locale, other in devices:
        w.start_chat(national(other))
        w.send(f"narrow {locale}")
        w.bubble(f"narrow {locale}").wait_for()
        no_sideways_scroll(w)
        # The open chat takes the whole width; the list is out of sight.
        main = w.page.locator(".main").bounding_box()
        assert main and main["x"] >= -1 and main["width"] >= 358, main
        assert not visible(w, ".sidebar")
        # A long unbroken word wraps inside its bubble instead of widening the page.
        long_word = ("x" if locale == "en-GB" else "y") * 300
        w.send(long_word)
        # Stored (its bubble no longer the outbox's): the element is not replaced under the measurement.
        w.bubble(long_word).locator("[data-tick]:not([data-tick=queued])").wait_for()
        no_sideways_scroll(w)
        bubble = w.bubble(long_word).bounding_box()
        assert bubble and bubble["x"] >= 0 and bubble["x"] + bubble["width"] <= 360, bubble
        if locale == "ar-EG":
            # Mirrored: my bubbles sit at the left edge in Arabic (the inline end), at the right in English.
            assert bubble["x"] < 360 - bubble["x"] - bubble["width"], bubble
        else:
            assert bubble["x"] > 360 - bubble["x"] - bubble["width"], bubble
        w.page.click(".conv-header button >> nth=0")  # back to the list
        w.page.wait_for_selector(".chat-row")
        assert visible(w, ".sidebar")
        no_sideways_scroll(w)  # the row's preview of the long word is cut off with an ellipsis


def test_everything_with_the_keyboard(web: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    web("en-GB").register(bassem_phone)
    w = web("en-GB")
    page = w.page
    w.open()

    def tab_to(selector: str, limit: int = 40) -> None:
        """Press Tab until the element matching the selector has the focus, and check the focus is visible."""
        for _ in range(limit):
            if page.locator(selector).first.evaluate("(e) => e === document.activeElement"):
                outline = page.evaluate(
                    "() => { const s = getComputedStyle(document.activeElement);"
                    " return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }"
                )
                assert outline[0] != "none" or outline[2] != "none", (selector, outline)
                return
            page.keyboard.press("Tab")
        raise AssertionError(f"Tab never reached {selector}")

    tab_to("#phone")
    page.keyboard.type(amira_phone)
    page.keyboard.press("Enter")
    page.wait_for_selector("#code")
    tab_to("#code")
    page.keyboard.type(w.sms.code(amira_phone))
    page.keyboard.press("Enter")
    page.wait_for_selector(".side-header")

    # New chat: reach the button, open it, type the number, send the first message.
    tab_to(".side-header button:has-text('New chat')")
    page.keyboard.press("Enter")
    tab_to("#newchat-phone")
    page.keyboard.type(national(bassem_phone))
    page.keyboard.press("Enter")
    page.wait_for_selector("#compose")
    tab_to("#compose")
    page.keyboard.type("typed without a mouse")
    page.keyboard.press("Enter")
    w.bubble("typed without a mouse").wait_for()

    # Back in the list, the chat row is reachable and opens with Enter.
    page.keyboard.press("Escape")
    tab_to(".chat-row")
    page.keyboard.press("Enter")
    page.wait_for_selector("#compose")
    assert w.bubble("typed without a mouse").count() == 1
