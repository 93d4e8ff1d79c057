"""Content sniffing and kind checks without a server: what the magic bytes say, and what each kind accepts."""

from __future__ import annotations

import pytest

from hudhud.media import sniff
from tests import mediakit as mk

SAMPLES = [
    (mk.jpeg(16, 16), "image/jpeg"),
    (mk.png(8, 8), "image/png"),
    (b"GIF89a" + b"\x00" * 20, "image/gif"),
    (mk.webp(8, 8), "image/webp"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"),
    (mk.mp4(), "video/mp4"),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00", "video/quicktime"),
    (b"\x00\x00\x00\x18ftyp3gp5\x00\x00\x00\x00", "video/3gpp"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "image/heic"),
    (mk.ogg_opus(0.1), "audio/ogg"),
    (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01\x1e\x01vorbis", "audio/ogg"),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm", "video/webm"),
    (b"fLaC\x00\x00\x00\x22", "audio/flac"),
    (mk.mp3(), "audio/mpeg"),
    (b"\xff\xfb\x90\x00" * 4, "audio/mpeg"),
    (b"\xff\xf1\x50\x80" * 4, "audio/aac"),
    (mk.pdf(), "application/pdf"),
    (b"PK\x03\x04" + b"\x00" * 30, "application/zip"),
    (b"hello, plain text", None),
    (b"MZ\x90\x00", None),
    (b"<svg xmlns='http://www.w3.org/2000/svg'>", None),
]


@pytest.mark.parametrize(("data", "expected"), SAMPLES, ids=[str(e) + str(i) for i, (_, e) in enumerate(SAMPLES)])
def test_sniff(data: bytes, expected: str | None) -> None:
    assert sniff.sniff(data[: sniff.HEAD_BYTES]) == expected


def test_kinds_accept_their_own_and_refuse_the_rest() -> None:
    assert sniff.check("voice", "audio/opus", "audio/ogg") is None  # an alias of the same thing
    assert sniff.check("voice", "audio/x-m4a", "audio/mp4") is None
    assert sniff.check("audio", "audio/mp4", "video/mp4") is None  # an MP4 container with only sound
    assert sniff.check("video", "", "video/mp4") is None
    # WebM from a browser's MediaRecorder (Opus): sniffed as video/webm, accepted as a voice note or audio.
    assert sniff.check("voice", "audio/webm", "video/webm") is None
    assert sniff.check("voice", "audio/webm;codecs=opus", "video/webm") is None
    assert sniff.check("audio", "", "video/webm") is None
    assert sniff.check("voice", "audio/webm", "audio/ogg")  # declared WebM, is Ogg
    assert sniff.check("image", "image/jpeg", "image/png")  # declared one thing, is another
    assert sniff.check("image", "", "image/heic")  # HEIC is not displayable everywhere: send it as a document
    assert sniff.check("document", "", "image/heic") is None
    assert sniff.check("video", "video/mp4", None)
    assert sniff.check("document", "application/msword", None) is None
    assert (
        sniff.check(
            "document", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/zip"
        )
        is None
    )
    assert sniff.check("document", "application/pdf", "application/zip")
    assert sniff.check("document", "text/plain", "application/pdf") is None  # unknown claims are not checked
    # What is served inline: pictures, sound, video and PDF, never HTML or SVG.
    assert sniff.served_type("image/png") == "image/png"
    assert sniff.served_type(None) == "application/octet-stream"
    assert sniff.served_type("application/zip") == "application/octet-stream"
