"""What one connected device still has to receive, and the loop that sends it.

A feed is woken by bus notices ("conversation C has reached seq N"). It keeps, per conversation, the last seq
it has sent on this connection, reads from the store everything after that, and sends it in order. On start
it catches up from the device's acknowledged cursors, then sends the current receipt watermarks and `synced`.
It subscribes before reading, so anything committed during catch-up rings a bell that is handled right after.
A device is not sent its own messages: it got them as `sent`.

The feed runs as a task only while it has something to send: an idle connection costs no task, which is most
of what a node holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import Connection

from hudhud.metrics import Metrics
from hudhud.protocol import server_frames as sf
from hudhud.services.messaging import MessagingService, ReceiptView
from hudhud.store import accounts as aq
from hudhud.store import messages as q
from hudhud.store.db import Database

Send = Callable[[bytes], Awaitable[None]]

log = logging.getLogger("hudhud.delivery")

PAGE = 500  # messages per read from the store ...
PAGE_BYTES = 1024 * 1024  # ... and at most this much content (but at least one message)


class DeviceFeed:
    def __init__(
        self,
        db: Database,
        messaging: MessagingService,
        user_id: str,
        device_id: str,
        send: Send,
        on_failure: Callable[[], None],
        metrics: Metrics | None = None,
        on_refused: Callable[[str], None] | None = None,
    ) -> None:
        self._db = db
        self._metrics = metrics or Metrics()  # deliver frames and their latency
        self._send = send
        self._on_failure = on_failure
        self._on_refused = on_refused
        self._messaging = messaging
        self.user_id = user_id
        self.device_id = device_id
        self._sent: dict[str, int] = {}  # conversation -> last seq sent on this connection
        self._dirty: dict[str, int] = {}  # conversation -> highest seq a notice announced
        self._receipts: set[tuple[str, str]] = set()
        self._ready_receipts: list[ReceiptView] = []
        self.read_receipts: bool | None = None  # this user's setting, known once the feed has started
        self._receipts_sent: dict[tuple[str, str], tuple[int, int | None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._polling = False
        self.synced = False

    def start(self) -> None:
        """Catch up, send `synced`, then whatever has been announced meanwhile."""
        self._task = asyncio.get_running_loop().create_task(self._run(catch_up=True))

    def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    def _kick(self) -> None:
        if self._task is None and not self._stopped and self.synced:
            self._task = asyncio.get_running_loop().create_task(self._run())

    # -- notices (called from bus handlers; must not block) ---------------------------------------------------

    def on_message(self, conversation_id: str, seq: int) -> None:
        if seq > self._sent.get(conversation_id, -1):
            self._dirty[conversation_id] = max(seq, self._dirty.get(conversation_id, 0))
            self._kick()

    def on_receipt(
        self,
        conversation_id: str,
        user_id: str,
        delivered: int | None = None,
        read: int | None = None,
        reader_shares: bool | None = None,
    ) -> None:
        if delivered is not None and read is not None and reader_shares is not None and self.read_receipts is not None:
            # The notice carries the watermarks: decide what this viewer may see without reading the store.
            shared = user_id == self.user_id or (self.read_receipts and reader_shares)
            self._ready_receipts.append(ReceiptView(conversation_id, user_id, delivered, read if shared else None))
        else:
            self._receipts.add((conversation_id, user_id))
        self._kick()

    def poll(self) -> None:
        """The bus may have lost notices (docs/subsystems/delivery.md, "When the bus is down"): look in the store
        for whatever this device has not been sent yet, as a notice would have announced it, and for a
        revocation or suspension whose notice was lost (`on_refused` gets "device_revoked" or
        "account_suspended")."""
        if self._stopped or not self.synced or self._polling:
            return
        self._polling = True
        asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        def look(c: Connection) -> tuple[dict[str, tuple[int, int]], str | None]:
            return q.sync_starts(c, self.device_id, self.user_id), aq.device_standing(c, self.device_id)

        try:
            ends, refused = await self._db.read(look)
        except Exception as exc:
            log.warning("delivery poll failed: %s", exc)
            return
        finally:
            self._polling = False
        if refused is not None and self._on_refused is not None:
            self._on_refused(refused)
            return
        for conv_id, (_start, end) in ends.items():
            self.on_message(conv_id, end)

    def on_settings(self, read_receipts: bool) -> None:
        self.read_receipts = read_receipts

    # -- the loop ---------------------------------------------------------------------------------------------

    async def _run(self, catch_up: bool = False) -> None:
        try:
            if catch_up:
                await self._catch_up(self._send)
                self.synced = True
                await self._send(sf.synced())
            # No await between this check and the task's end: a notice arriving later starts a new task.
            while self._dirty or self._ready_receipts or self._receipts:
                await self._drain_dirty(self._send)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("delivery feed failed; closing so the client resumes")
            self._on_failure()
        finally:
            self._task = None

    async def _drain_dirty(self, send: Send) -> None:
        dirty, self._dirty = self._dirty, {}
        for conv_id, until in dirty.items():
            await self._drain_one(conv_id, until, send)
        ready, self._ready_receipts = self._ready_receipts, []
        for view in ready:
            await self._send_receipt(view, send)
        receipts, self._receipts = self._receipts, set()
        for conv_id, reader_id in receipts:
            fetched = await self._messaging.receipt_for(self.user_id, conv_id, reader_id)
            if fetched is not None:
                await self._send_receipt(fetched, send)

    async def _catch_up(self, send: Send) -> None:
        me, starts, receipts = await self._messaging.connect_snapshot(self.user_id, self.device_id)
        self.read_receipts = me.read_receipts if me is not None else True
        for conv_id, (start, _end) in starts.items():
            await self._drain(conv_id, start, send)
        # Current watermarks of every conversation, so a sender who was away sees the ticks it missed. The
        # user's own are included: they keep read state in step across the user's devices. (Taken with the
        # starts, before the drain: a watermark that moved meanwhile arrives as a notice after these.)
        for view in receipts:
            await self._send_receipt(view, send)

    async def _send_receipt(self, view: ReceiptView, send: Send) -> None:
        # Only what this viewer can see, and only when it changed: a hidden read position moving must not
        # reach the viewer even as an unchanged frame, or its timing would tell.
        key = (view.conversation_id, view.user_id)
        value = (view.delivered_seq, view.read_seq)
        if self._receipts_sent.get(key) == value:
            return
        self._receipts_sent[key] = value
        await send(sf.receipt(view.conversation_id, view.user_id, view.delivered_seq, view.read_seq))

    async def _drain_one(self, conv_id: str, until: int, send: Send) -> None:
        if conv_id in self._sent:
            after = self._sent[conv_id]
            recent = self._messaging.recent
            cached = recent.after(conv_id, after, until, self.user_id) if recent is not None else None
            if cached is None:
                await self._drain(conv_id, after, send, live=True)
                return
            found, through = cached
            for r in found:
                if r.message.sender_device_id != self.device_id:
                    await send(r.frame_for(self.user_id))
                    self._metrics.delivered(r.message.created_at, True)
            self._sent[conv_id] = max(through, self._sent.get(conv_id, 0))
            return

        def window(conn: Connection) -> tuple[int, int]:
            return q.resume_position(conn, self.device_id, self.user_id, conv_id)

        start, end = await self._db.read(window)
        if end > start:
            await self._drain(conv_id, start, send, live=True)

    async def _drain(self, conv_id: str, after: int, send: Send, live: bool = False) -> None:
        """Send what this user may see after `after`; the query itself applies the membership window, so a
        member who was removed gets nothing past their removal, whatever notices are still in flight. `live`:
        woken by a notice after the catch-up (the messages' delivery latency is counted)."""
        after = max(after, self._sent.get(conv_id, 0))
        while True:
            page, more = await self._db.read(
                lambda c, a=after: q.fetch_page(c, conv_id, self.user_id, a, PAGE, PAGE_BYTES)  # type: ignore[misc]
            )
            for m in page:
                if m.sender_device_id != self.device_id:
                    # Waits while the client is behind: the next page is read only once this one is written.
                    await send(sf.deliver(m, self.user_id))
                    self._metrics.delivered(m.created_at, live)
                after = m.seq
                self._sent[conv_id] = m.seq
            if not more:
                if conv_id not in self._sent:
                    self._sent[conv_id] = after
                return
