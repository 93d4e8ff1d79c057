"""REST endpoints for media: resumable uploads, downloads with Range, thumbnails and signed URLs.

Bodies of uploads and downloads are streamed: an upload chunk goes from the socket to the staging file, a
download from the media store to the socket, a piece at a time.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field
from starlette.requests import ClientDisconnect

from hudhud.app import Hudhud
from hudhud.errors import ClientError, InvalidRequest
from hudhud.services.media import MediaTooLarge, media_view
from hudhud.store.records import MediaRecord
from hudhud.web.routing import Auth, Body, Hub, HudhudRoute, principal

router = APIRouter(prefix="/v1", route_class=HudhudRoute)


class MediaCreate(Body):
    kind: Literal["image", "video", "voice", "audio", "document"]
    size: int = Field(ge=1)
    sha256: str = Field(min_length=64, max_length=64)
    content_type: str = Field(default="", max_length=128)
    file_name: str = Field(default="", max_length=255)
    encrypted: bool = False


class UrlRequest(Body):
    thumbnail: bool = False
    expires_in: float = Field(default=3600.0, gt=0)


class RangeNotSatisfiable(ClientError):
    code = "range_not_satisfiable"
    status = 416

    def __init__(self, size: int) -> None:
        super().__init__(f"the range is outside the file's {size} bytes")
        self.headers = {"Content-Range": f"bytes */{size}"}


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) for a single `Range: bytes=…` header, or None to send the whole file (no header, a
    header this server does not serve, such as several ranges, or one that is not well formed). Raises
    RangeNotSatisfiable for a range that starts past the end."""
    if not header or not header.strip().lower().startswith("bytes="):
        return None
    spec = header.strip()[6:].strip()
    if "," in spec or "-" not in spec:
        return None
    first, _, last = spec.partition("-")
    first, last = first.strip(), last.strip()
    if not (first.isdigit() or first == "") or not (last.isdigit() or last == "") or first == last == "":
        return None
    if first == "":  # the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - n), min(n, size)
    start = int(first)
    end = size - 1 if last == "" else min(int(last), size - 1)
    if start >= size:
        raise RangeNotSatisfiable(size)
    if end < start:
        return None
    return start, end - start + 1


def _headers(m: MediaRecord) -> dict[str, str]:
    sha = m.blob_sha256 or m.sha256
    inline = m.content_type != "application/octet-stream"
    name = m.file_name or m.id
    disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(name, safe='')}"
    return {
        "Accept-Ranges": "bytes",
        "ETag": f'"{sha}"',
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(sha)).decode()}:",
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=31536000, immutable",
    }


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives. A cut connection simply ends it: what arrived is kept."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        return


async def _reader(
    request: Request, h: Hudhud, media_id: str, variant: str, expires: str | None, sig: str | None
) -> MediaRecord:
    """Who may read: the bearer of a token who may see the media, or the holder of a signed, unexpired URL."""
    if expires is not None or sig is not None:
        return await h.media.by_signature(media_id, variant, expires or "", sig or "")
    p = await principal(request, request.headers.get("authorization"))
    return await h.media.readable(p.user_id, media_id)


# -- upload ---------------------------------------------------------------------------------------------------


@router.post("/media", status_code=201, tags=["media"])
async def create_media(body: MediaCreate, p: Auth, h: Hub) -> dict[str, Any]:
    """Start an upload: declare kind, size, SHA-256 and content type; then send the bytes."""
    m = await h.media.create(
        p.user_id, body.kind, body.size, body.sha256.lower(), body.content_type, body.file_name, body.encrypted
    )
    return {**media_view(m), "offset": 0, "max_size": h.media.limit(body.kind)}


@router.head("/media/{media_id}/upload", tags=["media"])
async def upload_offset_head(media_id: str, p: Auth, h: Hub) -> Response:
    """As GET, headers only."""
    return await upload_offset(media_id, p, h)


@router.get("/media/{media_id}/upload", tags=["media"])
async def upload_offset(media_id: str, p: Auth, h: Hub) -> Response:
    """How many bytes of the upload the server has: where to resume."""
    m, offset = await h.media.offset(p.user_id, media_id)
    headers = {"Upload-Offset": str(offset), "Upload-Length": str(m.size), "Cache-Control": "no-store"}
    body = orjson.dumps({"media_id": m.id, "offset": offset, "size": m.size, "status": m.status})
    return Response(body, media_type="application/json", headers=headers)


@router.patch("/media/{media_id}/upload", tags=["media"])
async def upload_chunk(
    media_id: str,
    request: Request,
    p: Auth,
    h: Hub,
    upload_offset: Annotated[str | None, Header()] = None,
    content_length: Annotated[str | None, Header()] = None,
) -> Response:
    """Append the body at `Upload-Offset`, which must be where the upload stands."""
    if upload_offset is None or not upload_offset.isdigit():
        raise InvalidRequest("the Upload-Offset header (a byte position) is required")
    offset = int(upload_offset)
    if content_length is not None and content_length.isdigit():
        m, _ = await h.media.offset(p.user_id, media_id)
        if m.status == "uploading" and offset + int(content_length) > m.size:
            raise MediaTooLarge(f"more bytes than the {m.size} declared")
    new = await h.media.write(p.user_id, media_id, offset, _body(request))
    return Response(
        orjson.dumps({"media_id": media_id, "offset": new}),
        media_type="application/json",
        headers={"Upload-Offset": str(new)},
    )


@router.post("/media/{media_id}/finalize", tags=["media"])
async def finalize(media_id: str, p: Auth, h: Hub) -> dict[str, Any]:
    """Check and store the upload; from now on it can be sent in messages and downloaded."""
    m = await h.media.finalize(p.user_id, media_id)
    return media_view(m)


@router.delete("/media/{media_id}", status_code=204, tags=["media"])
async def delete_media(media_id: str, p: Auth, h: Hub) -> Response:
    """Abandon an upload, or delete a media of mine that no message refers to."""
    await h.media.delete(p.user_id, media_id)
    return Response(status_code=204)


# -- download -------------------------------------------------------------------------------------------------


@router.get("/media/{media_id}/info", tags=["media"])
async def media_info(media_id: str, p: Auth, h: Hub) -> dict[str, Any]:
    """What a media is (size, checksum, type, dimensions, preview), for those who may read it."""
    m = await h.media.readable(p.user_id, media_id)
    return media_view(m)


@router.head("/media/{media_id}", tags=["media"])
async def download_head(
    media_id: str,
    request: Request,
    h: Hub,
    expires: Annotated[str | None, Query(max_length=20)] = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """As GET, headers only."""
    return await download(media_id, request, h, expires, sig, range_)


@router.get("/media/{media_id}", tags=["media"])
async def download(
    media_id: str,
    request: Request,
    h: Hub,
    expires: Annotated[str | None, Query(max_length=20)] = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
    range_: Annotated[str | None, Header(alias="range")] = None,
) -> Response:
    """The media's bytes, with bearer auth or a signed URL; `Range` gives a part (206)."""
    m = await _reader(request, h, media_id, "file", expires, sig)
    size = m.blob_size or 0
    headers = _headers(m)
    part = parse_range(range_, size)
    start, length = part if part is not None else (0, size)
    status = 206 if part is not None else 200
    if part is not None:
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    headers["Content-Length"] = str(length)
    media_type = m.content_type or "application/octet-stream"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media_type)
    body = await h.media.open(m, start, length)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media_type)


@router.get("/media/{media_id}/thumbnail", tags=["media"])
async def thumbnail(
    media_id: str,
    request: Request,
    h: Hub,
    expires: Annotated[str | None, Query(max_length=20)] = None,
    sig: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """A JPEG thumbnail of an image (at most 320 pixels on its longer side)."""
    m = await _reader(request, h, media_id, "thumbnail", expires, sig)
    data = await h.media.thumbnail(m)
    return Response(
        data,
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/media/{media_id}/url", tags=["media"])
async def signed_url(media_id: str, body: UrlRequest, p: Auth, h: Hub) -> dict[str, Any]:
    """A URL that serves the media (or its thumbnail) without a token until it expires."""
    url, expires = await h.media.sign(p.user_id, media_id, "thumbnail" if body.thumbnail else "file", body.expires_in)
    return {"url": url, "expires_at": float(expires)}
