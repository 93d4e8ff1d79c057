"""Signed, expiring download URLs, for places that cannot send an Authorization header (<img>, <video>).

`GET /v1/media/{id}?expires=T&sig=S`: S is HMAC-SHA256 over the media id, the variant (the file itself or
its thumbnail) and T, with a key only the server knows. Anyone holding the URL can fetch the media until T:
it is a capability, minted only for a user who may read the media at that moment, and kept short-lived.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from hudhud.errors import ClientError


class UrlExpired(ClientError):
    code = "url_expired"
    status = 403


class UrlInvalid(ClientError):
    code = "url_invalid"
    status = 403


def load_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret, else one made once and kept in data_dir/media-url.key (mode 0600).

    Several processes sharing the data directory (`--workers`, or nodes on one shared filesystem) get the same
    key: the file is written whole under a name of its own and then linked into place, so whichever process
    comes first makes it and the others read it, never an empty or half-written file. Nodes that do not share
    the data directory must be given the same `media_url_secret`, or a URL signed by one is refused by another."""
    if configured:
        return configured.encode()
    path = data_dir / "media-url.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32).encode()
    tmp = data_dir / f".media-url.key.{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # fails if another process was first: then its key is the key
    except FileExistsError:
        return path.read_bytes().strip()
    finally:
        tmp.unlink()
    return key


def signature(secret: bytes, media_id: str, variant: str, expires: int) -> str:
    mac = hmac.new(secret, f"{media_id}\n{variant}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:24]).decode().rstrip("=")


def verify(secret: bytes, media_id: str, variant: str, expires: str, sig: str, now: float) -> None:
    try:
        when = int(expires)
    except ValueError:
        raise UrlInvalid("this download link is not valid") from None
    if not hmac.compare_digest(signature(secret, media_id, variant, when), sig):
        raise UrlInvalid("this download link is not valid")
    if now > when:
        raise UrlExpired("this download link has expired; ask for a new one")
