"""The media store seam: where blob bytes live. Five operations, two implementations.

* `LocalMediaStore`: files under the data directory (the default; one node, or several sharing a filesystem).
* `S3MediaStore` (`hudhud.media.s3`): any S3-compatible object storage, for several nodes.

Keys are chosen by the caller. Blobs and thumbnails are content addresses (`blob_key(sha256)`), so a put of an
existing key writes the same bytes again and is harmless. The chunks of uploads in progress are objects too
(`upload_key`), each written once under a key of its own, so that every node sharing the store sees them
(docs/subsystems/media.md). A chunk arrives in a local scratch file first (its length is known only once the
body ends), and an upload is put together in a local file at finalize (it must be checksummed, sniffed and
stripped), so `put_file` is what the service calls; `put` takes any stream of chunks.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol

READ_CHUNK = 256 * 1024
_KEY = re.compile(r"[a-z0-9]+(/[a-z0-9]+)*")


class StoreError(Exception):
    """The media store failed (unreachable, refused); the operation may succeed later."""


def blob_key(sha256: str) -> str:
    return f"blob/{sha256[:2]}/{sha256}"


def thumbnail_key(blob_sha256: str) -> str:
    return f"thumb/{blob_sha256[:2]}/{blob_sha256}"


def upload_key(media_id: str, start: int) -> str:
    """Where one staged chunk of an upload in progress lives: the media id, the chunk's offset, and a random part
    so that two chunks racing for the same offset (on one node or two) never write the same object."""
    return f"upload/{media_id}x{start}x{secrets.token_hex(8)}"


def check_key(key: str) -> str:
    if not _KEY.fullmatch(key) or len(key) > 128:
        raise ValueError(f"bad media store key {key!r}")
    return key


async def file_chunks(path: Path, start: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
    """A file's bytes in chunks, read in a worker thread so the event loop never waits on the disk."""
    f = await asyncio.to_thread(path.open, "rb")
    try:
        if start:
            await asyncio.to_thread(f.seek, start)
        left = length
        while left is None or left > 0:
            data = await asyncio.to_thread(f.read, READ_CHUNK if left is None else min(READ_CHUNK, left))
            if not data:
                return
            if left is not None:
                left -= len(data)
            yield data
    finally:
        await asyncio.to_thread(f.close)


class MediaStore(Protocol):
    async def put(self, key: str, chunks: AsyncIterable[bytes], size: int, sha256: str) -> None:
        """Store `size` bytes (whose SHA-256 is `sha256`) under `key`, replacing what was there."""
        ...

    async def put_file(self, key: str, path: Path, size: int, sha256: str) -> None:
        """Store a local file under `key`. The file may be moved; the caller removes it if it is still there."""
        ...

    def open_range(self, key: str, start: int, length: int) -> AsyncIterator[bytes]:
        """`length` bytes from offset `start`, in chunks. Raises FileNotFoundError for a missing key."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int | None: ...

    async def delete(self, key: str) -> None:
        """Remove `key`; nothing happens if it is not there."""
        ...

    async def close(self) -> None: ...


class LocalMediaStore:
    """Blobs as files under `root`, written to a temporary name, flushed to disk and renamed into place, so a
    key is either absent or complete, even after a crash."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    async def put(self, key: str, chunks: AsyncIterable[bytes], size: int, sha256: str) -> None:
        dest = self.path(key)
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}")
        f = await asyncio.to_thread(tmp.open, "wb")
        try:
            async for data in chunks:
                await asyncio.to_thread(f.write, data)
            await asyncio.to_thread(f.flush)
            await asyncio.to_thread(os.fsync, f.fileno())
        except BaseException:
            await asyncio.to_thread(f.close)
            tmp.unlink(missing_ok=True)
            raise
        await asyncio.to_thread(f.close)
        await asyncio.to_thread(os.replace, tmp, dest)

    async def put_file(self, key: str, path: Path, size: int, sha256: str) -> None:
        dest = self.path(key)

        def move() -> None:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with path.open("rb+") as f:
                os.fsync(f.fileno())
            os.replace(path, dest)  # the staging area is on the same filesystem: a rename, no copy

        try:
            await asyncio.to_thread(move)
        except OSError:  # another filesystem after all: copy
            await self.put(key, file_chunks(path), size, sha256)

    async def open_range(self, key: str, start: int, length: int) -> AsyncIterator[bytes]:
        path = self.path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        async for data in file_chunks(path, start, length):
            yield data

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path(key).is_file)

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self.path(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, True)

    async def close(self) -> None:
        return None
