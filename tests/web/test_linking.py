"""A browser linked with a pairing code approved from the CLI (`hudhud link CODE`) sees recent history, is listed
as a device, and is logged out (local data wiped) when it is revoked; logging out from the app revokes it too."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.web.conftest import new_phone, which_hudhud


def cli(profile: Path, server: str, *argv: str) -> str:
    done = subprocess.run(
        [*which_hudhud(), *argv, "--profile", str(profile), "--server", server],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"hudhud {' '.join(argv)}: {done.stderr}{done.stdout}"
    return done.stdout


def test_link_a_browser_with_a_pairing_code(web: Any, tmp_path: Path) -> None:
    amira_phone, bassem_phone = new_phone(), new_phone()
    amira, bassem = web("en-GB"), web("ar-EG")
    amira.register(amira_phone)
    bassem.register(bassem_phone)
    amira.start_chat(bassem_phone, "Bassem")
    amira.send("before linking")
    bassem.page.wait_for_selector(".chat-row")
    bassem.page.click(".chat-row")
    bassem.send("وصلت رسالتك")
    amira.bubble("وصلت رسالتك").wait_for()

    # Amira's CLI logs in with an SMS code (the same account).
    server = amira.server.url
    profile = tmp_path / "amira-cli"
    r = httpx.post(server + "/v1/auth/code", json={"phone": amira_phone})
    assert r.status_code == 202, r.text
    cli(profile, server, "login", "--phone", amira_phone, "--code", amira.sms.code(amira_phone))

    # A new browser asks to be linked and shows the code as text and as a QR code of the uri.
    laptop = web("en-GB")
    laptop.open()
    laptop.page.click("text=Link with a pairing code instead")
    code = laptop.page.locator("[data-testid=pairing-code]").inner_text().strip()
    assert len(code) == 9 and code[4] == "-"
    assert laptop.page.locator("svg.qr").get_attribute("data-uri") == f"hudhud:link/{code}"
    assert laptop.page.locator("svg.qr path").get_attribute("d")

    out = cli(profile, server, "link", code.lower().replace("-", ""))
    assert "linked" in out

    # Linked: the chat list and the recent history are there (the catch-up of a new device).
    laptop.page.wait_for_selector(".chat-row", timeout=15000)
    laptop.page.click(".chat-row")
    laptop.bubble("before linking").wait_for()
    laptop.bubble("وصلت رسالتك").wait_for()
    assert laptop.bubble("before linking").get_attribute("class") == "bubble mine"

    # Amira's first browser lists the linked laptop among her devices.
    amira.settings()
    amira.page.wait_for_selector(".devices li >> nth=2")
    assert amira.page.locator(".devices li").count() == 3
    assert "(this browser)" in amira.page.locator(".devices li").first.inner_text()
    amira.screenshot("web-en-settings")
    amira.close_settings()

    devices = cli(profile, server, "devices", "list")
    lines = [line for line in devices.splitlines() if line.startswith("d")]
    assert len(lines) == 3, devices  # Amira's first browser, the CLI, the laptop
    laptop_id = lines[-1].split()[0]

    # Revoked from the CLI: the laptop's socket is closed with 4401 device_revoked and its data is wiped.
    cli(profile, server, "devices", "revoke", laptop_id)
    laptop.page.wait_for_selector("#phone", timeout=15000)
    assert "logged out" in laptop.page.locator(".notice").inner_text()
    names = laptop.page.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")
    assert "hudhud" not in names, names
    laptop.page.reload()
    laptop.page.wait_for_selector("#phone")

    # Logging out in the app revokes the device on the server too.
    bassem.settings()
    bassem.page.click(".settings button.danger")
    bassem.page.wait_for_selector("#phone")
    assert "logged_out" not in bassem.page.content()
