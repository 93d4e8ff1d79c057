"""Media across nodes: the chunks of one upload reach different servers that share the database and the media
store, and a download URL signed by one server is accepted by every other that has the same key.

Two real servers on real sockets: on one PostgreSQL database and one S3 bucket (moto_server) with data
directories of their own, or on one shared data directory (the local file store, and SQLite or PostgreSQL as
the session runs)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hudhud.media import signing
from tests import mediakit as mk
from tests.groupkit import Person, people
from tests.support import ServerHandle, running_server
from tests.test_media_api import send_media
from tests.test_media_s3 import s3, s3_settings, s3_store  # noqa: F401 - s3 is a fixture

SECRET = "the same secret on every node"


def on(server: ServerHandle, p: Person) -> Person:
    """The same person, talking to another node."""
    return Person(server, p.name, p.id, p.token)


async def patch(p: Person, media_id: str, data: bytes, offset: int) -> Any:
    return await p.call("PATCH", f"/v1/media/{media_id}/upload", content=data, headers={"Upload-Offset": str(offset)})


async def offset_on(p: Person, media_id: str) -> int:
    r = await p.call("HEAD", f"/v1/media/{media_id}/upload")
    assert r.status_code == 200
    return int(r.headers["upload-offset"])


@contextlib.asynccontextmanager
async def nodes(tmp: Path, n: int, *, shared_dir: bool, **settings: Any) -> AsyncIterator[list[ServerHandle]]:
    """`n` servers on one database: on one data directory, or each on one of its own."""
    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(running_server(tmp if shared_dir else tmp / f"node{i}", **settings))
            for i in range(n)
        ]


async def upload_across(a: ServerHandle, b: ServerHandle, amal: Person, data: bytes) -> dict[str, Any]:
    """Create on A, first chunk to A, second to B, finalize on B; checks every offset on both nodes."""
    amal_a, amal_b = on(a, amal), on(b, amal)
    r = await amal_a.call("POST", "/v1/media", json={"kind": "image", "size": len(data), "sha256": mk.sha(data)})
    assert r.status_code == 201, r.text
    media_id = r.json()["media_id"]
    half = len(data) // 2
    r = await patch(amal_a, media_id, data[:half], 0)
    assert r.status_code == 200 and r.json()["offset"] == half
    assert await offset_on(amal_b, media_id) == half  # B knows where the upload stands
    # B refuses a chunk at the wrong offset, and says where the upload stands.
    r = await patch(amal_b, media_id, data[:10], 0)
    assert r.status_code == 409 and r.json()["error"]["offset"] == half
    r = await patch(amal_b, media_id, data[half:], half)
    assert r.status_code == 200 and r.json()["offset"] == len(data)
    assert await offset_on(amal_a, media_id) == len(data)
    r = await amal_b.call("POST", f"/v1/media/{media_id}/finalize")
    assert r.status_code == 200, r.text
    final: dict[str, Any] = r.json()
    assert final["status"] == "ready"
    return final


async def download_with_url_of(signer: ServerHandle, reader: ServerHandle, badr: Person, media_id: str) -> Any:
    """Badr asks `signer` for a signed URL and fetches it from `reader` without a token."""
    r = await on(signer, badr).call("POST", f"/v1/media/{media_id}/url", json={"expires_in": 300})
    assert r.status_code == 200, r.text
    async with reader.http() as anon:
        return await anon.get(r.json()["url"])


@pytest.mark.postgres
async def test_an_upload_split_across_two_nodes_on_s3(s3: dict[str, str], postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    """Chunk 1 to node A, chunk 2 to node B, finalize on B, send on B; Badr on A downloads with a URL B signed.
    A third node with another key refuses that URL."""
    await (bucket := s3_store(s3, "nodes")).create_bucket()
    settings = {**s3_settings(s3, "s3://nodes/media"), "database_url": postgres_url, "media_sweep_interval": 0}
    async with nodes(tmp_path, 2, shared_dir=False, media_url_secret=SECRET, **settings) as (a, b):
        assert a.hub.settings.data_dir != b.hub.settings.data_dir
        amal, badr = await people(a, "amal", "badr")
        data = mk.jpeg(900, 700, gps=True)
        final = await upload_across(a, b, amal, data)
        media_id = final["media_id"]
        # The staged chunks are gone from the bucket once the upload is stored; the blob is there.
        assert not [k async for k in list_keys(s3, "nodes", "media/upload/")]
        assert [k async for k in list_keys(s3, "nodes", f"media/blob/{final['sha256'][:2]}/")]
        sender = await on(b, amal).client()
        sent = await send_media(sender, [media_id], to=badr.id)
        # Badr, connecting to A, gets the message (stored in the shared database) and downloads the picture.
        receiver = await on(a, badr).client()
        deliver = await receiver.expect("deliver", seq=sent["seq"])
        assert deliver["content"]["media"] == [media_id]
        r = await download_with_url_of(b, a, badr, media_id)
        assert r.status_code == 200 and mk.sha(r.content) == final["sha256"]
        assert b"HudhudCam" not in r.content  # stripped, although its chunks were checked on two nodes
        r = await download_with_url_of(a, b, badr, media_id)
        assert r.status_code == 200 and mk.sha(r.content) == final["sha256"]
        async with running_server(tmp_path / "stranger", media_url_secret="another secret", **settings) as c:
            r = await download_with_url_of(b, c, badr, media_id)
            assert r.status_code == 403 and r.json()["error"]["code"] == "url_invalid"
    await bucket.close()


@pytest.mark.postgres
async def test_two_nodes_racing_for_one_offset(s3: dict[str, str], postgres_url: str, tmp_path: Path) -> None:  # noqa: F811
    """The same chunk sent to A and B at once (a client retrying on another node): one is staged, the other
    refused with where the upload stands, and the upload completes with the right bytes."""
    await (bucket := s3_store(s3, "race")).create_bucket()
    settings = {**s3_settings(s3, "s3://race/m"), "database_url": postgres_url, "media_sweep_interval": 0}
    async with nodes(tmp_path, 2, shared_dir=False, media_url_secret=SECRET, **settings) as (a, b):
        (amal,) = await people(a, "amal")
        data = mk.pdf(40) * 20
        async with on(a, amal).http() as c:
            media_id = (await mk.create(c, "document", data, "application/pdf")).json()["media_id"]
        half = len(data) // 2
        both_sent = asyncio.Event()
        started = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal started
            yield data[:1000]
            started += 1
            if started == 2:
                both_sent.set()
            await both_sent.wait()  # both requests are under way before either ends
            yield data[1000:half]

        results = await asyncio.gather(
            on(a, amal).call("PATCH", f"/v1/media/{media_id}/upload", content=body(), headers={"Upload-Offset": "0"}),
            on(b, amal).call("PATCH", f"/v1/media/{media_id}/upload", content=body(), headers={"Upload-Offset": "0"}),
        )
        codes = sorted(r.status_code for r in results)
        assert codes == [200, 409], [r.text for r in results]
        assert all(r.json().get("offset", r.json().get("error", {}).get("offset")) == half for r in results)
        assert await offset_on(on(b, amal), media_id) == half
        r = await patch(on(b, amal), media_id, data[half:], half)
        assert r.status_code == 200
        r = await on(a, amal).call("POST", f"/v1/media/{media_id}/finalize")
        assert r.status_code == 200 and r.json()["sha256"] == mk.sha(data)
        assert (await on(b, amal).call("GET", f"/v1/media/{media_id}")).content == data
        # The loser's object did not stay behind in the bucket.
        assert not [k async for k in list_keys(s3, "race", "m/upload/")]
    await bucket.close()


async def test_processes_sharing_a_data_directory(tmp_path: Path) -> None:
    """Two servers on one data directory (the local file store, the session's database): chunks alternate
    between them, and each accepts the other's signed URLs (the key file in the shared directory)."""
    async with nodes(tmp_path, 2, shared_dir=True, media_sweep_interval=0) as (a, b):
        assert a.hub.settings.data_dir == b.hub.settings.data_dir
        amal, badr = await people(a, "amal", "badr")
        data = mk.png(300, 200, text="a comment to strip")
        final = await upload_across(a, b, amal, data)
        sender = await on(a, amal).client()
        await send_media(sender, [final["media_id"]], to=badr.id)
        r = await download_with_url_of(a, b, badr, final["media_id"])
        assert r.status_code == 200 and mk.sha(r.content) == final["sha256"]
        r = await download_with_url_of(b, a, badr, final["media_id"])
        assert r.status_code == 200 and b"a comment to strip" not in r.content
        root = a.hub.settings.data_dir / "media"
        assert not list((root / "store" / "upload").iterdir())  # the staged chunks went at finalize
        assert not list((root / "uploads").iterdir())  # and no scratch file stayed


def test_processes_starting_together_make_one_url_key(tmp_path: Path) -> None:
    """Processes that start at once on a new data directory agree on one key (each would otherwise sign with
    a key the others refuse); none of them sees a missing or half-written file."""
    start = threading.Barrier(12)
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def load() -> None:
        start.wait()
        try:
            keys.append(signing.load_secret("", tmp_path / "var"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(keys) == 12 and len(set(keys)) == 1 and len(keys[0]) >= 32
    assert (tmp_path / "var" / "media-url.key").read_bytes() == keys[0]
    assert [p.name for p in (tmp_path / "var").iterdir()] == ["media-url.key"]  # no temporary file left


async def list_keys(moto: dict[str, str], bucket: str, prefix: str) -> AsyncIterator[str]:
    """The keys in the bucket under `prefix` (boto3, which comes with moto; only tests list buckets)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=moto["access_key"],
        aws_secret_access_key=moto["secret_key"],
    )
    listing = await asyncio.to_thread(client.list_objects_v2, Bucket=bucket, Prefix=prefix)
    for item in listing.get("Contents", []):
        yield item["Key"]
