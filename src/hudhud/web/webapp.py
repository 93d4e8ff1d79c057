"""Serving the web client (docs/subsystems/web.md): the built single-page app in `hudhud/webclient/` at `/`.

It answers only what the rest of the server does not: a GET or HEAD that the API answered `404` and whose path is
not under a reserved prefix (`/v1`, the operations endpoints, the API docs) gets the app instead. So the client
can never shadow a route, and a route added later wins over it without anyone touching this file. Hashed files
under `/assets/` are cached for a year; `index.html` is revalidated every time, so a new build shows up at once.
Every answer from here carries a strict Content-Security-Policy (no inline script, no eval; connections only to
this origin) and frame-ancestors 'none'."""

from __future__ import annotations

import re
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WEBCLIENT_DIR = Path(__file__).resolve().parent.parent / "webclient"

RESERVED = ("/v1", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/redoc")

_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
}


def reserved(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in RESERVED)


def content_security_policy(host: str | None) -> str:
    """CSP for the app. `connect-src 'self'` covers ws(s) to the same host in current browsers; the explicit
    ws:// and wss:// sources are there for older ones, and only for a Host header that looks like a host."""
    connect = "'self'"
    if host and _HOST_RE.match(host):
        connect += f" ws://{host} wss://{host}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
        f"connect-src {connect}; media-src 'self' blob:; manifest-src 'self'; worker-src 'self'; base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'none'; object-src 'none'"
    )


class WebClient:
    """The files of one build, listed once: nothing outside the listing is ever served (no path traversal)."""

    def __init__(self, root: Path = WEBCLIENT_DIR) -> None:
        self.root = root
        self.files: dict[str, Path] = {}
        self._stamp: float | None = None
        self._scan()

    def _index_stamp(self) -> float | None:
        try:
            return (self.root / "index.html").stat().st_mtime
        except OSError:
            return None

    def _scan(self) -> None:
        self._stamp = self._index_stamp()
        files: dict[str, Path] = {}
        if self.root.is_dir():
            for path in self.root.rglob("*"):
                if path.is_file() and not path.name.startswith(".") and path.suffix != ".py":
                    files["/" + path.relative_to(self.root).as_posix()] = path
        self.files = files

    def _lookup(self, path: str) -> Path | None:
        """The file for `path`; after `make web` replaced the build under a running server, the new listing."""
        file = self.files.get(path)
        if file is None and self._index_stamp() != self._stamp:
            self._scan()
            file = self.files.get(path)
        return file

    @property
    def built(self) -> bool:
        return "/index.html" in self.files

    def response(self, path: str, host: str | None) -> Response:
        headers = {
            "Content-Security-Policy": content_security_policy(host),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "DENY",
            "Cross-Origin-Opener-Policy": "same-origin",
        }
        file = self._lookup(path)
        if file is not None and path != "/index.html":
            hashed = path.startswith("/assets/")
            headers["Cache-Control"] = "public, max-age=31536000, immutable" if hashed else "no-cache"
            return FileResponse(file, headers=headers, media_type=_TYPES.get(file.suffix))
        last = path.rsplit("/", 1)[-1]
        if "." in last or not self.built:
            # A missing file (an old hashed asset, a typo): a plain 404, not the app.
            message = "not found" if self.built else "the web client is not built: run `make web`"
            return PlainTextResponse(message, status_code=404, headers=headers)
        headers["Cache-Control"] = "no-cache"
        return FileResponse(self.files["/index.html"], headers=headers, media_type=_TYPES[".html"])


class WebClientMiddleware:
    """Gives a GET/HEAD that the app answered 404 (outside the reserved prefixes) to the web client instead."""

    def __init__(self, app: ASGIApp, root: Path = WEBCLIENT_DIR) -> None:
        self.app = app
        self.client = WebClient(root)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or reserved(scope["path"]):
            await self.app(scope, receive, send)
            return
        missed = False

        async def catch(message: Message) -> None:
            nonlocal missed
            if message["type"] == "http.response.start" and message["status"] == 404:
                missed = True
            if not missed:
                await send(message)

        await self.app(scope, receive, catch)
        if missed:
            host = Headers(scope=scope).get("host")
            await self.client.response(scope["path"], host)(scope, receive, send)
