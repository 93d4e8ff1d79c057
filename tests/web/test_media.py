"""Media in the browser (docs/protocol.md 16, issue 10 item 5): a picture, a PDF and a voice note (Chromium's fake
microphone) go from one browser to another and arrive byte for byte; location and contact cards render on the
receiving side; an upload cut by a page reload continues from the server's offset and the message goes out once;
a profile picture shows to a contact and not to someone who is blocked (3.5, 3.9)."""

from __future__ import annotations

import hashlib
import io
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests import mediakit as mk
from tests.web.conftest import CHROMIUM, _need, new_phone

HASH_JS = """async (url) => {
  const buf = await (await fetch(url, {credentials: 'omit'})).arrayBuffer();
  const d = await crypto.subtle.digest('SHA-256', buf);
  return [...new Uint8Array(d)].map(b => b.toString(16).padStart(2, '0')).join('');
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium with a fake microphone that needs no permission prompt (voice notes)."""
    _need(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package is not installed (pip install -e '.[dev]')")
        raise
    pw = sync_playwright().start()
    args = ["--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    yield b
    b.close()
    pw.stop()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def photo(width: int = 480, height: int = 320) -> bytes:
    """A PNG with no metadata chunks: the server stores it as it is (16.5), so the bytes must come back equal."""
    im = Image.new("RGB", (width, height))
    px = im.load()
    assert px is not None
    for x in range(0, width, 2):
        for y in range(0, height, 2):
            px[x, y] = (x % 256, y % 256, (x * y) % 256)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


RECORD_JS = """(() => {
  const real = window.fetch.bind(window);
  window.__uploads = { chunks: [], creates: 0, offsets: 0 };
  window.fetch = (input, init) => {
    const url = String(input), method = (init && init.method) || 'GET';
    const m = /\\/v1\\/media\\/(m\\w+)\\/upload$/.exec(url);
    if (method === 'POST' && /\\/v1\\/media$/.test(url)) window.__uploads.creates++;
    if (m && method === 'GET') window.__uploads.offsets++;
    if (m && method === 'PATCH') {
      window.__uploads.chunks.push({ id: m[1], offset: Number(init.headers['Upload-Offset']), body: init.body });
    }
    return real(input, init);
  };
})();"""

LAST_FILE_JS = """async () => {
  const all = window.__uploads.chunks, id = all[all.length - 1].id;
  const parts = all.filter(c => c.id === id).sort((a, b) => a.offset - b.offset);
  const buf = await new Blob(parts.map(p => p.body)).arrayBuffer();
  const d = await crypto.subtle.digest('SHA-256', buf);
  return { size: buf.byteLength, sha: [...new Uint8Array(d)].map(b => b.toString(16).padStart(2, '0')).join('') };
}"""


TOKEN_JS = """() => new Promise((ok) => { const r = indexedDB.open('hudhud'); r.onsuccess = () => {
  const q = r.result.transaction('meta').objectStore('meta').get('auth');
  q.onsuccess = () => ok(q.result.token ?? q.result.value?.token); }; })"""


class Uploads:
    """What a page sent as upload chunks (fetch wrapped by an init script, which the CSP does not apply to)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        page.add_init_script(RECORD_JS)

    def last_file(self) -> dict[str, Any]:
        out: dict[str, Any] = self.page.evaluate(LAST_FILE_JS)
        return out

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = self.page.evaluate(
            "() => ({creates: window.__uploads.creates, offsets: window.__uploads.offsets,"
            " first: window.__uploads.chunks.length ? window.__uploads.chunks[0].offset : null})"
        )
        return out


def register_raw(web_server: Any, sms: Any) -> str:
    """A user with no browser (the contact to share)."""
    phone = new_phone()
    with httpx.Client(base_url=web_server.url, timeout=10) as c:
        assert c.post("/v1/auth/code", json={"phone": phone}).status_code == 202
        r = c.post("/v1/auth/verify", json={"phone": phone, "code": sms.code(phone), "device_name": "raw"})
        assert r.status_code == 200, r.text
    return phone


def test_picture_pdf_voice_location_and_contact(web: Any, sms: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    amira, bassem = web("en-GB"), web("ar-EG")
    sent = Uploads(amira.page)
    amira.register(amira_phone)
    bassem.register(bassem_phone)
    chadi_phone = register_raw(amira.server, sms)
    amira.start_chat(chadi_phone, "Chadi")  # in Amira's address book, for the contact card
    amira.start_chat(bassem_phone, "Bassem")
    # start_chat waits for a composer, and Chadi's chat already has one: wait for Bassem's.
    amira.page.wait_for_function("() => document.querySelector('#conv-title')?.textContent === 'Bassem'")
    amira.send("media follow")
    bassem.page.click(".chat-row", timeout=20000)
    bassem.bubble("media follow").wait_for()

    # A picture with a caption: preview dialog, then the bubble; Bassem sees it, opens the lightbox, Esc closes.
    picture = photo()
    amira.page.click("[data-testid=attach]")
    amira.page.set_input_files(
        "[data-testid=pick-photo]", files=[{"name": "cairo.png", "mimeType": "image/png", "buffer": picture}]
    )
    amira.page.fill("[data-testid=caption]", "Tahrir at dusk")
    amira.page.click("[data-testid=media-send]")
    amira.bubble("Tahrir at dusk").locator("[data-tick=delivered], [data-tick=read]").wait_for(timeout=20000)
    assert sent.last_file() == {"size": len(picture), "sha": sha(picture)}
    got = bassem.bubble("Tahrir at dusk")
    img = got.locator("img[data-testid=picture]")
    img.wait_for()
    bassem.page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle())
    button = got.locator(".picture-button")
    button.click()
    box = bassem.page.locator(".lightbox img")
    box.wait_for()
    assert bassem.page.evaluate(HASH_JS, box.get_attribute("src")) == sha(picture)
    assert bassem.page.evaluate("document.activeElement.classList.contains('lightbox-close')")
    bassem.page.keyboard.press("Escape")
    assert bassem.page.locator(".lightbox").count() == 0
    assert bassem.page.evaluate("document.activeElement.classList.contains('picture-button')")

    # A PDF as a document: name, size, type and a download link that serves the same bytes.
    pdf = mk.pdf(3) + bytes(random.getrandbits(8) for _ in range(5000))
    amira.page.click("[data-testid=attach]")
    amira.page.set_input_files(
        "[data-testid=pick-document]", files=[{"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf}]
    )
    amira.page.click("[data-testid=media-send]")
    doc = bassem.bubble("report.pdf")
    link = doc.locator("[data-testid=download]")
    link.wait_for(timeout=20000)
    assert "application/pdf" in doc.inner_text()
    assert re.search(r"[٠-٩]", doc.locator(".doc-meta").inner_text())  # the size in Arabic digits (Intl)
    assert bassem.page.evaluate(HASH_JS, link.get_attribute("href")) == sha(pdf)
    with bassem.page.expect_download() as saved:  # the click streams it with progress, then saves it
        link.click()
    assert saved.value.suggested_filename == "report.pdf"
    assert Path(saved.value.path()).read_bytes() == pdf
    assert sent.last_file() == {"size": len(pdf), "sha": sha(pdf)}

    # A voice note from the fake microphone: record, send; Bassem gets the same bytes, a waveform and speeds.
    amira.page.click("[data-testid=record]")
    amira.page.wait_for_timeout(2000)
    amira.page.click("[data-testid=voice-send]")
    player = bassem.page.locator(".bubble.theirs [data-testid=voice-player]")
    player.wait_for(timeout=20000)
    voice = sent.last_file()
    assert voice["size"] > 1000
    audio_src = player.locator("audio").get_attribute("src")
    assert bassem.page.evaluate(HASH_JS, audio_src) == voice["sha"]
    bars = player.locator(".bar")
    assert bars.count() == 64
    heights = bars.evaluate_all("els => els.map(e => parseFloat(e.style.blockSize))")
    assert max(heights) == 100, heights
    speed = player.locator(".voice-speed")
    speed.click()
    assert "١٫٥" in speed.inner_text() or "1.5" in speed.inner_text()
    bassem.page.wait_for_function("() => document.querySelector('.bubble.theirs audio').playbackRate === 1.5")

    # Hold to record: pressed, held, released, sent.
    mic = amira.page.locator("[data-testid=record]").bounding_box()
    assert mic
    amira.page.mouse.move(mic["x"] + mic["width"] / 2, mic["y"] + mic["height"] / 2)
    amira.page.mouse.down()
    amira.page.wait_for_timeout(1500)
    amira.page.mouse.up()
    bassem.page.locator(".bubble.theirs [data-testid=voice-player]").nth(1).wait_for(timeout=20000)
    assert amira.page.locator("[data-testid=voice-send]").count() == 0

    # A typed location, and Chadi's contact card.
    amira.page.click("[data-testid=attach]")
    amira.page.click(".attach-menu button >> nth=2")
    amira.page.fill("[data-testid=lat]", "30.0444")
    amira.page.fill("[data-testid=lon]", "31.2357")
    amira.page.click(".media-dialog button[type=submit]")
    card = bassem.page.locator("[data-testid=location-card]")
    card.wait_for(timeout=20000)
    href = card.locator("a").get_attribute("href") or ""
    assert href.startswith("https://www.openstreetmap.org/?mlat=30.0444&mlon=31.2357"), href

    amira.page.click("[data-testid=attach]")
    amira.page.click(".attach-menu button >> nth=3")
    amira.page.click(".contact-pick button:has-text('Chadi')")
    contact = bassem.page.locator("[data-testid=contact-card]")
    contact.wait_for(timeout=20000)
    assert "Chadi" in contact.inner_text() and chadi_phone in contact.inner_text()
    bassem.screenshot("web-ar-media")
    assert bassem.axe() == []
    assert amira.axe() == []
    contact.locator("button >> nth=0").click()  # "message": a chat with Chadi
    bassem.page.wait_for_function(
        "() => document.querySelector('#conv-title')?.textContent.includes('Chadi')", polling=100
    )

    # The chat list says what the newest message is.
    assert "Chadi" in amira.page.locator(".chat-row:has-text('Bassem') .chat-preview").inner_text()


def test_upload_cut_by_a_reload_resumes_from_the_servers_offset(web: Any) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    amira, bassem = web("en-GB"), web("en-GB")
    amira.register(amira_phone)
    bassem.register(bassem_phone)
    amira.start_chat(bassem_phone, "Bassem")
    amira.send("big file next")
    bassem.page.click(".chat-row")
    bassem.bubble("big file next").wait_for()

    data = random.randbytes(2_000_000)
    passed: list[str] = []
    held: list[Any] = []

    def gate(route: Any) -> None:
        # Let four chunks through, then hold every later one: the page is reloaded with an upload half done.
        if route.request.method == "PATCH" and len(passed) >= 4:
            held.append(route)
            return
        passed.append(route.request.method)
        route.continue_()

    amira.page.route("**/v1/media/*/upload", gate)
    amira.page.click("[data-testid=attach]")
    amira.page.set_input_files(
        "[data-testid=pick-document]",
        files=[{"name": "big.bin", "mimeType": "application/octet-stream", "buffer": data}],
    )
    amira.page.click("[data-testid=media-send]")
    bubble = amira.bubble("big.bin")
    bubble.locator("[data-testid=upload-progress]").wait_for()
    amira.page.wait_for_timeout(500)
    while not held:
        amira.page.wait_for_timeout(100)
    assert bubble.locator("[data-tick=queued]").count() == 1

    amira.page.unroute("**/v1/media/*/upload")
    after = Uploads(amira.page)
    amira.page.reload()
    amira.page.click(".chat-row:has-text('Bassem')")
    # Still in the outbox with its file; the upload goes on where the server is, and no new one is made.
    amira.bubble("big.bin").locator("[data-tick=delivered], [data-tick=read]").wait_for(timeout=30000)
    stats = after.stats()
    assert stats["creates"] == 0, stats  # no new upload: the same media id goes on
    assert stats["offsets"] >= 1, stats  # it asked the server where the upload stands
    assert stats["first"] >= 3 * 256 * 1024, stats  # and went on from there, not from 0
    link = bassem.bubble("big.bin").locator("[data-testid=download]")
    link.wait_for(timeout=20000)
    assert bassem.page.evaluate(HASH_JS, link.get_attribute("href")) == sha(data)
    assert amira.bubble("big.bin").count() == 1


def test_profile_picture_shows_to_a_contact_not_to_a_blocked_user(web: Any) -> None:
    amira_phone, bassem_phone, chadi_phone = new_phone(), new_phone(), new_phone()
    amira, bassem, chadi = web("en-GB"), web("en-GB"), web("en-GB")
    amira.register(amira_phone)
    bassem.register(bassem_phone)
    chadi.register(chadi_phone)
    amira.start_chat(bassem_phone, "Bassem")
    amira.send("hello Bassem")
    chadi.start_chat(amira_phone, "Amira")
    chadi.send("hello from a stranger")

    picture = photo(200, 200)
    amira.settings()
    amira.page.set_input_files(
        "[data-testid=picture-input]", files=[{"name": "me.png", "mimeType": "image/png", "buffer": picture}]
    )
    amira.page.locator(".picture-setting img[data-testid=avatar-img]").wait_for(timeout=20000)
    assert amira.axe() == []
    amira.close_settings()

    # Amira blocks Chadi from the stranger banner.
    amira.open_chat(chadi_phone)
    amira.page.click("[data-testid=stranger] button >> nth=0")
    amira.page.locator("[data-testid=blocked]").wait_for()

    # Bassem (a reload fetches the conversations again) sees the picture in the list and the header.
    bassem.page.reload()
    row = bassem.page.locator(".chat-row").first
    row.locator("img[data-testid=avatar-img]").wait_for(timeout=20000)
    row.click()
    bassem.page.locator(".conv-header img[data-testid=avatar-img]").wait_for()
    src = bassem.page.locator(".conv-header img[data-testid=avatar-img]").get_attribute("src")
    assert bassem.page.evaluate("async (u) => (await fetch(u)).status", src) == 200

    # Chadi sees none, and cannot fetch it by the media id either.
    chadi.page.reload()
    chadi.page.locator(".chat-row").first.wait_for()
    chadi.page.wait_for_timeout(1000)
    assert chadi.page.locator(".chat-row img[data-testid=avatar-img]").count() == 0
    token = chadi.page.evaluate(TOKEN_JS)
    media_id = bassem.page.locator(".conv-header .avatar").get_attribute("data-picture")
    assert media_id
    with httpx.Client(base_url=amira.server.url, headers={"Authorization": f"Bearer {token}"}) as c:
        assert c.get(f"/v1/media/{media_id}").status_code == 404
        convs = c.get("/v1/conversations").json()["conversations"]
        assert all(m.get("picture") is None for conv in convs for m in conv["members"])

    # Clearing it in Settings: Bassem sees the initial again after his next refresh.
    amira.settings()
    amira.page.click("[data-testid=picture-remove]")
    amira.page.locator(".picture-setting img").wait_for(state="detached")
    bassem.page.reload()
    bassem.page.locator(".chat-row").first.wait_for()
    bassem.page.wait_for_timeout(1000)
    assert bassem.page.locator(".chat-row img[data-testid=avatar-img]").count() == 0
