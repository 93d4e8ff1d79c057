"""Browser tests: a real `hudhud serve` in a subprocess (so a test can stop it and start it again on the same port
and data directory), the fake SMS provider of tests/support.py, and Debian's Chromium driven by Playwright.

Chromium is always launched from /usr/bin/chromium (no downloaded browsers). Without it or without the
playwright package the tests skip locally and fail under CI=true."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.support import SmsSink, database_env, free_socket

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("HUDHUD_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "webapp" / "node_modules" / "axe-core" / "axe.min.js"
IMG = ROOT / "docs" / "img"


def _need(ok: bool, why: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"browser tests must run under CI: {why}")
    pytest.skip(why)


class SmsThread:
    """tests.support.SmsSink on its own event loop in a thread, so the sync browser tests can read codes."""

    def __init__(self) -> None:
        self.sink = SmsSink()
        sock = free_socket()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/sms"
        self.server = uvicorn.Server(uvicorn.Config(self.sink.app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[sock])), daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)

    def code(self, phone: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if phone in self.sink.codes:
                return self.sink.codes.pop(phone)
            time.sleep(0.05)
        raise AssertionError(f"no SMS code for {phone}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class HudhudProcess:
    """`hudhud serve` as a real process; `stop()` and `start()` keep the port and the data directory."""

    data_dir: Path
    sms_url: str
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        if not self.port:
            sock = free_socket()
            self.port = sock.getsockname()[1]
            sock.close()
        self.log = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "HUDHUD_DATA_DIR": str(self.data_dir),
            "HUDHUD_PORT": str(self.port),
            "HUDHUD_HOST": "127.0.0.1",
            "HUDHUD_SMS_BACKEND": "webhook",
            "HUDHUD_SMS_WEBHOOK_URL": self.sms_url,
            "HUDHUD_LOG_LEVEL": "warning",
            # every browser registers from 127.0.0.1, and a test may log the same number in twice
            "HUDHUD_CODE_MAX_PER_IP_HOUR": "10000",
            "HUDHUD_CODE_MAX_PER_PHONE_HOUR": "100",
            "HUDHUD_CODE_RESEND_INTERVAL": "0",
            "HUDHUD_LINK_REQUESTS_PER_IP_HOUR": "10000",
            "HUDHUD_MESSAGES_PER_MINUTE": "100000",  # the long-chat test sends hundreds at once
        }
        env.pop("HUDHUD_DATABASE_URL", None)
        env.update(database_env(self.data_dir))  # HUDHUD_TEST_DATABASE=postgresql: this server's own database
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "import sys; from hudhud.cli import main; sys.exit(main())", "serve"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hudhud serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("hudhud serve did not become ready")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


@pytest.fixture(scope="session")
def sms() -> Iterator[SmsThread]:
    s = SmsThread()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def hudhud(sms: SmsThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HudhudProcess]:
    server = HudhudProcess(tmp_path_factory.mktemp("hudhud-web"), sms.url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not for the session: Playwright's sync API keeps an event loop running in
    this thread while it is started, which would break the async tests collected after these modules."""
    _need(Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package is not installed (pip install -e '.[dev]')")
        raise
    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
    yield b
    b.close()
    pw.stop()


def new_phone() -> str:
    """A fresh valid Egyptian mobile number, E.164."""
    return "+2010" + "".join(random.choice("0123456789") for _ in range(8))


def national(e164: str) -> str:
    return "0" + e164[3:]


class Web:
    """One browser context (one device) on the app, with the helpers the tests share."""

    def __init__(self, browser: Any, server: HudhudProcess, sms: SmsThread, locale: str = "en-GB") -> None:
        self.server = server
        self.sms = sms
        self.context = browser.new_context(locale=locale, viewport={"width": 1100, "height": 720})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("dialog", self._dialog)
        self.page.set_default_timeout(10000)

    def _console(self, msg: Any) -> None:
        if msg.type == "error" and "Content Security Policy" in msg.text:
            self.errors.append(msg.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self) -> None:
        self.page.goto(self.server.url + "/")

    def register(self, phone: str, *, typed: str | None = None) -> None:
        """Log in with an SMS code through the app's own form."""
        self.open()
        self.page.fill("#phone", typed or phone)
        self.page.click("form button[type=submit]")
        self.page.wait_for_selector("#code")
        self.page.fill("#code", self.sms.code(phone))
        self.page.click("form button[type=submit]")
        self.page.wait_for_selector(".side-header")

    def start_chat(self, phone: str, name: str = "") -> None:
        self.page.click(".side-header .row button >> nth=0")
        self.page.fill("#newchat-phone", phone)
        if name:
            self.page.fill("#newchat-name", name)
        self.page.click(".panel form button[type=submit]")
        self.page.wait_for_selector("#compose")

    def send(self, text: str) -> None:
        self.page.fill("#compose", text)
        self.page.press("#compose", "Enter")

    def open_chat(self, title: str) -> None:
        self.page.click(f".chat-row:has-text({title!r})")
        self.page.wait_for_selector("#compose")

    def bubble(self, text: str) -> Any:
        return self.page.locator(".bubble", has_text=text)

    def settings(self) -> None:
        self.page.click(".side-header .row button >> nth=1")
        self.page.wait_for_selector(".settings")

    def close_settings(self) -> None:
        self.page.click(".settings .panel-head button")

    def set_theme(self, theme: str) -> None:
        self.settings()
        self.page.click(f"input[name=theme] >> nth={0 if theme == 'light' else 1}")
        self.close_settings()

    def screenshot(self, name: str) -> None:
        IMG.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(IMG / f"{name}.png"))

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations on the page as it is now."""
        _need(AXE.exists(), f"{AXE} is missing: run make web (npm ci in webapp/)")
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            # Evaluated over the DevTools protocol: the page's CSP (no inline script) does not apply to it.
            self.page.evaluate(AXE.read_text() + "\n;undefined")
        result: dict[str, Any] = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => v.impact === 'serious' || v.impact === 'critical')"
            ".map(v => ({id: v.id, impact: v.impact,"
            " nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ': ' + n.failureSummary)}))"
        )
        return result  # type: ignore[return-value]

    def token(self) -> str:
        """This device's bearer token, from the app's IndexedDB (for checking the server's side over REST)."""
        token: str = self.page.evaluate(
            "() => new Promise(r => { const q = indexedDB.open('hudhud'); q.onsuccess = () => {"
            " const g = q.result.transaction('meta').objectStore('meta').get('auth');"
            " g.onsuccess = () => r(g.result.token); }; })"
        )
        return token

    def rest(self, method: str, path: str, **kwargs: Any) -> Any:
        """A REST call as this device's user; the JSON answer (None for 204)."""
        r = httpx.request(
            method, self.server.url + path, headers={"Authorization": f"Bearer {self.token()}"}, timeout=10, **kwargs
        )
        assert r.status_code < 300, (path, r.status_code, r.text)
        return r.json() if r.status_code != 204 else None

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def web(browser: Any, hudhud: HudhudProcess, sms: SmsThread) -> Iterator[Any]:
    """`web(locale)` opens a new device; all are closed after the test, and none may break the CSP."""
    opened: list[Web] = []

    def make(locale: str = "en-GB") -> Web:
        w = Web(browser, hudhud, sms, locale)
        opened.append(w)
        return w

    yield make
    errors = [e for w in opened for e in w.errors]
    for w in opened:
        w.close()
    assert not errors, errors


def which_hudhud() -> list[str]:
    exe = shutil.which("hudhud", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-c", "import sys; from hudhud.cli import main; sys.exit(main())"]
