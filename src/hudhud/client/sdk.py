"""The Hudhud client library: REST helpers, and a realtime session that does not lose or repeat messages.

Guarantees, and how they are kept:

* Sending survives outages and restarts. `send()` only writes the message into the outbox in the profile's
  `state.db` and returns its client message id. The session sends every outbox entry after each `welcome`
  and whenever a new one is queued, and deletes an entry only when the server's `sent` frame for that id
  arrives. The server dedupes by (device, id), so resending after a lost ack is harmless: it answers with
  the original seq and `duplicate: true`. Entries with the same target go one at a time (the next one after
  the previous one's `sent`), because the server handles a connection's sends concurrently and would
  otherwise be free to number them in another order.
* Receiving is exactly once, in order. The server resends everything after the device's acknowledged
  cursor on every connection. The client keeps, per conversation, a contiguous watermark (every seq at or
  below it was handed to the application or is this device's own message) plus every message above it in
  its cache; a delivery at or below the watermark, or already cached, is a duplicate and is dropped. The
  server sends each conversation in seq order and skips for good what this device will never get (its own
  messages, seqs outside a membership window, withheld ones), so the client acks the seq of the last
  delivery it has committed locally (docs/protocol.md section 6.3): a crash never acks something
  unrecorded, and a permanent gap never holds the cursor back. In the local watermark a gap above it is our
  own message whose `sent` is still on its way (it fills the gap when it arrives) or a seq this device will
  never get; at `synced` the server has sent everything committed before, so gaps left then are jumped over.
* Reconnects are automatic: exponential backoff with full jitter (a random delay between 0 and
  min(cap, base·2^attempt)), never shorter than a server's `retry_after`. The attempt counter resets only
  after a connection stayed up and synced for a while, so a server that accepts and drops at once is not
  hammered. A revoked or unknown token (error device_revoked/unauthorized, close code 4401) stops the
  session for good: the state becomes LOGGED_OUT and the application should ask the user to log in again.

* Forwards and broadcasts go through the same outbox (`forward()`, `broadcast()`), and are just as idempotent:
  the server derives the id of every copy from the request's id ("<id>#<index>" for a forward's targets,
  "<id>#<user>" for a broadcast's recipients), so a resend after a lost reply creates nothing new and answers
  with the same seqs. A forward is done when every target answered (`sent` or an error); a broadcast when its
  `broadcast_sent` arrives. `wait_forwarded()` / `wait_broadcast()` return the outcome, which is kept in the
  profile for a while so that a caller coming back late still gets it.

Groups, invitations, invite links, blocking, reports and broadcast lists are plain REST calls (see the
methods under "groups" and "safety" in `hudhud.client.net.rest`); changes to a group arrive in its
conversation as system messages (`Envelope.system`), and invitations arrive as system messages in the user's
inbox conversation.

Events reach the application through `events()` (an async iterator; each call gets its own stream) and
through `on_event()` callbacks (plain functions, called in order on the event loop; they must not block).

Layers (docs/subsystems/client.md): `HudhudClient` is a façade stacked from `hudhud.client.net`: `core`
(profile, connection state, event streams, the socket's send side) → `rest` (REST calls) → `outbox` (sending
and the answers to it) → `session` (connect, hello, sync, acks, reconnect); this module adds the lifecycle and
media, and re-exports the names applications import from here. `net` never imports the commands.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType
from typing import Any

from hudhud.client import media
from hudhud.client.net.backoff import backoff_delay
from hudhud.client.net.core import EventStream, SessionStats
from hudhud.client.net.protocol import (
    DEFAULT_SERVER,
    MAX_CONTENT_BYTES,
    ApiError,
    BroadcastSent,
    ConnState,
    Delivered,
    Event,
    Forwarded,
    HudhudClientError,
    NotLoggedIn,
    PresenceUpdate,
    ReceiptUpdate,
    SendFailed,
    SendRejected,
    Sent,
    ServerErrorEvent,
    ServerUnreachable,
    StateChanged,
    SyncedEvent,
    TicksChanged,
    TypingUpdate,
    ws_url_for,
)
from hudhud.client.net.rest import _seg
from hudhud.client.net.session import Session

# The names this module has always offered (tests, the commands and applications import them from here).
__all__ = [
    "DEFAULT_SERVER",
    "MAX_CONTENT_BYTES",
    "ApiError",
    "BroadcastSent",
    "ConnState",
    "Delivered",
    "Event",
    "EventStream",
    "Forwarded",
    "HudhudClient",
    "HudhudClientError",
    "NotLoggedIn",
    "PresenceUpdate",
    "ReceiptUpdate",
    "SendFailed",
    "SendRejected",
    "Sent",
    "ServerErrorEvent",
    "ServerUnreachable",
    "SessionStats",
    "StateChanged",
    "SyncedEvent",
    "TicksChanged",
    "TypingUpdate",
    "backoff_delay",
    "iterate_events",
    "ws_url_for",
]


class HudhudClient(Session):
    """A Hudhud account on one device: REST calls plus (after `start()`) a self-healing realtime session.

    Use as `async with HudhudClient(profile_dir) as client:`; leaving the block stops the session, closes
    the HTTP client and the state file. `receive=False` makes a session that only sends (and tracks
    receipts): deliveries are ignored and not acked, so that a later `listen` still shows them.
    """

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def __aenter__(self) -> HudhudClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the session, close the HTTP client and the state file."""
        await self.stop()
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        self.store.close()

    # -- media, locations, contacts (hudhud.client.media) -----------------------------------------------------

    async def upload_file(
        self,
        path: str | Path,
        kind: str,
        *,
        content_type: str | None = None,
        file_name: str | None = None,
        progress: media.Progress | None = None,
    ) -> dict[str, Any]:
        """Upload a file as a media of `kind` (resumable) and return the finalized media."""
        return await media.upload(
            self, Path(path), kind, content_type=content_type, file_name=file_name, progress=progress
        )

    async def download_media(
        self,
        media_id: str,
        dest: str | Path,
        *,
        sha256: str | None = None,
        progress: media.Progress | None = None,
    ) -> Path:
        """Download a media to `dest` (resumable with Range, checksum verified)."""
        return await media.download(self, media_id, Path(dest), sha256=sha256, progress=progress)

    async def media_info(self, media_id: str) -> dict[str, Any]:
        return await media.info(self, media_id)

    async def media_url(self, media_id: str, *, thumbnail: bool = False, expires_in: float = 3600.0) -> str:
        """A signed URL for the media (or its thumbnail) that works without a token until it expires."""
        body = {"thumbnail": thumbnail, "expires_in": expires_in}
        data = await self._call("POST", f"/v1/media/{_seg(media_id)}/url", body=body)
        return f"{self.server}{data['url']}"

    async def send_file(
        self,
        path: str | Path,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        kind: str | None = None,
        voice: bool = False,
        caption: str | None = None,
        progress: media.Progress | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Upload a file and queue a message with it: a photo, video, voice note, audio file or document
        (`kind`, else guessed from the bytes; `voice` makes audio a voice note). Returns (message id, payload)."""
        file = Path(path)
        head = await asyncio.to_thread(media.file_head, file)
        ctype = media.guess_type(file, head)
        kind = kind or media.guess_kind(ctype, voice=voice)
        done = await self.upload_file(file, kind, content_type=ctype, progress=progress)
        extra = await asyncio.to_thread(media.describe_file, file, kind, done["content_type"])
        content = media.media_content(kind, done, caption=caption, **extra)
        msg_id = await self.send(content, to=to, conversation_id=conversation_id, media=[done["media_id"]])
        return msg_id, content

    async def send_location(
        self,
        latitude: float,
        longitude: float,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        name: str | None = None,
        address: str | None = None,
    ) -> str:
        content = media.location_content(latitude, longitude, name=name, address=address)
        return await self.send(content, to=to, conversation_id=conversation_id)

    async def share_live_location(
        self,
        latitude: float,
        longitude: float,
        minutes: float,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
    ) -> str:
        """Start sharing a live location for `minutes`. Updates and the stop refer to this message's seq
        (`update_live_location`, `stop_live_location`), as edits refer to their target."""
        until = round(time.time() + minutes * 60, 3)
        content = media.live_location_content(latitude, longitude, until)
        return await self.send(content, to=to, conversation_id=conversation_id)

    async def update_live_location(
        self,
        target: int,
        latitude: float,
        longitude: float,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
    ) -> str:
        content = media.live_update_content(target, latitude, longitude)
        return await self.send(content, to=to, conversation_id=conversation_id)

    async def stop_live_location(
        self, target: int, *, to: str | None = None, conversation_id: str | None = None
    ) -> str:
        return await self.send(media.live_stop_content(target), to=to, conversation_id=conversation_id)

    async def send_contact(
        self,
        name: str,
        phones: list[str],
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        card: str | None = None,
    ) -> str:
        """Send a contact card (a vCard, made from the name and numbers unless `card` is given)."""
        content = media.contact_content(name, phones, card=card)
        return await self.send(content, to=to, conversation_id=conversation_id)


async def iterate_events(client: HudhudClient) -> AsyncIterator[Event]:
    """Convenience: `async for event in iterate_events(client)` (a fresh stream, closed when the loop ends)."""
    stream = client.events()
    try:
        async for event in stream:
            yield event
    finally:
        stream.close()
