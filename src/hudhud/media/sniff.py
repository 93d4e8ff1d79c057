"""What a file is, from its first bytes, and which kinds of message may carry it.

Clients declare a kind and a content type; the server believes neither and looks at the magic bytes. A
picture that is really a PDF, or a "voice note" that is an executable, is refused with `media_type_mismatch`.
Documents may be anything, but when they claim a type the sniffer knows, the bytes must agree.
"""

from __future__ import annotations

KINDS = ("image", "video", "voice", "audio", "document")
HEAD_BYTES = 64  # how much of the start of a file `sniff` needs

# What each kind accepts (sniffed types). Documents accept any bytes.
ACCEPTED: dict[str, frozenset[str]] = {
    "image": frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    "video": frozenset({"video/mp4", "video/quicktime", "video/webm", "video/3gpp"}),
    "voice": frozenset({"audio/ogg", "audio/mp4", "audio/mpeg", "audio/aac", "audio/webm", "audio/wav"}),
    "audio": frozenset(
        {"audio/ogg", "audio/mp4", "audio/mpeg", "audio/aac", "audio/webm", "audio/wav", "audio/flac", "video/mp4"}
    ),
}

# Types served inline under their own name; everything else is served as application/octet-stream (and as an
# attachment), so that an uploaded HTML or SVG file can never run as a page of the server's origin.
INLINE = frozenset().union(*ACCEPTED.values(), {"application/pdf", "video/ogg", "image/heic"})

# A declared type that is an alias of a sniffed one.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/opus": "audio/ogg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/x-flac": "audio/flac",
    "video/x-m4v": "video/mp4",
    "application/ogg": "audio/ogg",
}
# Containers whose sniffed type may stand for several declared ones.
_FAMILY = {
    "audio/mp4": {"video/mp4"},
    "video/mp4": {"audio/mp4"},
    "audio/webm": {"video/webm"},
    "video/webm": {"audio/webm"},
    "audio/ogg": {"video/ogg"},
    "video/ogg": {"audio/ogg"},
    # Office documents, EPUB, APK, JAR... are ZIP files.
    "application/zip": {"*zip"},
}


def normalize_type(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes (at least HEAD_BYTES of them, or the whole file), or
    None if it is nothing the server recognises."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A "):
            return "audio/mp4"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
            return "image/heic"
        return "video/mp4"
    if head.startswith(b"OggS"):
        if b"OpusHead" in head or b"\x01vorbis" in head or b"Speex" in head or b"\x7fFLAC" in head:
            return "audio/ogg"
        if b"\x80theora" in head:
            return "video/ogg"
        return "audio/ogg"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"  # Matroska/WebM; audio-only WebM is in the same family
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF:
        if head[1] & 0xF6 == 0xF0:  # ADTS: sync word, layer 00
            return "audio/aac"
        if head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0:  # MPEG audio frame sync with a layer
            return "audio/mpeg"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    return None


def _compatible(declared: str, sniffed: str) -> bool:
    if declared == sniffed:
        return True
    family = _FAMILY.get(sniffed, set())
    if declared in family:
        return True
    return "*zip" in family and (
        declared.endswith("+zip")
        or declared.startswith("application/vnd.")
        or declared in ("application/epub+zip", "application/java-archive", "application/x-zip-compressed")
    )


# The first bytes of a WebM (Matroska) file do not say whether it has a picture: that is in its Tracks element,
# further in. `sniff` calls every WebM "video/webm"; for the sound kinds it stands for audio-only WebM, which is
# what browsers' MediaRecorder makes of a voice recording (Opus in WebM, Chromium's only audio format).
_AS_SOUND = {"video/webm": "audio/webm"}


def for_kind(kind: str, sniffed: str | None) -> str | None:
    """The sniffed type as it stands for this kind: a WebM voice note or audio file is `audio/webm`."""
    if kind in ("voice", "audio") and sniffed in _AS_SOUND:
        return _AS_SOUND[sniffed]
    return sniffed


def check(kind: str, declared_type: str, sniffed: str | None) -> str | None:
    """Why these bytes may not be stored as `kind` with this declared type (None: they may)."""
    declared = normalize_type(declared_type) if declared_type else ""
    sniffed = for_kind(kind, sniffed)
    if kind == "document":
        if sniffed is None or not declared or declared == "application/octet-stream":
            return None
        known_declared = declared in KNOWN or declared.startswith(("image/", "audio/", "video/"))
        if known_declared and not _compatible(declared, sniffed):
            return f"the file is {sniffed}, not {declared}"
        return None
    accepted = ACCEPTED[kind]
    if sniffed is None or sniffed not in accepted:
        what = sniffed or "not a format the server recognises"
        return f"a {kind} must be one of {', '.join(sorted(accepted))}; the file is {what}"
    if declared and declared != "application/octet-stream" and not _compatible(declared, sniffed):
        return f"the file is {sniffed}, not {declared}"
    return None


def served_type(sniffed: str | None) -> str:
    return sniffed if sniffed in INLINE else "application/octet-stream"


KNOWN = frozenset(INLINE | {"application/zip"})
