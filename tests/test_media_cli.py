"""Media through the client: the `hudhud` commands (send-file, send-location, send-contact, download,
history, listen) and the SDK's resumable transfers, against the real server."""

from __future__ import annotations

import io
import re
import struct
import wave
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from hudhud.client import media
from hudhud.client.commands.media import ProgressBar
from hudhud.client.sdk import Delivered
from tests import mediakit as mk
from tests.clikit import Cli, _clean_env  # noqa: F401 - the fixture applies to this module
from tests.test_client_sdk import fast_client, login_profile, next_event

AMAL, BADR, CHADI = "+201001110001", "+201001110002", "+201001110003"


class Person:
    def __init__(self, user_id: str, phone: str, profile: Path, cli: Cli) -> None:
        self.id, self.phone, self.profile, self.cli = user_id, phone, profile, cli


@pytest.fixture
async def trio(server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Person]:
    out = {}
    for name, phone in (("Amal", AMAL), ("Badr", BADR), ("Chadi", CHADI)):
        creds = await server.make_user(phone, name)
        profile = tmp_path / name.lower()
        login_profile(profile, server.url, phone, creds)
        out[name] = Person(creds[0], phone, profile, Cli(capsys, profile, server.url))
    return out


def seq_of(out: str) -> int:
    found = re.search(r"\(#(\d+) in c\w+\)", out)
    assert found, out
    return int(found.group(1))


def ogg_pages(levels: list[int], seconds: float) -> bytes:
    """An Ogg Opus file made of pages whose sizes follow `levels`, the last granule saying `seconds`."""

    def page(granule: int, body: bytes, seqno: int) -> bytes:
        segs = [255] * (len(body) // 255) + [len(body) % 255]
        return (
            b"OggS\x00\x00"
            + struct.pack("<qII", granule, 1, seqno)
            + b"\x00\x00\x00\x00"
            + bytes([len(segs), *segs])
            + body
        )

    head = b"OpusHead" + bytes([1, 1]) + struct.pack("<HIhB", 0, 48000, 0, 0)
    out = page(0, head, 0) + page(0, b"OpusTags" + b"\x00" * 8, 1)
    for i, level in enumerate(levels):
        granule = int(48000 * seconds * (i + 1) / len(levels))
        out += page(granule, b"\x55" * level, i + 2)
    return out


async def test_done_when_pictures_voice_pdf_location_and_contact_reach_a_chat_and_a_group(
    server: Any, trio: dict[str, Person], tmp_path: Path
) -> None:
    amal, badr, chadi = trio["Amal"], trio["Badr"], trio["Chadi"]
    await amal.cli.ok("contacts", "add", BADR, "Badr")
    await amal.cli.ok("contacts", "add", CHADI, "Chadi")
    await badr.cli.ok("contacts", "add", AMAL, "Amal")
    out = await amal.cli.ok("group", "create", "Family", "--member", "Badr")
    assert "Added: Badr" in out

    files = tmp_path / "files"
    files.mkdir()
    (files / "cairo.jpg").write_bytes(mk.jpeg(800, 600, gps=True))
    (files / "hello.ogg").write_bytes(ogg_pages([40, 200, 90, 10] * 8, 6.5))
    (files / "report.pdf").write_bytes(mk.pdf(3))

    sent: dict[str, dict[str, int]] = {"Badr": {}, "Family": {}}
    for chat, extra in (("Badr", ()), ("Family", ("--group",))):
        out = await amal.cli.ok("send-file", chat, str(files / "cairo.jpg"), "--caption", "Tahrir at dusk", *extra)
        sent[chat]["photo"] = seq_of(out)
        out = await amal.cli.ok("send-file", chat, str(files / "hello.ogg"), "--voice", *extra)
        sent[chat]["voice"] = seq_of(out)
        out = await amal.cli.ok("send-file", chat, str(files / "report.pdf"), *extra)
        sent[chat]["pdf"] = seq_of(out)
        out = await amal.cli.ok("send-location", chat, "30.0444", "31.2357", "--name", "Tahrir Square", *extra)
        sent[chat]["location"] = seq_of(out)
        out = await amal.cli.ok("send-contact", chat, "Chadi", *extra)
        sent[chat]["contact"] = seq_of(out)

    # The uploads drew progress bars.
    rc, out, err = await amal.cli("send-file", "Badr", str(files / "report.pdf"), "--wait", "5")
    assert rc == 0 and "uploading report.pdf [" in err and "100%" in err

    # Badr reads them, in his chat with Amal and in the group, as lines a person can read.
    for chat in ("Amal", "Family"):
        out = await badr.cli.ok("history", chat)
        assert "📷 Photo 800×600" in out and "“Tahrir at dusk”" in out
        assert "🎤 Voice message 0:06" in out
        assert "📄 report.pdf" in out and "3 pages" in out
        assert "📍 Location 30.0444, 31.2357 (Tahrir Square)" in out
        assert f"👤 Contact Chadi ({CHADI})" in out

    # ... and downloads them intact: each file checked against the SHA-256 in its message.
    got = tmp_path / "got"
    got.mkdir()
    for chat, key in (("Badr", "Amal"), ("Family", "Family")):
        where = got / chat
        where.mkdir()
        for what in ("photo", "voice", "pdf"):
            rc, out, err = await badr.cli("download", key, str(sent[chat][what]), "-o", str(where))
            assert rc == 0, err
            assert "verified" in out and "downloading" in err and "100%" in err
        assert (where / "hello.ogg").read_bytes() == (files / "hello.ogg").read_bytes()
        assert (where / "report.pdf").read_bytes() == (files / "report.pdf").read_bytes()
        picture = Image.open(where / "cairo.jpg")
        assert picture.size == (800, 600) and not picture.getexif()  # the GPS position did not travel
        assert picture.tobytes() == Image.open(files / "cairo.jpg").tobytes()

    # The message carries everything a client needs to show it before downloading anything.
    async with fast_client(badr.profile) as client:
        messages, _ = await client.history(await _direct(client, amal.id))
    by_seq = {m.seq: m.content for m in messages}
    photo = by_seq[sent["Badr"]["photo"]]
    assert photo["type"] == "image" and photo["width"] == 800 and photo["preview"] and photo["thumbnail"]
    voice = by_seq[sent["Badr"]["voice"]]
    assert voice["type"] == "voice" and voice["duration"] == 6.5 and len(voice["waveform"]) == 64
    assert max(voice["waveform"]) == 100
    contact = by_seq[sent["Badr"]["contact"]]
    assert contact["vcard"].startswith("BEGIN:VCARD") and f"TEL;TYPE=CELL:{CHADI}" in contact["vcard"]

    # Chadi, a stranger to both chats, cannot fetch any of it, not even knowing the ids.
    for content in by_seq.values():
        for media_id in media.media_ids(content):
            rc, _, err = await chadi.cli("download", media_id, "-o", str(tmp_path / "stolen"))
            assert rc == 1 and "media_not_found" in err
    assert not (tmp_path / "stolen").exists()


async def _direct(client: Any, other: str) -> str:
    for conv in await client.conversations():
        if conv["kind"] == "direct" and any(m["user_id"] == other for m in conv["members"]):
            return str(conv["conversation_id"])
    raise AssertionError("no direct chat")


async def test_live_location_and_listen(server: Any, trio: dict[str, Person]) -> None:
    amal, badr = trio["Amal"], trio["Badr"]
    await amal.cli.ok("contacts", "add", BADR, "Badr")
    out = await amal.cli.ok("send-location", "Badr", "30.05", "31.23", "--live", "15")
    start = seq_of(out)
    assert "sharing for 15 minutes" in out
    await amal.cli.ok("send-location", "Badr", "30.06", "31.24", "--update", str(start))
    await amal.cli.ok("send-location", "Badr", "--stop", str(start))
    rc, _, err = await amal.cli("send-location", "Badr", "91", "0")
    assert rc == 1 and "latitude" in err
    rc, out, _ = await badr.cli("listen", "--count", "3", "--timeout", "10")
    assert "📍 Live location 30.05, 31.23 until" in out
    assert f"📍 Live location #{start} now at 30.06, 31.24" in out
    assert f"📍 Live location #{start} stopped" in out


async def test_uploads_and_downloads_resume(server: Any, trio: dict[str, Person], tmp_path: Path) -> None:
    amal, badr = trio["Amal"], trio["Badr"]
    path = tmp_path / "big.pdf"
    data = mk.pdf() * 200  # about 400 KB
    path.write_bytes(data)

    class Interrupted(Exception):
        pass

    seen: list[int] = []

    def cut_after_two_chunks(done: int, total: int) -> None:
        seen.append(done)
        if done >= 2 * 65536:
            raise Interrupted  # Ctrl-C in the middle of the upload

    async with fast_client(amal.profile) as client:
        with pytest.raises(Interrupted):
            await media.upload(client, path, "document", progress=cut_after_two_chunks, chunk_size=65536)
        assert seen[-1] == 2 * 65536
        resumed: list[int] = []
        done = await media.upload(client, path, "document", progress=lambda d, t: resumed.append(d), chunk_size=65536)
        assert resumed[0] == 2 * 65536 and resumed[-1] == len(data)  # it went on from where it stopped
        assert done["sha256"] == mk.sha(data)
        msg_id = await client.send(media.media_content("document", done), to=badr.id, media=[done["media_id"]])
        client.start()
        assert await client.wait_sent(msg_id, timeout=5)

    async with fast_client(badr.profile) as client:
        dest = tmp_path / "copy.pdf"
        part = tmp_path / "copy.pdf.part"
        part.write_bytes(data[:100_000])  # what an interrupted download left
        progress: list[int] = []
        await client.download_media(done["media_id"], dest, progress=lambda d, t: progress.append(d))
        assert progress[0] == 100_000 and dest.read_bytes() == data and not part.exists()
        # A damaged partial file is caught by the checksum, and not kept under the final name.
        part.write_bytes(b"garbage" + data[7:50_000])
        other = tmp_path / "copy2.pdf"
        (tmp_path / "copy2.pdf.part").write_bytes(b"garbage" + data[7:50_000])
        with pytest.raises(media.MediaError):
            await client.download_media(done["media_id"], other)
        assert not other.exists() and not (tmp_path / "copy2.pdf.part").exists()
        # Downloading again starts afresh and succeeds.
        await client.download_media(done["media_id"], other)
        assert other.read_bytes() == data
        # A signed URL works without the token.
        url = await client.media_url(done["media_id"], expires_in=60)
        import httpx

        async with httpx.AsyncClient() as anon:
            assert (await anon.get(url)).content == data


async def test_sdk_sends_every_kind(server: Any, trio: dict[str, Person], tmp_path: Path) -> None:
    amal, badr = trio["Amal"], trio["Badr"]
    wav = tmp_path / "note.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", (i % 100 - 50) * (i // 800) * 30) for i in range(16000)))
    clip = tmp_path / "clip.mp4"
    # A minimal MP4 whose movie header says 90,000 units at 1,000 a second.
    payload = b"\x00" * 4 + b"\x00" * 8 + struct.pack(">II", 1000, 90_000) + b"\x00" * 80
    mvhd = struct.pack(">I", 8 + len(payload)) + b"mvhd" + payload
    clip.write_bytes(mk.mp4()[:24] + struct.pack(">I", 8 + len(mvhd)) + b"moov" + mvhd)
    photo = tmp_path / "p.png"
    photo.write_bytes(mk.png())
    async with fast_client(badr.profile) as receiver:
        stream = receiver.events()
        receiver.start()
        async with fast_client(amal.profile) as client:
            client.start()
            ids = []
            _, voice = await client.send_file(wav, to=badr.id, voice=True)
            assert voice["type"] == "voice" and voice["duration"] == 2.0 and len(voice["waveform"]) == 64
            ids.append(_)
            msg, video = await client.send_file(clip, to=badr.id)
            assert video["type"] == "video" and video["duration"] == 90.0
            ids.append(msg)
            msg, picture = await client.send_file(photo, to=badr.id, caption="sky")
            assert picture["type"] == "image" and picture["caption"] == "sky" and picture["width"] == 200
            ids.append(msg)
            ids.append(await client.send_location(30.0, 31.0, to=badr.id, name="Home", address="12 Nile St"))
            ids.append(await client.share_live_location(30.0, 31.0, 10, to=badr.id))
            ids.append(await client.send_contact("Dina", ["+201501234567"], to=badr.id))
            for msg_id in ids:
                assert await client.wait_sent(msg_id, timeout=5)
        kinds = []
        for _ in ids:
            event = await next_event(stream, lambda e: isinstance(e, Delivered))
            assert isinstance(event, Delivered)
            kinds.append(event.message.content["type"])
        assert kinds == ["voice", "video", "image", "location", "live_location", "contact"]
        img = Image.open(io.BytesIO(await _thumb(receiver, picture["media_id"])))
        assert img.format == "JPEG"


async def _thumb(client: Any, media_id: str) -> bytes:
    url = await client.media_url(media_id, thumbnail=True)
    import httpx

    async with httpx.AsyncClient() as anon:
        return (await anon.get(url)).content


def test_progress_bar_draws_in_place() -> None:
    out = io.StringIO()
    bar = ProgressBar("uploading x", stream=out, width=10)
    for done in (0, 10, 10, 55, 100):
        bar(done, 100)
    text = out.getvalue()
    assert text.count("\r") == 4 and text.endswith("100%  100 B/100 B\n")
    assert "[#####.....]  55%" in text


def test_payload_descriptions() -> None:
    def d(c: dict[str, Any]) -> str | None:
        return media.describe_media(c, str)

    assert d({"type": "document", "file_name": "a.pdf", "size": 2_500_000, "pages": 4}) == "📄 a.pdf (2.5 MB, 4 pages)"
    assert d({"type": "audio", "file_name": "song.mp3", "duration": 184}) == "🎵 Audio song.mp3 3:04"
    assert d({"type": "text"}) is None
    assert media.vcard("Ann; Co", ["+1"]).startswith("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann\\; Co\r\n")
