"""The media store seam, one contract for both implementations: local files, and S3 against a real
S3-compatible HTTP server (moto's `moto_server`, installed with the dev extra `moto[server]`), with request
signatures checked (moto's IAM authentication is switched on, so a badly signed request is refused)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hudhud.clock import ManualClock
from hudhud.media.s3 import S3Error, S3MediaStore, sigv4_headers
from hudhud.media.store import LocalMediaStore, MediaStore, blob_key
from tests import mediakit as mk
from tests.conftest import IN_CI
from tests.groupkit import people
from tests.support import free_socket, running_server
from tests.test_media_api import send_media


def _moto_server() -> str | None:
    beside = Path(sys.executable).parent / "moto_server"
    return str(beside) if beside.exists() else shutil.which("moto_server")


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, str]]:
    """A fresh S3-compatible server on a free port, with one IAM user whose key signs our requests."""
    exe = _moto_server()
    if exe is None:
        if IN_CI:
            pytest.fail("moto_server is required under CI (pip install 'moto[server]', the dev extra)")
        pytest.skip("moto_server is not installed")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    # The first three requests (the IAM set-up below) go unauthenticated; every later one must be signed.
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3")
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint + "/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        import boto3  # comes with moto; only the test set-up uses it

        iam = boto3.client(
            "iam", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        iam.create_user(UserName="hudhud")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="hudhud", PolicyName="media", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="hudhud")["AccessKey"]
        yield {"endpoint": endpoint, "access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}
    finally:
        proc.terminate()
        proc.wait(10)


def s3_store(s3: dict[str, str], bucket: str, prefix: str = "") -> S3MediaStore:
    return S3MediaStore(s3["endpoint"], bucket, prefix=prefix, access_key=s3["access_key"], secret_key=s3["secret_key"])


def s3_settings(s3: dict[str, str], url: str) -> dict[str, Any]:
    """Server settings for a media store in the moto bucket `url` names (s3://bucket/prefix)."""
    return {
        "media_store_url": url,
        "media_s3_endpoint": s3["endpoint"],
        "media_s3_access_key": s3["access_key"],
        "media_s3_secret_key": s3["secret_key"],
    }


@pytest.fixture(params=["local", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MediaStore]:
    if request.param == "local":
        st: MediaStore = LocalMediaStore(tmp_path / "store")
    else:
        s3_st = s3_store(request.getfixturevalue("s3"), "contract", "some/prefix")
        await s3_st.create_bucket()
        st = s3_st
    yield st
    await st.close()


async def chunks(data: bytes, size: int = 7000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def read(store: MediaStore, key: str, start: int, length: int) -> bytes:
    return b"".join([c async for c in store.open_range(key, start, length)])


async def test_store_contract(store: MediaStore, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    key = blob_key(mk.sha(data))
    assert not await store.exists(key) and await store.size(key) is None
    await store.put(key, chunks(data), len(data), mk.sha(data))
    assert await store.exists(key) and await store.size(key) == len(data)
    assert await read(store, key, 0, len(data)) == data
    assert await read(store, key, 1000, 5) == data[1000:1005]
    assert await read(store, key, len(data) - 10, 10) == data[-10:]
    # Putting the same key again (the same content, by construction) is harmless.
    await store.put(key, chunks(data), len(data), mk.sha(data))
    assert await store.size(key) == len(data)
    # From a local file.
    other = os.urandom(1234)
    path = tmp_path / "upload.part"
    path.write_bytes(other)
    key2 = blob_key(mk.sha(other))
    await store.put_file(key2, path, len(other), mk.sha(other))
    assert await read(store, key2, 0, len(other)) == other
    await store.delete(key)
    await store.delete(key)  # deleting what is not there is fine
    assert not await store.exists(key)
    with pytest.raises(FileNotFoundError):
        await read(store, key, 0, 10)
    with pytest.raises(ValueError):
        await store.exists("../etc/passwd")


async def test_s3_requests_are_signed(s3: dict[str, str]) -> None:
    good = s3_store(s3, "signed")
    await good.create_bucket()
    await good.put("blob/aa/one", chunks(b"x" * 10), 10, mk.sha(b"x" * 10))
    bad = S3MediaStore(s3["endpoint"], "signed", access_key=s3["access_key"], secret_key="not the secret")
    with pytest.raises(S3Error, match="403"):
        await bad.size("blob/aa/one")
    await good.close()
    await bad.close()


def test_signature_v4_matches_the_aws_example() -> None:
    """The worked example of the S3 documentation ("GET Object", examplebucket, Range bytes=0-9)."""
    import datetime as dt

    headers = sigv4_headers(
        "GET",
        "https://examplebucket.s3.amazonaws.com/test.txt",
        region="us-east-1",
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        payload_sha256=hashlib.sha256(b"").hexdigest(),
        headers={"Range": "bytes=0-9"},
        now=dt.datetime(2013, 5, 24, tzinfo=dt.UTC),
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


async def test_the_server_on_s3(s3: dict[str, str], tmp_path: Path) -> None:
    """Upload, dedupe, download with Range and retention, with blobs in the object storage."""
    bucket = s3_store(s3, "hudhud-media")
    await bucket.create_bucket()
    clock = ManualClock()
    settings: dict[str, Any] = {
        "media_store_url": "s3://hudhud-media/node",
        "media_s3_endpoint": s3["endpoint"],
        "media_s3_access_key": s3["access_key"],
        "media_s3_secret_key": s3["secret_key"],
        "media_retention": 60.0,
        "media_sweep_interval": 0,
    }
    async with running_server(tmp_path, clock=clock, **settings) as server:
        amal, badr = await people(server, "amal", "badr")
        data = mk.jpeg(800, 600, gps=True)
        async with amal.http() as c:
            first = await mk.upload(c, "image", data, "image/jpeg")
            second = await mk.upload(c, "image", data, "image/jpeg")
        assert first["sha256"] == second["sha256"]
        stored = s3_store(s3, "hudhud-media", "node")
        key = blob_key(first["sha256"])
        assert await stored.exists(key) and await stored.exists(f"thumb/{key[5:]}")
        a = await amal.client()
        await send_media(a, [first["media_id"]], to=badr.id)
        async with badr.http() as c:
            r = await c.get(f"/v1/media/{first['media_id']}")
            assert r.status_code == 200 and mk.sha(r.content) == first["sha256"]
            r = await c.get(f"/v1/media/{first['media_id']}", headers={"Range": "bytes=100-199"})
            assert r.status_code == 206 and len(r.content) == 100
            r = await c.get(f"/v1/media/{first['media_id']}/thumbnail")
            assert r.status_code == 200 and r.content[:3] == b"\xff\xd8\xff"
        # The unsent twin goes after the retention period; the bytes stay, the sent copy needs them.
        clock.advance(61)
        report = await server.hub.media.sweep()
        assert report.uploads_deleted == 1 and report.blobs_deleted == 0
        assert await stored.exists(key)
        # An unsent picture of its own goes with its blob and thumbnail.
        async with amal.http() as c:
            lonely = await mk.upload(c, "image", mk.png(), "image/png")
        lonely_key = blob_key(lonely["sha256"])
        assert await stored.exists(lonely_key)
        clock.advance(61)
        report = await server.hub.media.sweep()
        assert report.blobs_deleted == 1
        assert not await stored.exists(lonely_key) and not await stored.exists(f"thumb/{lonely_key[5:]}")
        await stored.close()
    await bucket.close()


async def test_storage_outage_keeps_the_upload_for_a_later_finalize(s3: dict[str, str], tmp_path: Path) -> None:
    """Chunks are staged in the store: while it is down a chunk is refused (503, nothing staged) and a finalize
    fails without losing what was staged; once it is back, the same requests succeed."""
    from tests.test_client_sdk import closed_port

    await (back := s3_store(s3, "back")).create_bucket()
    await back.close()
    async with running_server(tmp_path, **s3_settings(s3, "s3://back/x")) as server:
        (amal,) = await people(server, "amal")
        data, other = mk.pdf(), mk.pdf(3)
        media = server.hub.media
        up = media.store
        down = S3MediaStore(f"http://127.0.0.1:{closed_port()}", "back", prefix="x", access_key="k", secret_key="s")
        async with amal.http() as c:
            media_id = (await mk.create(c, "document", data, "application/pdf")).json()["media_id"]
            r = await c.patch(f"/v1/media/{media_id}/upload", content=data, headers={"Upload-Offset": "0"})
            assert r.status_code == 200 and r.json()["offset"] == len(data)
            second = (await mk.create(c, "document", other, "application/pdf")).json()["media_id"]
            media.store = down
            r = await c.post(f"/v1/media/{media_id}/finalize")
            assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
            assert r.headers["retry-after"] == "6"
            status = (await c.get(f"/v1/media/{media_id}/upload")).json()
            assert status["offset"] == len(data) and status["status"] != "ready"
            r = await c.patch(f"/v1/media/{second}/upload", content=other, headers={"Upload-Offset": "0"})
            assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"
            assert (await c.get(f"/v1/media/{second}/upload")).json()["offset"] == 0
            # The storage is back: finalize again, send the refused chunk again.
            media.store = up
            r = await c.post(f"/v1/media/{media_id}/finalize")
            assert r.status_code == 200 and r.json()["status"] == "ready"
            assert (await c.get(f"/v1/media/{media_id}")).content == data
            r = await c.patch(f"/v1/media/{second}/upload", content=other, headers={"Upload-Offset": "0"})
            assert r.status_code == 200 and r.json()["offset"] == len(other)
            assert (await c.post(f"/v1/media/{second}/finalize")).status_code == 200
            assert (await c.get(f"/v1/media/{second}")).content == other
        await down.close()
