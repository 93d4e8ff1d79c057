"""Media over the real server: uploads (resumable, checked), downloads (Range, signed URLs), image processing,
access control, dedupe, quotas and retention. Raw HTTP and raw frames, as docs/protocol.md describes them."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from typing import Any

import httpx
import pytest
from PIL import Image

from hudhud.clock import ManualClock
from tests import mediakit as mk
from tests.groupkit import Person, create_group, people
from tests.support import RawClient, ServerHandle

KINDS = [
    ("image", mk.jpeg, "image/jpeg"),
    ("image", mk.png, "image/png"),
    ("image", mk.webp, "image/webp"),
    ("video", mk.mp4, "video/mp4"),
    ("voice", mk.ogg_opus, "audio/ogg"),
    ("voice", mk.webm_opus, "audio/webm"),
    ("audio", mk.mp3, "audio/mpeg"),
    ("document", mk.pdf, "application/pdf"),
]


async def send_media(client: RawClient, media_ids: list[str], **target: str) -> dict[str, Any]:
    frame = {
        "type": "send",
        "id": uuid.uuid4().hex,
        "content": {"type": "media", "media": media_ids},
        "media": media_ids,
    }
    await client.send({**frame, **target})
    return await client.expect("sent", id=frame["id"])


async def send_and_error(client: RawClient, media_ids: list[str], **target: str) -> dict[str, Any]:
    ref = uuid.uuid4().hex
    await client.send({"type": "send", "id": ref, "ref": ref, "content": {}, "media": media_ids, **target})
    return await client.expect("error", ref=ref)


async def get(p: Person, media_id: str, **kwargs: Any) -> httpx.Response:
    return await p.call("GET", f"/v1/media/{media_id}", **kwargs)


# -- round trips --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "make", "ctype"), KINDS, ids=[f"{k}-{c}" for k, _, c in KINDS])
async def test_round_trip_of_every_kind(server: ServerHandle, kind: str, make: Any, ctype: str) -> None:
    amal, badr = await people(server, "amal", "badr")
    data = make()
    async with amal.http() as c:
        m = await mk.upload(c, kind, data, ctype, file_name=f"file.{kind}", chunk=10_000)
    assert m["status"] == "ready" and m["kind"] == kind and m["content_type"] == ctype
    if kind != "image":
        assert m["sha256"] == mk.sha(data) and m["size"] == len(data)  # stored as they are
    sender = await amal.client()
    sent = await send_media(sender, [m["media_id"]], to=badr.id)
    receiver = await badr.client()
    deliver = await receiver.expect("deliver", seq=sent["seq"])
    assert deliver["content"]["media"] == [m["media_id"]]
    r = await get(badr, m["media_id"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == ctype
    assert mk.sha(r.content) == m["sha256"] and len(r.content) == m["size"]
    assert r.headers["etag"] == f'"{m["sha256"]}"'
    assert base64.b64decode(r.headers["repr-digest"].split(":")[1]).hex() == m["sha256"]
    info = (await badr.call("GET", f"/v1/media/{m['media_id']}/info")).json()
    assert info["sha256"] == m["sha256"] and info["file_name"] == f"file.{kind}"


async def test_encrypted_media_is_stored_as_opaque_bytes(server: ServerHandle) -> None:
    (amal,) = await people(server, "amal")
    data = b"\x8f" + bytes(range(256)) * 40  # what a client-side cipher gives: no magic bytes at all
    async with amal.http() as c:
        m = await mk.upload(c, "image", data, "image/jpeg", encrypted=True)
    assert m["encrypted"] and m["content_type"] == "application/octet-stream" and not m["thumbnail"]
    assert m["sha256"] == mk.sha(data)
    r = await get(amal, m["media_id"])
    assert r.content == data and "attachment" in r.headers["content-disposition"]


# -- bad input ----------------------------------------------------------------------------------------------


async def test_size_limits_per_kind(server_factory: Any) -> None:
    async with server_factory(media_max_image_bytes=50_000, media_max_document_bytes=200_000) as server:
        (amal,) = await people(server, "amal")
        async with amal.http() as c:
            r = await c.post("/v1/media", json={"kind": "image", "size": 50_001, "sha256": "0" * 64})
            assert r.status_code == 413 and r.json()["error"]["code"] == "media_too_large"
            r = await c.post("/v1/media", json={"kind": "document", "size": 150_000, "sha256": "0" * 64})
            assert r.status_code == 201 and r.json()["max_size"] == 200_000
            # More bytes than declared: refused, and the upload stays where it was.
            data = mk.pdf()
            r = await mk.create(c, "document", data)
            media_id = r.json()["media_id"]
            r = await c.patch(f"/v1/media/{media_id}/upload", content=data + b"extra", headers={"Upload-Offset": "0"})
            assert r.status_code == 413 and r.json()["error"]["code"] == "media_too_large"
            assert (await c.get(f"/v1/media/{media_id}/upload")).json()["offset"] == 0

            async def body() -> Any:  # no Content-Length: the server counts as the bytes come
                yield data
                yield b"extra"

            r = await c.patch(f"/v1/media/{media_id}/upload", content=body(), headers={"Upload-Offset": "0"})
            assert r.status_code == 413
            assert (await c.get(f"/v1/media/{media_id}/upload")).json()["offset"] == 0
            # A picture too large to decode is refused as too large, not decoded.
        async with server_factory(media_max_image_pixels=10_000) as server2:
            (badr,) = await people(server2, "badr")
            async with badr.http() as c:
                r = await mk.upload_raw(c, "image", mk.jpeg(200, 100))
                assert r.status_code == 413 and r.json()["error"]["code"] == "media_too_large"


async def test_content_is_sniffed_from_the_bytes(server: ServerHandle) -> None:
    (amal,) = await people(server, "amal")
    async with amal.http() as c:
        cases = [
            ("image", mk.pdf(), "image/jpeg"),  # a PDF posing as a picture
            ("image", mk.png(), "image/jpeg"),  # a PNG declared as JPEG
            ("voice", mk.jpeg(), "audio/ogg"),
            ("video", mk.mp3(), ""),
            ("document", mk.png(), "application/pdf"),  # documents may be anything, but not lie about a known type
            ("image", b"MZ\x90\x00" + b"\x00" * 500, ""),  # an executable
        ]
        for kind, data, ctype in cases:
            r = await mk.upload_raw(c, kind, data, ctype)
            assert r.status_code == 415, (kind, ctype, r.text)
            assert r.json()["error"]["code"] == "media_type_mismatch"
            media_id = r.request.url.path.split("/")[3]
            # Nothing half-done is left: the upload is gone.
            assert (await c.get(f"/v1/media/{media_id}/upload")).json()["error"]["code"] == "media_not_found"
        # A document of a type the server does not know is fine, and served as an attachment.
        m = await mk.upload(c, "document", b"plain notes\n" * 50, "text/plain", file_name="notes.txt")
        assert m["content_type"] == "application/octet-stream"
        r = await c.get(f"/v1/media/{m['media_id']}")
        assert r.headers["content-disposition"] == "attachment; filename*=UTF-8''notes.txt"
        # An Office file is a ZIP underneath.
        m = await mk.upload(c, "document", b"PK\x03\x04" + b"\x00" * 300, "application/vnd.oasis.opendocument.text")
        assert m["status"] == "ready"


async def test_checksum_mismatch_and_corrupt_images(server: ServerHandle) -> None:
    (amal,) = await people(server, "amal")
    data = mk.pdf()
    async with amal.http() as c:
        r = await c.post("/v1/media", json={"kind": "document", "size": len(data), "sha256": mk.sha(b"other")})
        media_id = r.json()["media_id"]
        await c.patch(f"/v1/media/{media_id}/upload", content=data, headers={"Upload-Offset": "0"})
        r = await c.post(f"/v1/media/{media_id}/finalize")
        assert r.status_code == 400 and r.json()["error"]["code"] == "checksum_mismatch"
        assert (await c.get(f"/v1/media/{media_id}")).status_code == 404
        # A JPEG cut short: the magic bytes are right, the picture is not.
        r = await mk.upload_raw(c, "image", mk.jpeg()[:3000], "image/jpeg")
        assert r.status_code == 400 and r.json()["error"]["code"] == "media_corrupt"
        # Finalizing before every byte arrived.
        r = await mk.create(c, "document", data)
        media_id = r.json()["media_id"]
        await c.patch(f"/v1/media/{media_id}/upload", content=data[:100], headers={"Upload-Offset": "0"})
        r = await c.post(f"/v1/media/{media_id}/finalize")
        assert r.status_code == 409 and r.json()["error"]["code"] == "upload_incomplete"
        # Bad declarations.
        for body in (
            {"kind": "sticker", "size": 10, "sha256": "0" * 64},
            {"kind": "image", "size": 0, "sha256": "0" * 64},
            {"kind": "image", "size": 10, "sha256": "Z" * 64},
        ):
            r = await c.post("/v1/media", json=body)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request", body


async def test_resume_after_a_cut_connection_and_wrong_offsets(server: ServerHandle) -> None:
    (amal,) = await people(server, "amal")
    data = mk.jpeg(1200, 900)
    async with amal.http() as c:
        media_id = (await mk.create(c, "image", data, "image/jpeg")).json()["media_id"]

        class Cut(Exception):
            pass

        async def cut_body() -> Any:
            yield data[:40_000]
            yield data[40_000:70_000]
            raise Cut  # the connection drops in the middle of the body

        with pytest.raises(Exception):  # noqa: B017 - whatever httpx makes of it
            await c.patch(f"/v1/media/{media_id}/upload", content=cut_body(), headers={"Upload-Offset": "0"})
    async with amal.http() as c:
        # The server kept what arrived; HEAD and GET both say where to resume.
        for _ in range(100):  # the server may take a moment to notice the cut
            r = await c.head(f"/v1/media/{media_id}/upload")
            if int(r.headers["upload-offset"]) == 70_000:
                break
            await asyncio.sleep(0.05)
        offset = int(r.headers["upload-offset"])
        assert 0 < offset <= 70_000 and r.headers["upload-length"] == str(len(data))
        assert (await c.get(f"/v1/media/{media_id}/upload")).json()["offset"] == offset
        # Nothing unfinished is served, not even to its uploader.
        assert (await c.get(f"/v1/media/{media_id}")).json()["error"]["code"] == "media_not_found"
        assert (await c.get(f"/v1/media/{media_id}/info")).status_code == 404
        # A chunk at the wrong offset is refused with where the upload stands.
        r = await c.patch(f"/v1/media/{media_id}/upload", content=data[5:10], headers={"Upload-Offset": "5"})
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "upload_offset_mismatch" and r.json()["error"]["offset"] == offset
        assert r.headers["upload-offset"] == str(offset)
        r = await c.patch(f"/v1/media/{media_id}/upload", content=data[offset:], headers={"Upload-Offset": str(offset)})
        assert r.status_code == 200 and r.json()["offset"] == len(data)
        r = await c.post(f"/v1/media/{media_id}/finalize")
        assert r.status_code == 200, r.text
        r = await c.get(f"/v1/media/{media_id}")
        assert Image.open(io.BytesIO(r.content)).size == (1200, 900)
        # Nothing more can be appended to a finished upload.
        r = await c.patch(f"/v1/media/{media_id}/upload", content=b"x", headers={"Upload-Offset": str(len(data))})
        assert r.status_code == 409 and r.json()["error"]["code"] == "upload_offset_mismatch"
        r = await c.patch(f"/v1/media/{media_id}/upload", content=b"x")
        assert r.status_code == 400


async def test_range_requests(server: ServerHandle) -> None:
    (amal,) = await people(server, "amal")
    data = mk.pdf() * 20
    async with amal.http() as c:
        m = await mk.upload(c, "document", data, "application/pdf")
        url = f"/v1/media/{m['media_id']}"
        size = len(data)
        for header, (start, end) in (
            ("bytes=0-99", (0, 99)),
            ("bytes=100-", (100, size - 1)),
            ("bytes=-50", (size - 50, size - 1)),
            (f"bytes=10-{size + 500}", (10, size - 1)),
        ):
            r = await c.get(url, headers={"Range": header})
            assert r.status_code == 206, header
            assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
            assert r.content == data[start : end + 1]
            assert r.headers["content-length"] == str(end - start + 1)
        for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
            r = await c.get(url, headers={"Range": header})
            assert r.status_code == 416, header
            assert r.headers["content-range"] == f"bytes */{size}"
            assert r.json()["error"]["code"] == "range_not_satisfiable"
        # What this server does not serve as a part (several ranges, nonsense) gets the whole file.
        for header in ("bytes=0-1,5-6", "bytes=9-3", "items=0-1"):
            r = await c.get(url, headers={"Range": header})
            assert r.status_code == 200 and r.content == data, header
        r = await c.head(url, headers={"Range": "bytes=0-9"})
        assert r.status_code == 206 and r.headers["content-length"] == "10" and r.content == b""
        r = await c.head(url)
        assert r.status_code == 200 and r.headers["content-length"] == str(size)


# -- images -------------------------------------------------------------------------------------------------


async def test_thumbnail_and_blur_preview(server: ServerHandle) -> None:
    (amal,) = await people(server, "amal")
    async with amal.http() as c:
        m = await mk.upload(c, "image", mk.jpeg(1600, 1200), "image/jpeg")
        assert (m["width"], m["height"]) == (1600, 1200) and m["thumbnail"]
        preview = Image.open(io.BytesIO(base64.b64decode(m["preview"])))
        assert preview.format == "JPEG" and max(preview.size) <= 24 and len(base64.b64decode(m["preview"])) < 1500
        r = await c.get(f"/v1/media/{m['media_id']}/thumbnail")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        thumb = Image.open(io.BytesIO(r.content))
        assert thumb.size == (320, 240)
        # Transparent PNGs get a thumbnail too (on white); documents and voice notes have none.
        m = await mk.upload(c, "image", mk.png(alpha=True), "image/png")
        assert m["thumbnail"] and m["preview"]
        d = await mk.upload(c, "document", mk.pdf(), "application/pdf")
        assert not d["thumbnail"] and d["preview"] is None
        r = await c.get(f"/v1/media/{d['media_id']}/thumbnail")
        assert r.status_code == 404 and r.json()["error"]["code"] == "media_not_found"


async def test_exif_and_gps_are_stripped(server: ServerHandle) -> None:
    (amal,) = await people(server, "amal")
    original = mk.jpeg(gps=True)
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(0x8825), "the test picture has GPS"
    async with amal.http() as c:
        m = await mk.upload(c, "image", original, "image/jpeg")
        stored = (await c.get(f"/v1/media/{m['media_id']}")).content
        assert m["sha256"] == mk.sha(stored) != mk.sha(original) and m["size"] == len(stored)
        im = Image.open(io.BytesIO(stored))
        assert not im.getexif() and b"HudhudCam" not in stored and b"Exif" not in stored
        # The pixels were not re-encoded: dropping the metadata is lossless.
        assert im.tobytes() == Image.open(io.BytesIO(original)).tobytes()

        # A picture taken sideways is turned upright before its orientation tag goes.
        m = await mk.upload(c, "image", mk.jpeg(300, 200, orientation=6, gps=True), "image/jpeg")
        assert (m["width"], m["height"]) == (200, 300)
        stored = (await c.get(f"/v1/media/{m['media_id']}")).content
        assert Image.open(io.BytesIO(stored)).size == (200, 300) and b"HudhudCam" not in stored

        # PNG text chunks and WebP EXIF go as well.
        m = await mk.upload(c, "image", mk.png(text="taken at home, 30.04N 31.23E"), "image/png")
        stored = (await c.get(f"/v1/media/{m['media_id']}")).content
        assert b"taken at home" not in stored and Image.open(io.BytesIO(stored)).size == (200, 100)
        data = mk.webp(gps=True)
        assert b"EXIF" in data
        m = await mk.upload(c, "image", data, "image/webp")
        stored = (await c.get(f"/v1/media/{m['media_id']}")).content
        assert b"EXIF" not in stored and not Image.open(io.BytesIO(stored)).getexif()


async def test_exif_is_kept_when_the_operator_says_so(server_factory: Any) -> None:
    async with server_factory(media_strip_exif=False) as server:
        (amal,) = await people(server, "amal")
        original = mk.jpeg(gps=True)
        async with amal.http() as c:
            m = await mk.upload(c, "image", original, "image/jpeg")
        assert m["sha256"] == mk.sha(original)


# -- access control -----------------------------------------------------------------------------------------


async def test_only_the_conversation_can_fetch_media(server: ServerHandle) -> None:
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    async with amal.http() as c:
        m = await mk.upload(c, "image", mk.jpeg(), "image/jpeg")
    media_id = m["media_id"]
    # Before it is sent, only the uploader can read it.
    assert (await get(amal, media_id)).status_code == 200
    r = await get(badr, media_id)
    assert r.status_code == 404 and r.json()["error"]["code"] == "media_not_found"
    a = await amal.client()
    await send_media(a, [media_id], to=badr.id)
    assert (await get(badr, media_id)).status_code == 200
    for path in ("", "/info", "/thumbnail"):
        r = await chadi.call("GET", f"/v1/media/{media_id}{path}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "media_not_found", path
    r = await chadi.call("POST", f"/v1/media/{media_id}/url", json={})
    assert r.status_code == 404
    # Unknown ids, no token, someone else's upload.
    assert (await get(badr, "m" + "0" * 26)).json()["error"]["code"] == "media_not_found"
    async with server.http() as anon:
        assert (await anon.get(f"/v1/media/{media_id}")).json()["error"]["code"] == "unauthorized"
    r = await badr.call("PATCH", f"/v1/media/{media_id}/upload", content=b"x", headers={"Upload-Offset": "0"})
    assert r.status_code == 404
    assert (await badr.call("DELETE", f"/v1/media/{media_id}")).status_code == 404
    # A message cannot refer to media the sender cannot read, nor to unfinished uploads; nothing is stored.
    c = await chadi.client()
    err = await send_and_error(c, [media_id], to=badr.id)
    assert err["code"] == "media_not_found"
    async with chadi.http() as h:
        pending = (await mk.create(h, "image", mk.jpeg(), "image/jpeg")).json()["media_id"]
    assert (await send_and_error(c, [pending], to=badr.id))["code"] == "media_not_found"
    assert (await send_and_error(c, ["nope"], to=badr.id))["code"] == "media_not_found"
    async with chadi.http() as h:
        assert (await h.get("/v1/conversations")).json()["conversations"] == []
    # Badr may pass on what he can read (as a new message, not a forward) and then Chadi can read it too.
    b = await badr.client()
    await send_media(b, [media_id], to=chadi.id)
    assert (await get(chadi, media_id)).status_code == 200
    # Bad media lists are bad frames.
    await b.send({"type": "send", "id": "z", "ref": "z", "to": chadi.id, "content": {}, "media": "m1"})
    assert (await b.expect("error", ref="z"))["code"] == "bad_frame"
    await b.send({"type": "send", "id": "z", "ref": "y", "to": chadi.id, "content": {}, "media": ["m"] * 11})
    assert (await b.expect("error", ref="y"))["code"] == "bad_frame"


async def test_group_membership_windows_decide(server: ServerHandle) -> None:
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    await badr.knows(amal)
    await chadi.knows(amal)
    conv = (await create_group(amal, "Family", badr))["conversation_id"]
    a = await amal.client()
    async with amal.http() as c:
        before = (await mk.upload(c, "image", mk.jpeg(100, 100), "image/jpeg"))["media_id"]
        after = (await mk.upload(c, "image", mk.jpeg(120, 100), "image/jpeg"))["media_id"]
        joined_late = (await mk.upload(c, "document", mk.pdf(3), "application/pdf"))["media_id"]
    await send_media(a, [before], conversation_id=conv)
    # Chadi is not a member yet: nothing.
    assert (await get(chadi, before)).status_code == 404
    assert (await badr.call("POST", f"/v1/groups/{conv}/leave", json={})).status_code == 204
    await send_media(a, [after], conversation_id=conv)
    r = await amal.call("POST", f"/v1/groups/{conv}/members", json={"user_ids": [chadi.id]})
    assert r.status_code == 200 and r.json()["added"] == [chadi.id]
    await send_media(a, [joined_late], conversation_id=conv)
    # Badr keeps what was sent while he was in, and gets nothing sent after he left.
    assert (await get(badr, before)).status_code == 200
    assert (await get(badr, after)).json()["error"]["code"] == "media_not_found"
    assert (await get(badr, joined_late)).status_code == 404
    # Chadi sees only what was sent after he joined.
    assert (await get(chadi, before)).status_code == 404
    assert (await get(chadi, after)).status_code == 404
    assert (await get(chadi, joined_late)).status_code == 200


async def test_forwarded_media_follows_the_copy_and_blocks_withhold_it(server: ServerHandle) -> None:
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    async with amal.http() as c:
        media_id = (await mk.upload(c, "voice", mk.ogg_opus(), "audio/ogg"))["media_id"]
    a = await amal.client()
    sent = await send_media(a, [media_id], to=badr.id)
    b = await badr.client()
    await b.send(
        {
            "type": "forward",
            "id": "fw1",
            "source": {"conversation_id": sent["conversation_id"], "seq": sent["seq"]},
            "targets": [{"to": chadi.id}],
        }
    )
    await b.expect("sent", id="fw1#0")
    assert (await get(chadi, media_id)).status_code == 200
    # Dina has blocked Amal: Amal's message to her is withheld, and so is its media.
    (dina,) = await people(server, "dina")
    assert (await dina.call("POST", "/v1/blocks", json={"user_id": amal.id})).status_code == 204
    async with amal.http() as c:
        secret = (await mk.upload(c, "image", mk.jpeg(64, 64), "image/jpeg"))["media_id"]
    await send_media(a, [secret], to=dina.id)
    assert (await get(dina, secret)).status_code == 404


async def test_signed_urls_expire(server_factory: Any) -> None:
    clock = ManualClock()
    async with server_factory(clock=clock) as server:
        amal, badr = await people(server, "amal", "badr")
        async with amal.http() as c:
            m = await mk.upload(c, "image", mk.jpeg(), "image/jpeg")
        media_id = m["media_id"]
        a = await amal.client()
        await send_media(a, [media_id], to=badr.id)
        r = await badr.call("POST", f"/v1/media/{media_id}/url", json={"expires_in": 300})
        assert r.status_code == 200
        url, expires_at = r.json()["url"], r.json()["expires_at"]
        assert expires_at == int(clock.now() + 300)
        t = await badr.call("POST", f"/v1/media/{media_id}/url", json={"thumbnail": True, "expires_in": 300})
        thumb_url = t.json()["url"]
        assert "/thumbnail?" in thumb_url
        async with server.http() as anon:  # no token: the URL is enough, as in an <img> tag
            r = await anon.get(url)
            assert r.status_code == 200 and mk.sha(r.content) == m["sha256"]
            assert (await anon.get(url, headers={"Range": "bytes=0-3"})).status_code == 206
            assert (await anon.get(thumb_url)).headers["content-type"] == "image/jpeg"
            # The file's signature does not open the thumbnail, nor another media, nor a changed expiry.
            query = url.split("?", 1)[1]
            r = await anon.get(f"/v1/media/{media_id}/thumbnail?{query}")
            assert r.status_code == 403 and r.json()["error"]["code"] == "url_invalid"
            r = await anon.get(url.replace(str(int(expires_at)), str(int(expires_at) + 1000)))
            assert r.json()["error"]["code"] == "url_invalid"
            r = await anon.get(url[:-3] + "AAA")
            assert r.json()["error"]["code"] == "url_invalid"
            clock.advance(301)
            r = await anon.get(url)
            assert r.status_code == 403 and r.json()["error"]["code"] == "url_expired"
            assert (await anon.get(thumb_url)).json()["error"]["code"] == "url_expired"
        # Lifetimes are capped by the server.
        r = await badr.call("POST", f"/v1/media/{media_id}/url", json={"expires_in": 10**9})
        assert r.json()["expires_at"] == int(clock.now() + server.hub.settings.media_url_max_ttl)


# -- storage ------------------------------------------------------------------------------------------------


def stored_objects(server: ServerHandle) -> list[str]:
    root = server.hub.settings.data_dir / "media" / "store"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_identical_uploads_are_stored_once(server: ServerHandle) -> None:
    amal, badr = await people(server, "amal", "badr")
    data = mk.jpeg(gps=True)
    async with amal.http() as c:
        first = await mk.upload(c, "image", data, "image/jpeg")
    async with badr.http() as c:
        second = await mk.upload(c, "image", data, "image/jpeg")
        third = await mk.upload(c, "document", mk.pdf(), "application/pdf")
    assert first["media_id"] != second["media_id"] and first["sha256"] == second["sha256"]
    objects = stored_objects(server)
    blobs = [o for o in objects if o.startswith("blob/")]
    thumbs = [o for o in objects if o.startswith("thumb/")]
    assert len(blobs) == 2 and len(thumbs) == 1, objects
    assert second["thumbnail"] and second["preview"] == first["preview"]
    # Each upload keeps its own id and owner: Badr's copy is his, not a way into Amal's.
    assert (await get(badr, second["media_id"])).status_code == 200
    assert (await get(badr, first["media_id"])).status_code == 404
    assert third["status"] == "ready"


async def test_quota_per_user(server_factory: Any) -> None:
    async with server_factory(media_quota_bytes=300_000) as server:
        (amal,) = await people(server, "amal")
        data = mk.pdf() * 60  # 120 KB or so
        async with amal.http() as c:
            await mk.upload(c, "document", data, "application/pdf")
            r = await mk.create(c, "document", data + b"1")
            assert r.status_code == 201
            r = await mk.create(c, "document", data + b"2")
            assert r.status_code == 403 and r.json()["error"]["code"] == "quota_exceeded"
            # Abandoning an upload gives its share back, and its staged chunk goes.
            abandoned = (await mk.create(c, "document", b"%PDF-x")).json()["media_id"]
            r = await c.patch(f"/v1/media/{abandoned}/upload", content=b"%PDF", headers={"Upload-Offset": "0"})
            assert r.status_code == 200 and r.json()["offset"] == 4
            assert [o for o in stored_objects(server) if o.startswith(f"upload/{abandoned}x")]
            assert (await c.delete(f"/v1/media/{abandoned}")).status_code == 204
            assert not [o for o in stored_objects(server) if o.startswith("upload/")]
            assert not list((server.hub.settings.data_dir / "media" / "uploads").iterdir())  # no scratch file left
            r = await c.get("/v1/media/none/upload")
            assert r.status_code == 404


async def test_retention_sweeps_unsent_media_and_stale_uploads(server_factory: Any) -> None:
    clock = ManualClock()
    async with server_factory(
        clock=clock, media_retention=3600, media_upload_retention=600, media_sweep_interval=0
    ) as server:
        amal, badr = await people(server, "amal", "badr")
        async with amal.http() as c:
            kept = await mk.upload(c, "image", mk.jpeg(100, 80), "image/jpeg")
            unsent = await mk.upload(c, "image", mk.jpeg(90, 80), "image/jpeg")
            shared = mk.pdf(7)
            twin = await mk.upload(c, "document", shared, "application/pdf")
            data = mk.pdf(9)
            stale = (await mk.create(c, "document", data)).json()["media_id"]
            await c.patch(f"/v1/media/{stale}/upload", content=data[:500], headers={"Upload-Offset": "0"})
        async with badr.http() as c:
            twin2 = await mk.upload(c, "document", shared, "application/pdf")
        a = await amal.client()
        await send_media(a, [kept["media_id"]], to=badr.id)
        b = await badr.client()
        await send_media(b, [twin2["media_id"]], to=amal.id)
        before = stored_objects(server)
        assert len([o for o in before if o.startswith("blob/")]) == 3
        # Staged chunks: only the stale upload's (those of finished uploads went when they were finalized).
        staged = [o for o in before if o.startswith("upload/")]
        assert len(staged) == 1 and staged[0].startswith(f"upload/{stale}x0x"), staged

        report = await server.hub.media.sweep()
        assert report.uploads_deleted == 0
        clock.advance(601)
        report = await server.hub.media.sweep()
        assert report.uploads_deleted == 1 and report.blobs_deleted == 0  # the stale upload
        assert not [o for o in stored_objects(server) if o.startswith("upload/")]  # its staged chunk went too
        async with amal.http() as c:
            assert (await c.get(f"/v1/media/{stale}/upload")).status_code == 404
        clock.advance(3600)
        report = await server.hub.media.sweep()
        # The unsent picture and Amal's unsent copy of the PDF go; the PDF's bytes stay for Badr's sent copy.
        assert report.uploads_deleted == 2 and report.blobs_deleted == 1
        after = stored_objects(server)
        assert f"blob/{unsent['sha256'][:2]}/{unsent['sha256']}" not in after
        assert f"thumb/{unsent['sha256'][:2]}/{unsent['sha256']}" not in after
        assert (await get(amal, unsent["media_id"])).status_code == 404
        assert (await get(amal, twin["media_id"])).status_code == 404
        assert (await get(badr, kept["media_id"])).status_code == 200
        assert (await get(amal, twin2["media_id"])).status_code == 200
        assert (await server.hub.media.sweep()).uploads_deleted == 0
        # A media sent in a message is never swept, and cannot be deleted by its uploader.
        assert (await amal.call("DELETE", f"/v1/media/{kept['media_id']}")).status_code == 400


@pytest.mark.postgres
async def test_media_on_postgres(server_factory: Any, postgres_url: str) -> None:
    """Upload, dedupe, send, access and retention with the whole server on PostgreSQL."""
    clock = ManualClock()
    async with server_factory(database_url=postgres_url, clock=clock, media_retention=60.0) as server:
        assert server.hub.db.dialect == "postgresql"
        amal, badr, chadi = await people(server, "amal", "badr", "chadi")
        async with amal.http() as c:
            m = await mk.upload(c, "image", mk.jpeg(gps=True), "image/jpeg")
            twin = await mk.upload(c, "image", mk.jpeg(gps=True), "image/jpeg")
        assert m["preview"] and m["sha256"] == twin["sha256"]
        a = await amal.client()
        await send_media(a, [m["media_id"]], to=badr.id)
        r = await get(badr, m["media_id"], headers={"Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content[:3] == b"\xff\xd8\xff"
        assert (await get(chadi, m["media_id"])).status_code == 404
        clock.advance(61)
        report = await server.hub.media.sweep()
        assert report.uploads_deleted == 1 and report.blobs_deleted == 0
        assert (await get(badr, m["media_id"])).status_code == 200
