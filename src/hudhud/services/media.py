"""Media: resumable uploads, finalization (checksum, sniffing, metadata stripping, thumbnails, dedupe),
access-checked downloads, signed URLs, quotas and retention. See docs/subsystems/media.md.

The life of an upload:

1. `create`: the client declares kind, size, SHA-256 and content type. Limits and the quota are checked
   before anything is written; the server makes a row with status "uploading".
2. `write`: a chunk is taken at the offset the client names, which must be where the upload stands
   (`media.staged`). Its bytes go to a local scratch file as they arrive; when the body ends (completely, or
   early because the connection was cut: what arrived is kept), they become an object of the media store of
   their own and one compare-and-set write records the part and moves `staged`. So the offset the server
   reports is what is durably staged, and the chunks of one upload may reach different nodes that share the
   database and the media store. Bytes past the declared size are refused and the chunk is dropped.
3. `finalize`: the parts are put together in a local scratch file, which is hashed and compared with the
   declared checksum, sniffed, and, for images, checked, stripped of metadata and thumbnailed. The result is
   stored under its content address (`blob/<sha256>`): identical bytes are stored once. Only then does the row
   become "ready", and only a ready media is ever served or attached to a message. An upload that fails a
   check is deleted whole.

Processing happens in worker threads, chunk by chunk: no file is ever held in memory whole.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from hudhud import ids
from hudhud.clock import Clock
from hudhud.config import Settings
from hudhud.errors import ClientError, InvalidRequest, ServiceUnavailable
from hudhud.media import images, signing, sniff
from hudhud.media.store import READ_CHUNK, MediaStore, StoreError, blob_key, thumbnail_key, upload_key
from hudhud.store import media as mq
from hudhud.store.db import Database
from hudhud.store.records import MediaRecord

log = logging.getLogger("hudhud.media")

_SHA256 = re.compile(r"[0-9a-f]{64}")
HASH_CHUNK = 1024 * 1024
STORE_DOWN = "media storage is unavailable; "


class MediaTooLarge(ClientError):
    code = "media_too_large"
    status = 413


class TypeMismatch(ClientError):
    code = "media_type_mismatch"
    status = 415


class MediaCorrupt(ClientError):
    code = "media_corrupt"
    status = 400


class ChecksumMismatch(ClientError):
    code = "checksum_mismatch"
    status = 400


class UploadIncomplete(ClientError):
    code = "upload_incomplete"
    status = 409


class QuotaExceeded(ClientError):
    code = "quota_exceeded"
    status = 403


class OffsetMismatch(ClientError):
    """The chunk does not start where the upload stands; the answer says where that is."""

    code = "upload_offset_mismatch"
    status = 409

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.details = {"offset": offset}
        self.headers = {"Upload-Offset": str(offset)}


@dataclass
class SweepReport:
    uploads_deleted: int = 0
    blobs_deleted: int = 0
    keys: list[str] = field(default_factory=list)


def media_view(m: MediaRecord) -> dict[str, Any]:
    """A media as REST answers describe it (and as a sender copies it into a message's payload)."""
    view: dict[str, Any] = {
        "media_id": m.id,
        "kind": m.kind,
        "status": m.status,
        "size": m.blob_size if m.blob_size is not None else m.size,
        "sha256": m.blob_sha256 or m.sha256,
        "content_type": m.content_type or m.declared_type or "application/octet-stream",
        "file_name": m.file_name,
        "encrypted": m.encrypted,
    }
    if m.status == "ready":
        view["width"] = m.width
        view["height"] = m.height
        view["thumbnail"] = m.thumbnail
        view["preview"] = base64.b64encode(m.preview).decode() if m.preview else None
    return view


class _Locks:
    """One asyncio lock per media id, forgotten when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class MediaService:
    def __init__(self, db: Database, clock: Clock, settings: Settings, store: MediaStore) -> None:
        self._db = db
        self._clock = clock
        self._s = settings
        self.store = store
        self._secret = b""  # loaded by start(): the key for signed URLs
        # Node-local scratch files: a chunk while it arrives, an upload while finalize checks it. Nothing here
        # is the truth about an upload (the parts in the media store and the database are); processes sharing
        # the data directory use names of their own.
        self.scratch = settings.data_dir / "media" / "uploads"
        self._locks = _Locks()
        self._sweeper: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.scratch.mkdir, parents=True, exist_ok=True)
        self._secret = await asyncio.to_thread(signing.load_secret, self._s.media_url_secret, self._s.data_dir)
        if self._sweeper is None and self._s.media_sweep_interval > 0:
            self._sweeper = asyncio.create_task(self._sweep_forever(), name="hudhud-media-sweeper")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        await self.store.close()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._s.media_sweep_interval)
            try:
                report = await self.sweep()
                if report.uploads_deleted or report.blobs_deleted:
                    log.info("media sweep: %d uploads, %d blobs deleted", report.uploads_deleted, report.blobs_deleted)
            except Exception:
                log.exception("media sweep failed; trying again next time")

    # -- limits -------------------------------------------------------------------------------------------------

    def limit(self, kind: str) -> int:
        limits: dict[str, int] = {
            "image": self._s.media_max_image_bytes,
            "video": self._s.media_max_video_bytes,
            "voice": self._s.media_max_voice_bytes,
            "audio": self._s.media_max_audio_bytes,
            "document": self._s.media_max_document_bytes,
        }
        return limits[kind]

    def _scratch(self, media_id: str, what: str) -> Path:
        return self.scratch / f"{media_id}.{secrets.token_hex(6)}.{what}"

    # -- upload -------------------------------------------------------------------------------------------------

    async def create(
        self,
        user_id: str,
        kind: str,
        size: int,
        sha256: str,
        content_type: str = "",
        file_name: str = "",
        encrypted: bool = False,
    ) -> MediaRecord:
        if kind not in sniff.KINDS:
            raise InvalidRequest(f"kind is one of {', '.join(sniff.KINDS)}")
        if not isinstance(size, int) or size < 1:
            raise InvalidRequest("size is the file's length in bytes (at least 1)")
        if not _SHA256.fullmatch(sha256 or ""):
            raise InvalidRequest("sha256 is the file's SHA-256, 64 lower-case hex digits")
        limit = self.limit(kind)
        if size > limit:
            raise MediaTooLarge(f"a {kind} may be at most {limit} bytes; this one is {size}")
        media_id = ids.new_id("m", 16)
        now = self._clock.now()
        quota = self._s.media_quota_bytes

        def op(conn: Connection) -> MediaRecord:
            if quota:
                used = mq.usage_bytes(conn, user_id)
                if used + size > quota:
                    raise QuotaExceeded(f"your media would use {used + size} of your {quota} bytes")
            mq.insert_media(conn, media_id, user_id, kind, content_type, file_name, encrypted, size, sha256, now)
            record = mq.get_media(conn, media_id)
            assert record is not None
            return record

        return await self._db.write(op)

    async def _own_upload(self, user_id: str, media_id: str) -> MediaRecord:
        record = await self._db.read(lambda c: mq.get_media(c, media_id))
        if record is None or record.owner_id != user_id:
            raise mq.MediaNotFound("no such upload of yours")
        return record

    async def offset(self, user_id: str, media_id: str) -> tuple[MediaRecord, int]:
        """The upload and how many of its bytes the server has (its size once finalized)."""
        record = await self._own_upload(user_id, media_id)
        return record, record.size if record.status != "uploading" else record.staged

    async def write(self, user_id: str, media_id: str, offset: int, chunks: AsyncIterable[bytes]) -> int:
        """Stage the chunk that starts at `offset`; returns the new offset. If `chunks` simply ends early (a cut
        connection), what arrived is staged and the client resumes from there. Any error stages nothing."""
        async with self._locks.hold(media_id):  # chunks racing on one node queue here; across nodes, add_part
            record = await self._own_upload(user_id, media_id)
            if record.status != "uploading":
                raise OffsetMismatch("this upload is already complete", record.size)
            if offset != record.staged:
                raise OffsetMismatch(f"the upload stands at byte {record.staged}, not {offset}", record.staged)
            spool = self._scratch(media_id, "chunk")
            try:
                size, digest = await self._spool(chunks, spool, record.size - offset)
                now = self._clock.now()
                if size == 0:
                    await self._db.write(lambda c: mq.touch(c, media_id, now))
                    return offset
                key = upload_key(media_id, offset)
                try:
                    await self.store.put_file(key, spool, size, digest)
                except StoreError as exc:
                    log.warning("media %s: the media store failed to stage a chunk: %s", media_id, exc)
                    raise ServiceUnavailable(STORE_DOWN + "send the chunk again", retry_after=5.0) from exc
                # If this write fails, the object stays: it may have been recorded after all (a lost connection
                # after COMMIT), and an unrecorded one is only space (docs/subsystems/media.md, "known leak").
                stands = await self._db.write(lambda c: mq.add_part(c, media_id, offset, size, key, now))
                if stands is not None:  # another chunk for this offset won (on another node)
                    await self._forget([key])
                    raise OffsetMismatch(f"the upload stands at byte {stands}, not {offset}", stands)
                return offset + size
            finally:
                await asyncio.to_thread(spool.unlink, True)

    async def _spool(self, chunks: AsyncIterable[bytes], path: Path, room: int) -> tuple[int, str]:
        """Write the chunks to a scratch file as they arrive; their length and SHA-256. At most `room` bytes."""
        h = hashlib.sha256()

        def add(data: bytes) -> None:
            f.write(data)
            h.update(data)

        f = await asyncio.to_thread(path.open, "wb")
        written = 0
        try:
            async for data in chunks:
                if written + len(data) > room:
                    raise MediaTooLarge("more bytes than the size declared")
                await asyncio.to_thread(add, data)
                written += len(data)
        finally:
            await asyncio.to_thread(f.close)
        return written, h.hexdigest()

    async def _assemble(self, parts: list[tuple[int, int, str]], path: Path) -> None:
        """Put the staged parts together in a scratch file, in order."""
        f = await asyncio.to_thread(path.open, "wb")
        try:
            at = 0
            for start, size, key in parts:
                if start != at:
                    raise StoreError(f"the staged parts have a gap at byte {at}")
                async for data in self.store.open_range(key, 0, size):
                    await asyncio.to_thread(f.write, data)
                at += size
        finally:
            await asyncio.to_thread(f.close)

    async def _forget(self, keys: list[str]) -> None:
        """Delete staged parts from the store (best effort: a part left behind is only space)."""
        for key in keys:
            try:
                await self.store.delete(key)
            except StoreError as exc:
                log.warning("could not delete staged part %s: %s", key, exc)

    async def finalize(self, user_id: str, media_id: str) -> MediaRecord:
        async with self._locks.hold(media_id):
            record = await self._own_upload(user_id, media_id)
            if record.status == "ready":
                return record  # finalizing twice is harmless
            if record.status == "uploading" and record.staged != record.size:
                raise UploadIncomplete(f"{record.staged} of {record.size} bytes have arrived; upload the rest first")
            path = self._scratch(media_id, "upload")
            try:
                try:
                    await self._assemble(await self._db.read(lambda c: mq.parts(c, media_id)), path)
                except (FileNotFoundError, StoreError) as exc:
                    again = await self._own_upload(user_id, media_id)
                    if again.status == "ready":
                        return again  # another node finalized it meanwhile (and removed the parts)
                    log.warning("media %s: could not read the staged parts: %s", media_id, exc)
                    raise ServiceUnavailable(STORE_DOWN + "finalize again later", retry_after=5.0) from exc
                try:
                    result = await asyncio.to_thread(self._process, record, path)
                except ClientError:
                    await self._discard(record)  # bad bytes cannot be fixed by resuming: start again
                    raise
                try:
                    final = await self._store(record, result)
                except StoreError as exc:
                    # Keep the staged upload: finalize can simply be tried again once the store answers.
                    log.warning("media %s: the media store failed: %s", record.id, exc)
                    raise ServiceUnavailable(STORE_DOWN + "finalize again later", retry_after=5.0) from exc
                finally:
                    if result.path != path:
                        await asyncio.to_thread(result.path.unlink, True)
            finally:
                await asyncio.to_thread(path.unlink, True)
            await self._forget(await self._db.write(lambda c: mq.take_parts(c, media_id)))
            return final

    def _process(self, record: MediaRecord, path: Path) -> _Processed:
        """Checksum, sniff, and (for images) check, strip and thumbnail. Runs in a worker thread."""
        digest, head = _hash_file(path)
        if digest != record.sha256:
            raise ChecksumMismatch("the bytes received do not have the SHA-256 declared; upload them again")
        if record.encrypted:
            # Encrypted by the client: opaque bytes, served as they are; the key travels in the message.
            return _Processed(path, record.size, digest, "application/octet-stream")
        sniffed = sniff.for_kind(record.kind, sniff.sniff(head))
        problem = sniff.check(record.kind, record.declared_type, sniffed)
        if problem:
            raise TypeMismatch(problem)
        content_type = sniff.served_type(sniffed)
        if record.kind != "image":
            # Video, audio and documents are stored as they are (a picture sent as a document too, as WhatsApp
            # does: the sender chose to send the file itself).
            return _Processed(path, record.size, digest, content_type)
        try:
            images.dimensions(path, self._s.media_max_image_pixels)
            final = path
            if self._s.media_strip_exif:
                final = path.with_suffix(".stripped")
                images.strip_metadata(path, final, content_type)
            pv = images.previews(final)
        except images.TooManyPixels as exc:
            raise MediaTooLarge(f"the image is too large to process: {exc}") from None
        except images.ImageError as exc:
            raise MediaCorrupt(str(exc)) from None
        if final is not path:
            digest, _ = _hash_file(final)
        size = final.stat().st_size
        return _Processed(final, size, digest, content_type, pv.width, pv.height, pv.thumbnail, pv.preview)

    async def _store(self, record: MediaRecord, p: _Processed) -> MediaRecord:
        key = blob_key(p.sha256)
        now = self._clock.now()

        def claim(conn: Connection) -> tuple[bool, bool]:
            state = mq.blob_state(conn, key)
            if state == "deleting":
                raise ServiceUnavailable("the same file is being cleaned up right now; try again", retry_after=2.0)
            stored = state == "stored"
            thumb = mq.blob_has_thumbnail(conn, key) if stored else p.thumbnail is not None
            mq.set_finished(
                conn,
                record.id,
                status="ready" if stored else "storing",
                key=key,
                content_type=p.content_type,
                blob_size=p.size,
                blob_sha256=p.sha256,
                width=p.width,
                height=p.height,
                thumbnail=thumb,
                preview=p.preview,
                now=now,
            )
            return not stored, thumb

        need_put, thumb = await self._db.write(claim)
        if need_put:
            # Claimed ("storing" refers to the key), so the sweeper leaves it alone while the object goes in.
            await self.store.put_file(key, p.path, p.size, p.sha256)
            if p.thumbnail is not None:
                await self.store.put(
                    thumbnail_key(p.sha256),
                    _once(p.thumbnail),
                    len(p.thumbnail),
                    hashlib.sha256(p.thumbnail).hexdigest(),
                )

            def done(conn: Connection) -> None:
                mq.add_blob(conn, key, p.size, thumb, now)
                mq.mark_ready(conn, record.id, now)

            await self._db.write(done)
        final = await self._db.read(lambda c: mq.get_media(c, record.id))
        assert final is not None
        return final

    async def _discard(self, record: MediaRecord) -> None:
        await self._forget(await self._db.write(lambda c: mq.delete_media(c, record.id)))

    async def delete(self, user_id: str, media_id: str) -> None:
        """The uploader abandons an upload, or a finished media no message refers to."""
        async with self._locks.hold(media_id):
            record = await self._own_upload(user_id, media_id)

            def op(conn: Connection) -> tuple[list[str], list[str]]:
                if mq.is_referenced(conn, media_id):
                    raise InvalidRequest("this media was sent in a message and stays with the conversation")
                if mq.is_picture(conn, media_id):
                    raise InvalidRequest("this media is your profile picture; clear it first")
                parts = mq.delete_media(conn, media_id)
                return parts, mq.start_blob_deletes(conn, {record.store_key} if record.store_key else set())

            parts, doomed = await self._db.write(op)
            await self._forget(parts)
            await self._delete_blobs(doomed)

    # -- download -----------------------------------------------------------------------------------------------

    async def readable(self, user_id: str, media_id: str) -> MediaRecord:
        record = await self._db.read(lambda c: mq.readable(c, media_id, user_id))
        if record is None:
            raise mq.MediaNotFound("no such media, or not one you can see")
        return record

    async def by_signature(self, media_id: str, variant: str, expires: str, sig: str) -> MediaRecord:
        signing.verify(self._secret, media_id, variant, expires, sig, self._clock.now())
        record = await self._db.read(lambda c: mq.get_media(c, media_id))
        if record is None or record.status != "ready":
            raise mq.MediaNotFound("no such media")
        return record

    async def sign(self, user_id: str, media_id: str, variant: str, expires_in: float) -> tuple[str, int]:
        """A URL path (with query) that serves the media, or its thumbnail, without a token until it expires."""
        record = await self.readable(user_id, media_id)
        if variant == "thumbnail" and not record.thumbnail:
            raise mq.MediaNotFound("this media has no thumbnail")
        ttl = max(1.0, min(float(expires_in), self._s.media_url_max_ttl))
        expires = int(self._clock.now() + ttl)
        sig = signing.signature(self._secret, media_id, variant, expires)
        path = f"/v1/media/{media_id}" + ("/thumbnail" if variant == "thumbnail" else "")
        return f"{path}?expires={expires}&sig={sig}", expires

    async def open(self, record: MediaRecord, start: int, length: int) -> AsyncIterator[bytes]:
        """The bytes [start, start+length) of a ready media. The first chunk is read before this returns, so
        that a missing object is an error here, not in the middle of a response."""
        assert record.store_key is not None
        chunks = self.store.open_range(record.store_key, start, length)
        try:
            first = await anext(chunks, b"")
        except FileNotFoundError:
            log.error("media %s: object %s is missing from the store", record.id, record.store_key)
            raise mq.MediaNotFound("this media is no longer stored") from None
        except StoreError as exc:
            raise ServiceUnavailable("media storage is unavailable; try again", retry_after=5.0) from exc
        return _prepend(first, chunks)

    async def thumbnail(self, record: MediaRecord) -> bytes:
        if not record.thumbnail or record.blob_sha256 is None:
            raise mq.MediaNotFound("this media has no thumbnail")
        key = thumbnail_key(record.blob_sha256)
        try:
            parts = [chunk async for chunk in self.store.open_range(key, 0, 1 << 20)]
        except FileNotFoundError:
            raise mq.MediaNotFound("this media has no thumbnail") from None
        return b"".join(parts)

    # -- retention ----------------------------------------------------------------------------------------------

    async def sweep(self) -> SweepReport:
        """Delete unfinished uploads idle for `media_upload_retention`, finished media no message refers to after
        `media_retention`, and the stored blobs nothing refers to any more."""
        now = self._clock.now()
        s = self._s

        def op(conn: Connection) -> tuple[list[MediaRecord], list[str], list[str]]:
            gone = mq.expired(conn, now, s.media_retention, s.media_upload_retention)
            parts = [key for record in gone for key in mq.delete_media(conn, record.id)]
            keys = {r.store_key for r in gone if r.store_key} | mq.orphan_blobs(conn)
            return gone, parts, mq.start_blob_deletes(conn, keys)

        gone, parts, doomed = await self._db.write(op)
        await self._forget(parts)
        await self._delete_blobs(doomed)
        await asyncio.to_thread(self._clean_scratch, s.media_upload_retention)
        return SweepReport(len(gone), len(doomed), doomed)

    def _clean_scratch(self, older_than: float) -> None:
        """Remove scratch files left by a process that died (by their age on the wall clock: they are files)."""
        limit = time.time() - max(older_than, 3600.0)  # never a chunk that is still arriving
        with contextlib.suppress(FileNotFoundError):
            for path in self.scratch.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if path.stat().st_mtime < limit:
                        path.unlink()

    async def _delete_blobs(self, keys: list[str]) -> None:
        for key in keys:
            await self.store.delete(key)
            await self.store.delete(thumbnail_key(key.rsplit("/", 1)[-1]))
        if keys:
            await self._db.write(lambda c: mq.finish_blob_deletes(c, keys))

    async def usage(self, user_id: str) -> int:
        return await self._db.read(lambda c: mq.usage_bytes(c, user_id))


@dataclass(frozen=True)
class _Processed:
    path: Path
    size: int
    sha256: str
    content_type: str
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = None
    preview: bytes | None = None


def _hash_file(path: Path) -> tuple[str, bytes]:
    """SHA-256 of a file read chunk by chunk, and its first bytes (for sniffing)."""
    h = hashlib.sha256()
    head = b""
    with path.open("rb") as f:
        while data := f.read(HASH_CHUNK):
            if len(head) < sniff.HEAD_BYTES:
                head += data[: sniff.HEAD_BYTES - len(head)]
            h.update(data)
    return h.hexdigest(), head


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for data in rest:
        yield data


__all__ = ["READ_CHUNK", "MediaService", "media_view"]
