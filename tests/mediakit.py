"""Test support for media: small files of every kind made on the spot, and REST helpers for uploads."""

from __future__ import annotations

import hashlib
import io
import struct
from typing import Any

import httpx
from PIL import Image


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def jpeg(width: int = 640, height: int = 480, *, gps: bool = False, orientation: int | None = None) -> bytes:
    """A JPEG with a gradient; with `gps`, EXIF that says where it was taken (Cairo) and with what camera."""
    im = Image.new("RGB", (width, height))
    px = im.load()
    assert px is not None
    for x in range(0, width, 4):
        for y in range(0, height, 4):
            px[x, y] = (x * 255 // width, y * 255 // height, 128)
    exif = Image.Exif()
    if gps:
        exif[0x010F] = "HudhudCam"  # Make
        exif[0x0110] = "Model 7"  # Model
        gps_ifd = {1: "N", 2: (30.0, 2.0, 40.0), 3: "E", 4: (31.0, 14.0, 9.0)}
        exif[0x8825] = gps_ifd
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    im.save(out, "JPEG", quality=85, exif=exif.tobytes() if (gps or orientation) else b"")
    return out.getvalue()


def png(width: int = 200, height: int = 100, *, text: str | None = None, alpha: bool = False) -> bytes:
    from PIL import PngImagePlugin

    im = Image.new("RGBA" if alpha else "RGB", (width, height), (10, 120, 200, 128) if alpha else (10, 120, 200))
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", text)
    out = io.BytesIO()
    im.save(out, "PNG", pnginfo=info)
    return out.getvalue()


def webp(width: int = 120, height: int = 90, *, gps: bool = False) -> bytes:
    im = Image.new("RGB", (width, height), (200, 30, 30))
    exif = Image.Exif()
    if gps:
        exif[0x8825] = {1: "N", 2: (30.0, 2.0, 40.0), 3: "E", 4: (31.0, 14.0, 9.0)}
    out = io.BytesIO()
    im.save(out, "WEBP", exif=exif.tobytes() if gps else b"")
    return out.getvalue()


def pdf(pages: int = 2) -> bytes:
    body = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    body += b"2 0 obj << /Type /Pages /Count %d /Kids [] >> endobj\n" % pages
    return body + b"trailer << /Root 1 0 R >>\n%%EOF\n" + b"x" * 2000


def ogg_opus(seconds: float = 3.0) -> bytes:
    """The start of an Ogg Opus stream (what a voice note is), padded to a plausible size."""
    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 312, 48000, 0, 0)
    page = b"OggS\x00\x02" + b"\x00" * 8 + b"\x01\x00\x00\x00" + b"\x00" * 8 + bytes([1, len(head)]) + head
    return page + b"\x00" * int(seconds * 2000)


def webm_opus() -> bytes:
    """The start of an audio-only WebM (EBML header, DocType webm), as Chromium's MediaRecorder writes it."""
    ebml = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08"
    ebml += b"\x42\x82\x84webm\x42\x87\x81\x04\x42\x85\x81\x02"
    return ebml + b"\x18\x53\x80\x67\x01\xff\xff\xff\xff\xff\xff\xff" + b"\x00" * 4000


def mp4() -> bytes:
    return b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free" + b"\x00" * 5000


def mp3() -> bytes:
    return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 1000


async def create(c: httpx.AsyncClient, kind: str, data: bytes, content_type: str = "", **extra: Any) -> httpx.Response:
    body = {"kind": kind, "size": len(data), "sha256": sha(data), "content_type": content_type, **extra}
    return await c.post("/v1/media", json=body)


async def upload(
    c: httpx.AsyncClient, kind: str, data: bytes, content_type: str = "", *, chunk: int = 64 * 1024, **extra: Any
) -> dict[str, Any]:
    """Create, send every chunk and finalize; returns the finalized media (asserting success)."""
    r = await create(c, kind, data, content_type, **extra)
    assert r.status_code == 201, r.text
    media_id = r.json()["media_id"]
    for offset in range(0, len(data), chunk):
        r = await c.patch(
            f"/v1/media/{media_id}/upload",
            content=data[offset : offset + chunk],
            headers={"Upload-Offset": str(offset)},
        )
        assert r.status_code == 200, r.text
    r = await c.post(f"/v1/media/{media_id}/finalize")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def upload_raw(c: httpx.AsyncClient, kind: str, data: bytes, content_type: str = "") -> httpx.Response:
    """Create and send all bytes, then finalize; returns the finalize response whatever it is."""
    r = await create(c, kind, data, content_type)
    assert r.status_code == 201, r.text
    media_id = r.json()["media_id"]
    r = await c.patch(f"/v1/media/{media_id}/upload", content=data, headers={"Upload-Offset": "0"})
    assert r.status_code == 200, r.text
    return await c.post(f"/v1/media/{media_id}/finalize")
