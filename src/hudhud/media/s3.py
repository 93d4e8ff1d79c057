"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph RGW, Garage, SeaweedFS …), for several nodes.

The client is a few signed HTTP requests on httpx, which the server already depends on, rather than boto3 or
aiobotocore: four operations (PUT, GET with Range, HEAD, DELETE) do not justify a second HTTP stack, boto3
would block the event loop, and httpx streams request and response bodies, so an object never sits in memory
whole. Requests are signed with AWS Signature Version 4 (`sigv4_headers`), path-style
(`endpoint/bucket/key`), which every S3-compatible server understands. Uploads carry their real SHA-256 as the
payload hash (the service always knows it), so the storage verifies what it received.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

from hudhud.media.store import StoreError, check_key, file_chunks

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


class S3Error(StoreError):
    """The object storage answered with an error (or could not be reached)."""


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_headers(
    method: str,
    url: str,
    *,
    region: str,
    access_key: str,
    secret_key: str,
    payload_sha256: str,
    headers: dict[str, str] | None = None,
    now: dt.datetime | None = None,
    service: str = "s3",
) -> dict[str, str]:
    """The headers that sign a request with AWS Signature Version 4: `x-amz-date`, `x-amz-content-sha256`
    and `Authorization` (plus the `headers` given, which are signed too). `url` must be fully encoded."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    parts = urlsplit(url)
    signed = {k.lower(): " ".join(v.strip().split()) for k, v in (headers or {}).items()}
    signed["host"] = parts.netloc
    signed["x-amz-date"] = amz_date
    signed["x-amz-content-sha256"] = payload_sha256
    names = sorted(signed)
    query = "&".join(
        sorted(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
            for k, _, v in (pair.partition("=") for pair in parts.query.split("&") if pair)
        )
    )
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload_sha256,
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")
    sig = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in (headers or {}).items()}
    out["x-amz-date"] = amz_date
    out["x-amz-content-sha256"] = payload_sha256
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"
    )
    return out


class S3MediaStore:
    def __init__(
        self,
        endpoint: str,
        bucket: str,
        *,
        prefix: str = "",
        region: str = "us-east-1",
        access_key: str = "",
        secret_key: str = "",
        timeout: float = 60.0,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        self.access_key = access_key
        self.secret_key = secret_key
        self._http = httpx.AsyncClient(timeout=timeout)

    @classmethod
    def from_url(cls, url: str, *, endpoint: str, region: str, access_key: str, secret_key: str) -> S3MediaStore:
        """`s3://bucket/prefix` plus the endpoint and keys from the settings."""
        parts = urlsplit(url)
        return cls(
            endpoint,
            parts.netloc,
            prefix=parts.path,
            region=region,
            access_key=access_key,
            secret_key=secret_key,
        )

    def _url(self, key: str | None) -> str:
        path = f"/{quote(self.bucket, safe='')}"
        if key is not None:
            full = f"{self.prefix}/{check_key(key)}" if self.prefix else check_key(key)
            path += "/" + quote(full, safe="/-_.~")
        return self.endpoint + path

    def _sign(self, method: str, url: str, payload: str, headers: dict[str, str] | None = None) -> dict[str, str]:
        return sigv4_headers(
            method,
            url,
            region=self.region,
            access_key=self.access_key,
            secret_key=self.secret_key,
            payload_sha256=payload,
            headers=headers,
        )

    async def _request(self, method: str, key: str | None, expect: tuple[int, ...]) -> httpx.Response:
        url = self._url(key)
        try:
            resp = await self._http.request(method, url, headers=self._sign(method, url, EMPTY_SHA256))
        except httpx.TransportError as exc:
            raise S3Error(f"object storage unreachable: {exc}") from exc
        if resp.status_code not in expect:
            raise S3Error(f"{method} {key}: HTTP {resp.status_code} {resp.text[:200]}")
        return resp

    async def create_bucket(self) -> None:
        """Create the bucket if it does not exist (operators usually make it themselves)."""
        await self._request("PUT", None, (200, 409))

    async def put(self, key: str, chunks: AsyncIterable[bytes], size: int, sha256: str) -> None:
        url = self._url(key)
        headers = self._sign("PUT", url, sha256, {"Content-Length": str(size)})
        try:
            # An explicit Content-Length makes httpx stream the body as it is, not chunked.
            resp = await self._http.put(url, content=_aiter(chunks), headers=headers)
        except httpx.TransportError as exc:
            raise S3Error(f"object storage unreachable: {exc}") from exc
        if resp.status_code != 200:
            raise S3Error(f"PUT {key}: HTTP {resp.status_code} {resp.text[:200]}")

    async def put_file(self, key: str, path: Path, size: int, sha256: str) -> None:
        await self.put(key, file_chunks(path), size, sha256)

    async def open_range(self, key: str, start: int, length: int) -> AsyncIterator[bytes]:
        if length <= 0:
            return
        url = self._url(key)
        headers = self._sign("GET", url, EMPTY_SHA256, {"Range": f"bytes={start}-{start + length - 1}"})
        try:
            async with self._http.stream("GET", url, headers=headers) as resp:
                if resp.status_code == 404:
                    raise FileNotFoundError(key)
                if resp.status_code not in (200, 206):
                    raise S3Error(f"GET {key}: HTTP {resp.status_code}")
                async for data in resp.aiter_bytes():
                    yield data
        except httpx.TransportError as exc:
            raise S3Error(f"object storage unreachable: {exc}") from exc

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    async def size(self, key: str) -> int | None:
        resp = await self._request("HEAD", key, (200, 404))
        return None if resp.status_code == 404 else int(resp.headers.get("content-length", "0"))

    async def delete(self, key: str) -> None:
        await self._request("DELETE", key, (200, 204, 404))

    async def close(self) -> None:
        await self._http.aclose()


async def _aiter(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    async for data in chunks:
        yield data
