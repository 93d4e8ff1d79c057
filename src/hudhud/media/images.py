"""Image processing with Pillow: metadata stripping, dimensions, a thumbnail and a tiny blurred preview.

Stripping is lossless where it can be: JPEG APP1 (EXIF, XMP) and APP13 (IPTC) segments and comments, PNG
text/time/eXIf chunks and WebP EXIF/XMP chunks are dropped by rewriting the container, byte for byte
otherwise, in a streaming copy. Only a JPEG whose EXIF orientation is not "upright" is decoded and
re-encoded, turned the right way up, because dropping the orientation tag alone would show it sideways.

Everything here is synchronous and file-based: callers run it in a worker thread, and memory stays bounded by
the pixel limit (Pillow decodes JPEGs for thumbnails at a reduced scale with `draft`).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageFilter, ImageOps

THUMBNAIL_SIDE = 320
PREVIEW_SIDE = 24
COPY_CHUNK = 1024 * 1024


class ImageError(Exception):
    """The bytes claim to be an image but cannot be read as one (truncated, corrupt, unsupported)."""


class TooManyPixels(Exception):
    """The image has more pixels than the server is willing to decode."""


@dataclass(frozen=True)
class Previews:
    width: int
    height: int
    thumbnail: bytes  # JPEG, at most THUMBNAIL_SIDE on its longer side
    preview: bytes  # JPEG, at most PREVIEW_SIDE on its longer side, blurred: a placeholder while loading


def _copy(src: BinaryIO, dst: BinaryIO, n: int) -> None:
    while n > 0:
        data = src.read(min(COPY_CHUNK, n))
        if not data:
            raise ImageError("the file ends in the middle of a segment")
        dst.write(data)
        n -= len(data)


def _copy_rest(src: BinaryIO, dst: BinaryIO) -> None:
    while data := src.read(COPY_CHUNK):
        dst.write(data)


def dimensions(path: Path, max_pixels: int) -> tuple[int, int]:
    """Width and height from the header, without decoding; refuses images over `max_pixels`."""
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"not a readable image: {exc}") from None
    if width * height > max_pixels:
        raise TooManyPixels(f"{width}×{height} is more than {max_pixels} pixels")
    return width, height


def _orientation(path: Path) -> int:
    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1) or 1)
    except Exception:
        return 1


def strip_metadata(src: Path, dst: Path, content_type: str) -> None:
    """Write `src` to `dst` without EXIF, XMP, IPTC, comments or text chunks."""
    try:
        if content_type == "image/jpeg":
            if _orientation(src) != 1:
                _reencode_upright(src, dst)
            else:
                _strip_jpeg(src, dst)
        elif content_type == "image/png":
            _strip_png(src, dst)
        elif content_type == "image/webp":
            _strip_webp(src, dst)
        else:  # GIF has no EXIF; copy as is
            with src.open("rb") as f, dst.open("wb") as g:
                _copy_rest(f, g)
    except (struct.error, IndexError) as exc:
        raise ImageError(f"damaged image structure: {exc}") from None


def _reencode_upright(src: Path, dst: Path) -> None:
    try:
        with Image.open(src) as im:
            icc = im.info.get("icc_profile")
            upright = ImageOps.exif_transpose(im)
            upright.save(dst, "JPEG", quality=92, icc_profile=icc, optimize=True)
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"not a readable JPEG: {exc}") from None


# APP1 carries EXIF and XMP, APP13 Photoshop/IPTC; COM is a free-text comment. APP0 (JFIF), APP2 (ICC colour
# profile) and APP14 (Adobe colour transform) are needed to show the picture right and are kept.
_JPEG_DROP = {0xE1, 0xED, 0xFE}


def _strip_jpeg(src: Path, dst: Path) -> None:
    with src.open("rb") as f, dst.open("wb") as g:
        if f.read(2) != b"\xff\xd8":
            raise ImageError("not a JPEG")
        g.write(b"\xff\xd8")
        while True:
            byte = f.read(1)
            if not byte:
                raise ImageError("the JPEG ends before its image data")
            if byte != b"\xff":
                raise ImageError("damaged JPEG marker")
            marker = f.read(1)
            while marker == b"\xff":  # fill bytes
                marker = f.read(1)
            if not marker:
                raise ImageError("the JPEG ends before its image data")
            code = marker[0]
            if code == 0xD9:  # EOI without image data
                g.write(b"\xff\xd9")
                return
            if 0xD0 <= code <= 0xD7 or code == 0x01:
                g.write(b"\xff" + marker)
                continue
            length_bytes = f.read(2)
            if len(length_bytes) < 2:
                raise ImageError("the JPEG ends in a segment header")
            (length,) = struct.unpack(">H", length_bytes)
            if length < 2:
                raise ImageError("damaged JPEG segment")
            if code in _JPEG_DROP:
                f.seek(length - 2, io.SEEK_CUR)
                continue
            g.write(b"\xff" + marker + length_bytes)
            _copy(f, g, length - 2)
            if code == 0xDA:  # start of scan: the entropy-coded data and the rest follow as they are
                _copy_rest(f, g)
                return


_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}


def _strip_png(src: Path, dst: Path) -> None:
    with src.open("rb") as f, dst.open("wb") as g:
        signature = f.read(8)
        if signature != b"\x89PNG\r\n\x1a\n":
            raise ImageError("not a PNG")
        g.write(signature)
        while True:
            header = f.read(8)
            if not header:
                return
            if len(header) < 8:
                raise ImageError("the PNG ends in a chunk header")
            length, ctype = struct.unpack(">I4s", header)
            if ctype in _PNG_DROP:
                f.seek(length + 4, io.SEEK_CUR)  # data and CRC
                continue
            g.write(header)
            _copy(f, g, length + 4)
            if ctype == b"IEND":
                return


def _strip_webp(src: Path, dst: Path) -> None:
    with src.open("rb") as f:
        riff = f.read(12)
        if riff[:4] != b"RIFF" or riff[8:12] != b"WEBP":
            raise ImageError("not a WebP")
        chunks: list[tuple[bytes, int, int]] = []  # (fourcc, offset of data, size)
        while True:
            header = f.read(8)
            if len(header) < 8:
                break
            fourcc, size = struct.unpack("<4sI", header)
            chunks.append((fourcc, f.tell(), size))
            f.seek(size + (size & 1), io.SEEK_CUR)
        kept = [c for c in chunks if c[0] not in (b"EXIF", b"XMP ")]
        total = 4 + sum(8 + size + (size & 1) for _, _, size in kept)
        with dst.open("wb") as g:
            g.write(b"RIFF" + struct.pack("<I", total) + b"WEBP")
            for fourcc, offset, size in kept:
                f.seek(offset)
                g.write(struct.pack("<4sI", fourcc, size))
                if fourcc == b"VP8X":
                    flags = bytearray(f.read(size))
                    flags[0] &= ~0x0C & 0xFF  # no EXIF (0x08), no XMP (0x04) any more
                    g.write(bytes(flags))
                else:
                    _copy(f, g, size)
                if size & 1:
                    g.write(b"\x00")


def previews(path: Path) -> Previews:
    """Dimensions, a thumbnail and a tiny blurred preview of an image file (the first frame of an animation).
    Decoding the image is also what proves that it is not truncated or corrupt."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            im.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # JPEG: decode at a reduced scale
            im.load()
            frame = _flatten(im)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"the image cannot be decoded: {exc}") from None
    thumb = frame.copy()
    thumb.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.LANCZOS)
    tiny = frame.copy()
    tiny.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.BILINEAR)
    tiny = tiny.filter(ImageFilter.GaussianBlur(1.2))
    return Previews(width, height, _jpeg(thumb, 72), _jpeg(tiny, 40))


def _flatten(im: Image.Image) -> Image.Image:
    """RGB, with transparency composed onto white."""
    if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGB", rgba.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return im.convert("RGB")


def _jpeg(im: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality, optimize=True)
    return out.getvalue()
