"""Plumbing shared by every command: output, opening the profile's client, turning errors into messages."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from hudhud.client.sdk import (
    ApiError,
    HudhudClient,
    NotLoggedIn,
    SendRejected,
    ServerUnreachable,
)

Command = Callable[[argparse.Namespace], Awaitable[int]]

BLUE = "\033[34m"
RESET = "\033[0m"
# Public ids are a prefix letter and 16 Crockford base32 characters (see hudhud.ids).
ID_RE = re.compile(r"[uc][0-9abcdefghjkmnpqrstvwxyz]{16}")
PHONE_RE = re.compile(r"\+?[0-9][0-9 ()\-.]{4,}")
DEFAULT_REGION = "EG"


class UserError(Exception):
    """Something the user can fix; printed as `error: …` with exit code 1."""


# -- plumbing -------------------------------------------------------------------------------------------------


def _ensure_utf8(stream: TextIO) -> None:
    """Print Arabic (and emoji) even where the locale says ASCII, instead of dying on UnicodeEncodeError."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    reconfigure = getattr(stream, "reconfigure", None)
    if encoding != "utf8" and reconfigure is not None:
        with contextlib.suppress(Exception):
            reconfigure(encoding="utf-8", errors="replace")


def _out(*parts: Any, err: bool = False) -> None:
    print(*parts, file=sys.stderr if err else sys.stdout, flush=True)


def _server(args: argparse.Namespace) -> str | None:
    server: str | None = getattr(args, "server", None) or os.environ.get("HUDHUD_SERVER") or None
    return server


def _open(args: argparse.Namespace, **kwargs: Any) -> HudhudClient:
    return HudhudClient(getattr(args, "profile", None), server=_server(args), **kwargs)


def _use_color(args: argparse.Namespace) -> bool:
    choice = getattr(args, "color", "auto")
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def _guarded(func: Command) -> Command:
    """Turn the errors a user can meet into one readable line and exit code 1 instead of a traceback."""

    @functools.wraps(func)
    async def run(args: argparse.Namespace) -> int:
        _ensure_utf8(sys.stdout)
        _ensure_utf8(sys.stderr)
        try:
            return await func(args)
        except NotLoggedIn as exc:
            _out(f"error: {exc}. Run `hudhud login --phone YOUR_NUMBER`.", err=True)
        except ApiError as exc:
            hint = f" (try again in {exc.retry_after:.0f} s)" if exc.retry_after else ""
            if exc.code == "device_revoked":
                hint = " — this device was logged out; run `hudhud login` again"
            _out(f"error: {exc.message} [{exc.code}]{hint}", err=True)
        except SendRejected as exc:
            _out(f"error: the server refused the message: {exc.message} [{exc.code}]", err=True)
        except (ServerUnreachable, UserError) as exc:
            _out(f"error: {exc}", err=True)
        return 1

    return run


def _require_login(client: HudhudClient) -> None:
    if not client.store.token:
        raise NotLoggedIn("not logged in")
