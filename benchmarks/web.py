"""The web client's speed, measured in Debian's Chromium (headless, through Playwright) against a real server.

    python -m benchmarks.web                  # 200 chats, one of 10,000 messages, 5 runs
    python -m benchmarks.web --messages 2000 --runs 3

What it reports (the targets of issue 10, docs/performance.md "The web client"):

* ``js_gzip_kib``: the JavaScript the first load fetches, gzipped (level 9, as a server or proxy would send it).
* ``list_ms``: navigation start to the first frame painted with the chat list, on a reload with 200 chats
  (and every message) already in IndexedDB.
* ``open_ms``: a click on the chat of 10,000 messages to the first frame painted with its bubbles.
* ``live_ms``: a message from another user, from the moment its ``deliver`` frame reaches the page's WebSocket
  to the first frame painted with its bubble, while that chat is open.
* ``catchup_s``: the first login on a new browser until all the messages are stored and listed.

"Painted" is the end of the rendering of the first frame that contains the element: a task posted from the
first ``requestAnimationFrame`` callback after the element is in the DOM runs once that frame's style, layout
and paint are done (the compositor shows it a few milliseconds later). Each figure is also reported as
``*_next_frame``, taken at the second ``requestAnimationFrame`` callback: a frame later, an upper bound. Times
come from ``performance.now()`` in the page; Playwright's own round trips are not in them. Accounts are
provisioned in the database, and the messages are sent by raw protocol clients (docs/protocol.md 4.5), as
other users' devices would."""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from benchmarks.common import free_port, machine, make_users, write_result

CHROMIUM = os.environ.get("HUDHUD_CHROMIUM", "/usr/bin/chromium")
WEBCLIENT = Path(__file__).resolve().parents[1] / "src" / "hudhud" / "webclient"

# Installed before the app's own scripts: stamps the time a deliver frame reaches any WebSocket of the page, and
# offers `__hudhud_paint(selector, text)`: resolves with {frame, next}, performance.now() when the first frame
# showing an element that matches is rendered, and at the animation frame after it (see "Painted" above).
PROBE = r"""
(() => {
  window.__hudhud_arrivals = {};
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (ev) => {
        if (typeof ev.data !== "string" || ev.data.indexOf('"deliver"') < 0) return;
        const m = /bench-live-[0-9]+/.exec(ev.data);
        if (m && !(m[0] in window.__hudhud_arrivals)) window.__hudhud_arrivals[m[0]] = performance.now();
      });
    }
  };
  const painted = () =>
    new Promise((resolve) => requestAnimationFrame(() => {
      const ch = new MessageChannel();
      let frame = 0;
      ch.port1.onmessage = () => { frame = performance.now(); };
      ch.port2.postMessage(null);
      requestAnimationFrame(() => setTimeout(() => resolve({ frame, next: performance.now() }), 0));
    }));
  window.__hudhud_paint = (selector, text) => new Promise((resolve) => {
    const match = () => {
      for (const el of document.querySelectorAll(selector)) {
        if (!text || (el.textContent || "").includes(text)) return true;
      }
      return false;
    };
    if (match()) { painted().then(resolve); return; }
    const obs = new MutationObserver(() => { if (match()) { obs.disconnect(); painted().then(resolve); } });
    obs.observe(document, { childList: true, subtree: true, characterData: true });
  });
  window.__hudhud_list = window.__hudhud_paint(".chat-row");
})();
"""


def log(*what: object) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *what, file=sys.stderr, flush=True)


def js_size() -> dict[str, float]:
    html = (WEBCLIENT / "index.html").read_text()
    scripts = re.findall(r'src="/([^"]+\.js)"', html) + re.findall(r'href="/([^"]+\.js)"', html)
    raw = b"".join((WEBCLIENT / s).read_bytes() for s in dict.fromkeys(scripts))
    return {"js_kib": round(len(raw) / 1024, 1), "js_gzip_kib": round(len(gzip.compress(raw, 9)) / 1024, 1)}


def start_server(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HUDHUD_LOG_LEVEL": "warning",
        "HUDHUD_MESSAGES_PER_MINUTE": "0",
        "HUDHUD_SMS_BACKEND": "file",
        "HUDHUD_CODE_MAX_PER_IP_HOUR": "1000",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hudhud.cli", "serve", "--port", str(port), "--data-dir", str(data)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    for _ in range(400):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the server did not become ready")


def send_all(url: str, token: str, to: str, texts: list[str]) -> None:
    """Send texts from one device and wait until every one is stored (a `sent` per message)."""
    with connect(url.replace("http", "ws") + "/v1/ws", max_size=None) as ws:
        ws.send(json.dumps({"type": "hello", "v": 1, "token": token}))
        assert json.loads(ws.recv(10))["type"] == "welcome"
        window = 500
        sent = 0
        for i, text in enumerate(texts):
            ws.send(
                json.dumps(
                    {
                        "type": "send",
                        "id": f"b-{i}-{time.time_ns()}",
                        "to": to,
                        "content": {"type": "text", "text": text},
                    }
                )
            )
            while i + 1 - sent > window:
                sent += _drain(ws)
        while sent < len(texts):
            sent += _drain(ws)


def _drain(ws: Any) -> int:
    frame = json.loads(ws.recv(60))
    if frame["type"] == "error":
        raise RuntimeError(frame)
    return 1 if frame["type"] == "sent" else 0


def login(page: Any, url: str, data: Path, phone: str) -> None:
    page.goto(url + "/")
    page.fill("#phone", phone)
    page.click("form button[type=submit]")
    page.wait_for_selector("#code")
    code = ""
    for _ in range(100):
        lines = [json.loads(x) for x in (data / "sms-codes.jsonl").read_text().splitlines() if x]
        code = next((x["code"] for x in reversed(lines) if x["to"] == phone), "")
        if code:
            break
        time.sleep(0.05)
    page.fill("#code", code)
    page.click("form button[type=submit]")
    page.wait_for_selector(".side-header")


def top_functions(prof: dict[str, Any], n: int = 25) -> list[str]:
    """Self time per function of a DevTools CPU profile, largest first."""
    dt: dict[int, float] = {}
    for node_id, delta in zip(prof["samples"], prof["timeDeltas"], strict=True):
        dt[node_id] = dt.get(node_id, 0.0) + delta / 1000
    by: dict[str, float] = {}
    for node in prof["nodes"]:
        f = node["callFrame"]
        key = f"{f['functionName'] or '(anonymous)'} {Path(f['url']).name}:{f['lineNumber'] + 1}"
        by[key] = by.get(key, 0.0) + dt.get(node["id"], 0.0)
    return [f"{ms:8.1f} ms  {k}" for k, ms in sorted(by.items(), key=lambda kv: -kv[1])[:n]]


def run(chats: int, messages: int, runs: int, profile: str = "") -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {"chats": chats, "messages": messages, "runs": runs, **js_size()}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "var"
        users = asyncio.run(make_users(data, chats + 1))
        me, senders = users[0], users[1:]
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start_server(data, port)
        try:
            t0 = time.perf_counter()
            for s in senders[1:]:
                send_all(url, s["token"], me["user_id"], [f"hello from {s['phone'][-4:]}"])
            send_all(url, senders[0]["token"], me["user_id"], [f"history {i:05d}" for i in range(messages)])
            log("seeded")
            out["seed_s"] = round(time.perf_counter() - t0, 1)
            long_title = f"user {senders[0]['phone'][-4:]}"

            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
                )
                ctx = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 720})
                ctx.add_init_script(PROBE)
                page = ctx.new_page()
                page.set_default_timeout(300_000)
                t0 = time.perf_counter()
                login(page, url, data, me["phone"])
                page.wait_for_selector(f".chat-row >> nth={min(chats, 8) - 1}")
                # Catch-up delivers in the order the messages were stored (protocol 6.2): everything is here once
                # the long chat, the newest and so the top row, shows its last message.
                page.wait_for_selector(f".chat-row:has-text('history {messages - 1:05d}')")
                log("caught up")
                out["catchup_s"] = round(time.perf_counter() - t0, 1)
                page.wait_for_timeout(1000)  # the store's write-behind to IndexedDB settles

                lists, opens, lives = [], [], []
                for r in range(runs):
                    log("run", r)
                    page.reload()
                    lists.append(page.evaluate("window.__hudhud_list"))
                    row = page.locator(".chat-row", has_text=long_title).first
                    row.wait_for()
                    opens.append(
                        page.evaluate(
                            """async (title) => {
                              const rows = [...document.querySelectorAll('.chat-row')];
                              const row = rows.find(r => r.textContent.includes(title));
                              const t0 = performance.now();
                              const done = window.__hudhud_paint('.messages .bubble');
                              row.click();
                              const p = await done;
                              return {frame: p.frame - t0, next: p.next - t0};
                            }""",
                            long_title,
                        )
                    )
                    log("opened", opens[-1])
                    page.wait_for_selector("#compose")
                    page.wait_for_timeout(300)
                    cdp = None
                    if profile and r == runs - 1:
                        cdp = ctx.new_cdp_session(page)
                        cdp.send("Profiler.enable")
                        cdp.send("Profiler.setSamplingInterval", {"interval": 100})
                        cdp.send("Profiler.start")
                    for k in range(3):
                        tag = f"bench-live-{r * 10 + k}"
                        page.evaluate(
                            f"() => {{ window.__hudhud_live = window.__hudhud_paint('.messages .bubble', {tag!r}); }}"
                        )
                        send_all(url, senders[0]["token"], me["user_id"], [tag])
                        at = page.evaluate("window.__hudhud_live")
                        arrived = page.evaluate(f"window.__hudhud_arrivals[{tag!r}]")
                        lives.append({"frame": at["frame"] - arrived, "next": at["next"] - arrived})
                        log("live", lives[-1])
                        page.wait_for_timeout(200)
                    if cdp is not None:
                        prof = cdp.send("Profiler.stop")["profile"]
                        Path(profile).write_text(json.dumps(prof))
                        log("profile of the live messages in", profile)
                        for line in top_functions(prof):
                            log(line)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(10)

    def summary(xs: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(xs), 1), "min": round(min(xs), 1), "max": round(max(xs), 1)}

    for name, xs in (("list", lists), ("open", opens), ("live", lives)):
        out[f"{name}_ms"] = summary([x["frame"] for x in xs])
        out[f"{name}_next_frame_ms"] = summary([x["next"] for x in xs])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--messages", type=int, default=10_000, help="messages in the long chat")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", default="", help="write a CPU profile of the last run's live messages here")
    args = ap.parse_args()
    result = {"machine": machine(), **run(args.chats, args.messages, args.runs, args.profile)}
    print(json.dumps(result, indent=2))
    print("wrote", write_result("web", result))


if __name__ == "__main__":
    main()
