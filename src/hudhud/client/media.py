"""Media for clients: resumable uploads and downloads, and the payloads of media, location and contact messages.

The server never reads a message's content, so what a picture message looks like is a convention between
clients (docs/protocol.md, section 16.6); this module writes and reads those payloads. The server's part is the
blob API and the `media` field of the `send` frame, which lets the recipients download what a message refers to.

* `upload` hashes the file (chunk by chunk), declares it, sends it in chunks, and finalizes it. If the
  connection breaks it asks the server where the upload stands and goes on from there; the media id of an
  unfinished upload is kept in the profile, so running the same upload again later resumes it too.
* `download` writes to `<dest>.part`, resumes it with `Range` after a break (or in a later run), checks the
  SHA-256 and only then renames it to `dest`: a file under its final name is always complete and correct.
* Local analysis that makes the payload useful to the recipient, cheap and without codecs: the duration of
  Ogg/Opus, WAV and MP4 files from their headers, a waveform for voice notes (real levels for WAV, the size of
  each Ogg page as a stand-in for loudness otherwise, since VBR speech codecs spend more bytes on louder
  sound), and the page count of PDFs whose page tree is readable as text.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from hudhud.client.net.protocol import ApiError, NotLoggedIn, ServerUnreachable
from hudhud.media import sniff

if TYPE_CHECKING:
    from hudhud.client.sdk import HudhudClient

Progress = Callable[[int, int], None]  # (bytes done, bytes in all)

CHUNK = 1024 * 1024
RETRIES = 6
MEDIA_KINDS = ("image", "video", "voice", "audio", "document")
WAVEFORM_POINTS = 64


class MediaError(Exception):
    """A download did not give the bytes it should have (checksum), or a transfer kept failing."""


# -- files ----------------------------------------------------------------------------------------------------


def file_digest(path: Path) -> tuple[str, int, bytes]:
    """SHA-256, size and first bytes of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    head = b""
    with path.open("rb") as f:
        while data := f.read(CHUNK):
            if len(head) < sniff.HEAD_BYTES:
                head += data[: sniff.HEAD_BYTES - len(head)]
            h.update(data)
            size += len(data)
    return h.hexdigest(), size, head


def file_head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(sniff.HEAD_BYTES)


def guess_type(path: Path, head: bytes) -> str:
    return sniff.sniff(head) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def guess_kind(content_type: str, *, voice: bool = False) -> str:
    """The message kind for a file: pictures, videos and audio as such (audio as a voice note on request),
    anything else as a document."""
    if voice:
        return "voice"
    if content_type in sniff.ACCEPTED["image"]:
        return "image"
    if content_type in sniff.ACCEPTED["video"] and content_type.startswith("video/"):
        return "video"
    if content_type.startswith("audio/"):
        return "audio"
    return "document"


def ogg_duration(path: Path) -> float | None:
    """Seconds of an Ogg Opus/Vorbis file: the granule position of its last page over the sample rate."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(512)
        rate = 48000 if b"OpusHead" in head else None
        pre_skip = 0
        if rate is not None:
            i = head.find(b"OpusHead")
            if len(head) >= i + 12:
                pre_skip = struct.unpack("<H", head[i + 10 : i + 12])[0]
        elif (i := head.find(b"\x01vorbis")) >= 0 and len(head) >= i + 16:
            rate = struct.unpack("<I", head[i + 12 : i + 16])[0]
        if not rate:
            return None
        f.seek(max(0, size - 65536))
        tail = f.read()
    last = tail.rfind(b"OggS")
    if last < 0 or len(tail) < last + 14:
        return None
    granule = struct.unpack("<q", tail[last + 6 : last + 14])[0]
    return max(0.0, (granule - pre_skip) / rate) if granule > 0 else None


def wav_info(path: Path) -> tuple[float, list[int]] | None:
    """Duration and a waveform of 16-bit PCM WAV: the peak level in each of WAVEFORM_POINTS stretches."""
    with path.open("rb") as f:
        header = f.read(12)
        if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return None
        channels = rate = bits = 0
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            cid, size = struct.unpack("<4sI", chunk)
            if cid == b"fmt ":
                fmt = f.read(size)
                _, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
            elif cid == b"data":
                break
            else:
                f.seek(size + (size & 1), 1)
        if not rate or not channels or bits != 16:
            return None
        frame = channels * 2
        frames = size // frame
        per = max(1, frames // WAVEFORM_POINTS)
        peaks = []
        for _ in range(WAVEFORM_POINTS):
            data = f.read(per * frame)
            if len(data) < 2:
                break
            samples = struct.unpack(f"<{len(data) // 2}h", data[: len(data) // 2 * 2])
            peaks.append(max(abs(s) for s in samples))
    top = max(peaks) if peaks and max(peaks) else 1
    return frames / rate, [round(100 * p / top) for p in peaks]


def ogg_waveform(path: Path) -> list[int]:
    """An approximate waveform for an Ogg file without decoding it: the bytes in each page, scaled to 0–100.
    Reads only the page headers, seeking over the audio."""
    sizes: list[int] = []
    with path.open("rb") as f:
        while True:
            header = f.read(27)
            if len(header) < 27 or header[:4] != b"OggS":
                break
            table = f.read(header[26])
            body = sum(table)
            sizes.append(body)
            f.seek(body, 1)
    sizes = sizes[2:] or sizes  # the first two pages are headers, not sound
    if not sizes:
        return []
    n = WAVEFORM_POINTS
    buckets = [sizes[i * len(sizes) // n : (i + 1) * len(sizes) // n] for i in range(n)]
    levels = [sum(b) / len(b) if b else 0.0 for b in buckets]
    top = max(levels) or 1.0
    return [round(100 * v / top) for v in levels]


def mp4_duration(path: Path) -> float | None:
    """Seconds of an MP4/MOV/M4A file from its `mvhd` box (walking the top-level boxes, without reading media)."""
    with path.open("rb") as f:
        size = path.stat().st_size
        pos = 0
        while pos + 8 <= size:
            f.seek(pos)
            header = f.read(8)
            box_size, box = struct.unpack(">I4s", header)
            if box_size == 1:
                box_size = struct.unpack(">Q", f.read(8))[0]
            if box == b"moov":
                moov = f.read(min(box_size, 1 << 20))
                i = moov.find(b"mvhd")
                if i < 0:
                    return None
                version = moov[i + 4]
                if version == 1:
                    scale, duration = struct.unpack(">IQ", moov[i + 24 : i + 36])
                else:
                    scale, duration = struct.unpack(">II", moov[i + 16 : i + 24])
                return duration / scale if scale else None
            if box_size < 8:
                return None
            pos += box_size
    return None


def pdf_pages(path: Path) -> int | None:
    """The page count of a PDF whose page tree is plain text (not in a compressed object stream); None when
    that would take more than a cheap look."""
    if path.stat().st_size > 32 * 1024 * 1024:
        return None
    counts = [int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", path.read_bytes())]
    counts += [int(n) for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", path.read_bytes())]
    return max(counts) if counts else None


def describe_file(path: Path, kind: str, content_type: str) -> dict[str, Any]:
    """What the payload says about a file beyond the server's answer: duration, waveform, pages."""
    extra: dict[str, Any] = {}
    if content_type == "audio/ogg":
        duration = ogg_duration(path)
        if duration is not None:
            extra["duration"] = round(duration, 2)
        if kind == "voice":
            extra["waveform"] = ogg_waveform(path)
    elif content_type == "audio/wav":
        info = wav_info(path)
        if info is not None:
            extra["duration"] = round(info[0], 2)
            if kind == "voice":
                extra["waveform"] = info[1]
    elif content_type in ("video/mp4", "video/quicktime", "audio/mp4", "video/3gpp"):
        duration = mp4_duration(path)
        if duration is not None:
            extra["duration"] = round(duration, 2)
    elif content_type == "application/pdf":
        pages = pdf_pages(path)
        if pages is not None:
            extra["pages"] = pages
    return extra


# -- payloads -------------------------------------------------------------------------------------------------


def media_content(kind: str, media: dict[str, Any], *, caption: str | None = None, **extra: Any) -> dict[str, Any]:
    """The payload of an image, video, voice, audio or document message, from the server's answer to
    finalize (`media`) and what the sender knows (caption, duration, waveform, pages …)."""
    content: dict[str, Any] = {
        "type": kind,
        "media_id": media["media_id"],
        "content_type": media["content_type"],
        "size": media["size"],
        "sha256": media["sha256"],
    }
    if media.get("file_name"):
        content["file_name"] = media["file_name"]
    if kind in ("image", "video") and media.get("width"):
        content["width"], content["height"] = media["width"], media["height"]
    if media.get("preview"):
        content["preview"] = media["preview"]
    if media.get("thumbnail"):
        content["thumbnail"] = True
    if caption:
        content["caption"] = caption
    content.update({k: v for k, v in extra.items() if v is not None})
    return content


def location_content(
    latitude: float, longitude: float, *, name: str | None = None, address: str | None = None
) -> dict[str, Any]:
    check_coordinates(latitude, longitude)
    content: dict[str, Any] = {"type": "location", "latitude": latitude, "longitude": longitude}
    if name:
        content["name"] = name
    if address:
        content["address"] = address
    return content


def live_location_content(latitude: float, longitude: float, until: float) -> dict[str, Any]:
    check_coordinates(latitude, longitude)
    return {"type": "live_location", "latitude": latitude, "longitude": longitude, "live_until": until}


def live_update_content(target: int, latitude: float, longitude: float) -> dict[str, Any]:
    check_coordinates(latitude, longitude)
    return {"type": "live_location_update", "target": target, "latitude": latitude, "longitude": longitude}


def live_stop_content(target: int) -> dict[str, Any]:
    return {"type": "live_location_stop", "target": target}


def check_coordinates(latitude: float, longitude: float) -> None:
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError("latitude is -90 to 90 and longitude -180 to 180 (decimal degrees)")


def _vcard_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def vcard(name: str, phones: list[str], *, email: str | None = None) -> str:
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_vcard_text(name)}", f"N:{_vcard_text(name)};;;;"]
    lines += [f"TEL;TYPE=CELL:{_vcard_text(p)}" for p in phones]
    if email:
        lines.append(f"EMAIL:{_vcard_text(email)}")
    lines.append("END:VCARD")
    return "\r\n".join(lines) + "\r\n"


def contact_content(name: str, phones: list[str], *, card: str | None = None) -> dict[str, Any]:
    return {"type": "contact", "name": name, "phones": phones, "vcard": card or vcard(name, phones)}


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} B"


def _clock(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return ""
    s = round(seconds)
    return f" {s // 60}:{s % 60:02d}"


def describe_media(content: dict[str, Any], clean: Callable[[str], str]) -> str | None:
    """One line for a media, location or contact payload; None for other kinds."""
    kind = content.get("type")
    caption = f" “{clean(str(content['caption']))}”" if content.get("caption") else ""
    size = f" ({_size(content['size'])})" if isinstance(content.get("size"), int) else ""
    ident = f" [{clean(str(content.get('media_id')))}]" if content.get("media_id") else ""
    dims = f" {content['width']}×{content['height']}" if content.get("width") and content.get("height") else ""
    if kind == "image":
        return f"📷 Photo{dims}{size}{caption}{ident}"
    if kind == "video":
        return f"🎬 Video{_clock(content.get('duration'))}{dims}{size}{caption}{ident}"
    if kind == "voice":
        return f"🎤 Voice message{_clock(content.get('duration'))}{size}{ident}"
    if kind == "audio":
        name = f" {clean(str(content['file_name']))}" if content.get("file_name") else ""
        return f"🎵 Audio{name}{_clock(content.get('duration'))}{size}{ident}"
    if kind == "document":
        name = clean(str(content.get("file_name") or "document"))
        pages = f", {content['pages']} pages" if isinstance(content.get("pages"), int) else ""
        return f"📄 {name}{size[:-1] + pages + ')' if size else ''}{caption}{ident}"
    if kind in ("location", "live_location"):
        where = f"{content.get('latitude')}, {content.get('longitude')}"
        label = " — ".join(clean(str(content[k])) for k in ("name", "address") if content.get(k))
        if kind == "live_location":
            until = content.get("live_until")
            ends = time.strftime(" until %H:%M", time.localtime(until)) if isinstance(until, int | float) else ""
            return f"📍 Live location {where}{ends}"
        return f"📍 Location {where}" + (f" ({label})" if label else "")
    if kind == "live_location_update":
        return f"📍 Live location #{content.get('target')} now at {content.get('latitude')}, {content.get('longitude')}"
    if kind == "live_location_stop":
        return f"📍 Live location #{content.get('target')} stopped"
    if kind == "contact":
        phones = ", ".join(clean(str(p)) for p in content.get("phones") or [])
        return f"👤 Contact {clean(str(content.get('name') or ''))}" + (f" ({phones})" if phones else "")
    return None


def media_ids(content: Any) -> list[str]:
    """The media a payload refers to (what to download for it)."""
    if not isinstance(content, dict):
        return []
    return [str(content["media_id"])] if isinstance(content.get("media_id"), str) else []


# -- transfers ------------------------------------------------------------------------------------------------


def _error(resp: httpx.Response) -> Exception:

    try:
        err = resp.json().get("error") or {}
    except ValueError:
        err = {}
    retry = err.get("retry_after")
    return ApiError(
        resp.status_code,
        str(err.get("code", "http_error")),
        str(err.get("message", f"HTTP {resp.status_code}")),
        float(retry) if isinstance(retry, int | float) else None,
    )


def _headers(client: HudhudClient) -> dict[str, str]:

    token = client.store.token
    if not token:
        raise NotLoggedIn("not logged in; run `hudhud login` first")
    return {"Authorization": f"Bearer {token}"}


async def _pause(attempt: int) -> None:
    await asyncio.sleep(min(5.0, 0.2 * 2**attempt))


async def upload(
    client: HudhudClient,
    path: Path,
    kind: str,
    *,
    content_type: str | None = None,
    file_name: str | None = None,
    progress: Progress | None = None,
    chunk_size: int = CHUNK,
) -> dict[str, Any]:
    """Upload a file (resuming an earlier, unfinished upload of the same file) and return the finalized media
    as the server describes it (media_id, size, sha256, content_type, width, height, preview …)."""

    if kind not in MEDIA_KINDS:
        raise ValueError(f"kind is one of {', '.join(MEDIA_KINDS)}")
    digest, size, head = await asyncio.to_thread(file_digest, path)
    ctype = content_type or guess_type(path, head)
    http = client._client()
    headers = _headers(client)
    memo = f"upload:{kind}:{digest}"
    media_id = client.store.get(memo)
    offset = 0
    if media_id is not None:
        r = await http.get(f"/v1/media/{media_id}/upload", headers=headers)
        if r.status_code == 200 and r.json().get("status") == "uploading":
            offset = int(r.json()["offset"])
        else:
            media_id = None
    if media_id is None:
        body = {
            "kind": kind,
            "size": size,
            "sha256": digest,
            "content_type": ctype,
            "file_name": file_name if file_name is not None else path.name,
        }
        try:
            r = await http.post("/v1/media", json=body, headers=headers)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"cannot reach {client.server}: {exc}") from exc
        if r.status_code != 201:
            raise _error(r)
        media_id = str(r.json()["media_id"])
        client.store.set(**{memo: media_id})
    if progress:
        progress(offset, size)
    failures = 0
    with path.open("rb") as f:
        while offset < size:
            f.seek(offset)
            data = await asyncio.to_thread(f.read, chunk_size)
            try:
                r = await http.patch(
                    f"/v1/media/{media_id}/upload", content=data, headers={**headers, "Upload-Offset": str(offset)}
                )
            except httpx.TransportError:
                failures += 1
                if failures > RETRIES:
                    raise ServerUnreachable(f"the upload keeps failing; run it again to resume ({media_id})") from None
                await _pause(failures)
                r = await http.get(f"/v1/media/{media_id}/upload", headers=headers)
                if r.status_code != 200:
                    raise _error(r) from None
                offset = int(r.json()["offset"])  # where the server stands after the break
                continue
            if r.status_code == 409 and isinstance((r.json().get("error") or {}).get("offset"), int):
                offset = int(r.json()["error"]["offset"])  # someone (an earlier run) got further: go on from there
                continue
            if r.status_code != 200:
                raise _error(r)
            offset = int(r.json()["offset"])
            failures = 0
            if progress:
                progress(offset, size)
    r = await http.post(f"/v1/media/{media_id}/finalize", headers=headers, timeout=max(60.0, size / 1e6))
    if r.status_code != 200:
        err = _error(r)
        if isinstance(err, ApiError) and err.code != "unavailable":
            client.store.set(**{memo: None})  # the server dropped it; a new attempt starts afresh
        raise err
    client.store.set(**{memo: None})
    result: dict[str, Any] = r.json()
    return result


async def info(client: HudhudClient, media_id: str) -> dict[str, Any]:
    r = await client._client().get(f"/v1/media/{media_id}/info", headers=_headers(client))
    if r.status_code != 200:
        raise _error(r)
    data: dict[str, Any] = r.json()
    return data


async def download(
    client: HudhudClient,
    media_id: str,
    dest: Path,
    *,
    sha256: str | None = None,
    progress: Progress | None = None,
) -> Path:
    """Download a media to `dest`, resuming `<dest>.part` if an earlier attempt left one, and check its SHA-256
    (the one given, from the message's payload, else the server's). Returns `dest`."""

    meta = await info(client, media_id)
    size = int(meta["size"])
    want = sha256 or str(meta["sha256"])
    part = dest.with_name(dest.name + ".part")
    http = client._client()
    headers = _headers(client)
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if have > size:
            part.unlink()
            have = 0
        if progress:
            progress(have, size)
        if have == size:
            break
        try:
            async with http.stream("GET", f"/v1/media/{media_id}", headers={**headers, "Range": f"bytes={have}-"}) as r:
                if r.status_code not in (200, 206):
                    await r.aread()
                    raise _error(r)
                mode = "ab" if r.status_code == 206 else "wb"  # a 200 is the whole file
                got = have if r.status_code == 206 else 0
                with part.open(mode) as f:
                    async for data in r.aiter_bytes(CHUNK):
                        await asyncio.to_thread(f.write, data)
                        got += len(data)
                        if progress:
                            progress(got, size)
            failures = 0
        except httpx.TransportError:
            failures += 1
            if failures > RETRIES:
                raise ServerUnreachable("the download keeps failing; run it again to resume") from None
            await _pause(failures)
    digest, _, _ = await asyncio.to_thread(file_digest, part)
    if digest != want:
        part.unlink()
        raise MediaError(f"the downloaded bytes do not match their SHA-256 ({digest} ≠ {want}); try again")
    part.replace(dest)
    return dest
