"""Sending: messages, forwards and broadcasts go into the profile's outbox and out over the session, once
(see the guarantees in `hudhud.client.sdk`). The counterpart of the outbox in the browser's `webapp/src/net/`."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from hudhud.client.net.core import _Job, wait_event
from hudhud.client.net.protocol import (
    FORWARD_GRACE,
    MAX_BROADCAST_ID,
    MAX_CONTENT_BYTES,
    MAX_FORWARD_TARGETS,
    PERMANENT_SEND_ERRORS,
    WHOLE_FORWARD_ERRORS,
    BroadcastSent,
    Forwarded,
    SendFailed,
    SendRejected,
    Sent,
)
from hudhud.client.net.rest import RestCalls
from hudhud.client.records import OutboxEntry


class Outbox(RestCalls):
    """The outbox and the answers to what it sent (`sent`, a forward's and a broadcast's replies)."""

    # -- sending ----------------------------------------------------------------------------------------------

    async def send(
        self,
        content: Any,
        *,
        to: str | None = None,
        conversation_id: str | None = None,
        msg_id: str | None = None,
        media: tuple[str, ...] | list[str] = (),
    ) -> str:
        """Queue a message (durably) and return its client message id; the session delivers it. `media` lists
        the uploaded media the message refers to (see `upload_file`), which lets its recipients download them."""
        if (to is None) == (conversation_id is None):
            raise ValueError("give exactly one of to and conversation_id")
        size = len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_CONTENT_BYTES:
            raise ValueError(f"content is {size} bytes; the limit is {MAX_CONTENT_BYTES}")
        msg_id = msg_id or uuid.uuid4().hex
        self.store.outbox_put(msg_id, content, to_user=to, conversation_id=conversation_id, media=tuple(media))
        if self._outbox_wake is not None:
            self._outbox_wake.set()
        return msg_id

    async def send_text(
        self, text: str, *, to: str | None = None, conversation_id: str | None = None, reply_to: int | None = None
    ) -> str:
        content: dict[str, Any] = {"type": "text", "text": text}
        if reply_to is not None:
            content["reply_to"] = reply_to
        return await self.send(content, to=to, conversation_id=conversation_id)

    def outbox(self) -> list[OutboxEntry]:
        return self.store.outbox()

    async def wait_sent(self, msg_id: str, timeout: float | None = None) -> Sent | None:
        """Wait for the server's acknowledgement of a queued message. None on timeout (it stays queued);
        SendRejected if the server refused it; NotLoggedIn if the session lost its login."""
        self._events_init()
        if self.store.outbox_get(msg_id) is None:
            info = self.store.sent_info(msg_id)
            if info is None:
                raise KeyError(f"no queued or sent message with id {msg_id!r}")
            return Sent(msg_id, info[0], info[1], info[2], True)
        fut = self._sent_waiters.get(msg_id)
        if fut is None or fut.done():
            fut = asyncio.get_running_loop().create_future()
            self._sent_waiters[msg_id] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return None

    async def forward(
        self,
        conversation_id: str,
        seq: int,
        targets: list[str | dict[str, str]],
        *,
        msg_id: str | None = None,
        preview: Any = None,
    ) -> str:
        """Queue a forward of message `seq` of `conversation_id` to 1 to 5 chats, each a user id (u…: our direct
        chat), a conversation id (c…), or {"to": user id} / {"conversation_id": id}. The server copies the
        content and counts the hop. Returns the request id (see `wait_forwarded`).

        `preview` is the message's content if the caller has it: the copies are cached with it (for ticks and
        local display); by default the local cache is asked, and without it the copies have no content here."""
        if not 1 <= len(targets) <= MAX_FORWARD_TARGETS:
            raise ValueError(f"forward to 1 to {MAX_FORWARD_TARGETS} chats")
        parsed: list[dict[str, str]] = []
        for t in targets:
            if isinstance(t, dict):
                keys = [k for k in ("to", "conversation_id") if t.get(k)]
                if len(keys) != 1:
                    raise ValueError("each target has exactly one of 'to' and 'conversation_id'")
                parsed.append({keys[0]: str(t[keys[0]])})
            elif t.startswith("c"):
                parsed.append({"conversation_id": t})
            else:
                parsed.append({"to": t})
        msg_id = msg_id or uuid.uuid4().hex
        if len(msg_id) > 60:
            raise ValueError("a forward's id is at most 60 characters")
        content: dict[str, Any] = {"source": {"conversation_id": conversation_id, "seq": int(seq)}, "targets": parsed}
        if preview is None:
            cached = self.store.cached_message(conversation_id, int(seq))
            preview = cached.content if cached is not None else None
        if preview is not None:
            content["preview"] = preview  # kept locally, never sent
        self.store.outbox_put(msg_id, content, kind="forward")
        if self._outbox_wake is not None:
            self._outbox_wake.set()
        return msg_id

    async def broadcast(self, list_id: str, content: Any, *, msg_id: str | None = None) -> str:
        """Queue `content` for every recipient of broadcast list `list_id`, each as a one-to-one message (only
        recipients who have me in their contacts get it). Returns the request id (see `wait_broadcast`)."""
        size = len(json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_CONTENT_BYTES:
            raise ValueError(f"content is {size} bytes; the limit is {MAX_CONTENT_BYTES}")
        msg_id = msg_id or uuid.uuid4().hex[:24]
        if len(msg_id) > MAX_BROADCAST_ID:
            raise ValueError(f"a broadcast's id is at most {MAX_BROADCAST_ID} characters")
        self.store.outbox_put(msg_id, {"list_id": list_id, "content": content}, kind="broadcast")
        if self._outbox_wake is not None:
            self._outbox_wake.set()
        return msg_id

    async def broadcast_text(self, list_id: str, text: str) -> str:
        return await self.broadcast(list_id, {"type": "text", "text": text})

    async def wait_forwarded(self, msg_id: str, timeout: float | None = None) -> Forwarded | None:
        """Wait until every target of a queued forward answered. None on timeout (it stays queued);
        SendRejected if no target took it; NotLoggedIn if the session lost its login."""
        result = await self._wait_job(msg_id, "forward", timeout)
        assert result is None or isinstance(result, Forwarded)
        return result

    async def wait_broadcast(self, msg_id: str, timeout: float | None = None) -> BroadcastSent | None:
        """Wait for a queued broadcast's outcome. None on timeout (it stays queued); SendRejected if the server
        refused it; NotLoggedIn if the session lost its login."""
        result = await self._wait_job(msg_id, "broadcast", timeout)
        assert result is None or isinstance(result, BroadcastSent)
        return result

    async def _wait_job(self, msg_id: str, kind: str, timeout: float | None) -> Forwarded | BroadcastSent | None:
        self._events_init()
        entry = self.store.outbox_get(msg_id)
        if entry is None:
            done = self.store.job_result(msg_id)
            if done is None or done[0] != kind:
                raise KeyError(f"no queued or finished {kind} with id {msg_id!r}")
            return _job_event(msg_id, done[0], done[1])
        fut = self._job_waiters.get(msg_id)
        if fut is None or fut.done():
            fut = asyncio.get_running_loop().create_future()
            self._job_waiters[msg_id] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            return None

    def _job_for(self, frame: dict[str, Any]) -> _Job | None:
        """The forward or broadcast a reply belongs to: by its ref, else by the id it was derived from."""
        ref = frame.get("ref")
        if isinstance(ref, str) and ref in self._jobs:
            return self._jobs[ref]
        base = str(frame.get("id", "")).rpartition("#")[0]
        return self._jobs.get(base) if base else None

    def _on_sent(self, frame: dict[str, Any]) -> None:
        msg_id = str(frame["id"])
        job = self._job_for(frame)
        if job is not None and job.entry.kind == "forward" and msg_id != job.entry.id:
            self._on_forward_sent(job, frame)
            return
        conv, seq, ts = str(frame["conversation_id"]), int(frame["seq"]), float(frame.get("ts", 0.0))
        me, device = self.store.user_id or "", self.store.device_id or ""
        _, cur = self.store.record_sent(msg_id, conv, seq, ts, me, device)
        self._inflight.pop(msg_id, None)
        event = Sent(msg_id, conv, seq, ts, bool(frame.get("duplicate", False)))
        fut = self._sent_waiters.pop(msg_id, None)
        if fut is not None and not fut.done():
            fut.set_result(event)
        self._emit(event)
        self._emit_ticks(self.store.refresh_ticks(conv, me))
        if self.receive:
            self._schedule_ack(conv, cur)
        assert self._outbox_wake is not None
        self._outbox_wake.set()

    def _record_copy(self, msg_id: str, conv: str, seq: int, ts: float, content: Any) -> Sent:
        """One of our messages made by the server (a forward's or broadcast's copy): cache it as our own."""
        me, device = self.store.user_id or "", self.store.device_id or ""
        _, cur = self.store.record_sent(msg_id, conv, seq, ts, me, device, content=content)
        self._emit_ticks(self.store.refresh_ticks(conv, me))
        if self.receive:
            self._schedule_ack(conv, cur)
        return Sent(msg_id, conv, seq, ts, False)

    def _on_forward_sent(self, job: _Job, frame: dict[str, Any]) -> None:
        msg_id = str(frame["id"])
        try:
            index = int(msg_id.rpartition("#")[2])
        except ValueError:
            return
        sent = self._record_copy(
            msg_id,
            str(frame["conversation_id"]),
            int(frame["seq"]),
            float(frame.get("ts", 0.0)),
            job.entry.content.get("preview"),
        )
        sent = Sent(sent.id, sent.conversation_id, sent.seq, sent.ts, bool(frame.get("duplicate", False)))
        job.results[index] = sent
        self._emit(sent)
        if len(job.results) + len(job.errors) >= job.size:
            self._finish_job(job)

    def _on_broadcast_sent(self, frame: dict[str, Any]) -> None:
        job = self._job_for(frame)
        msg_id = str(frame.get("id", ""))
        content = job.entry.content.get("content") if job is not None else None
        messages: list[tuple[str, int]] = []
        now = time.time()
        for m in frame.get("messages") or []:
            conv, seq = str(m["conversation_id"]), int(m["seq"])
            messages.append((conv, seq))
            # The copy's id on the server is "<id>#<recipient>"; the conversation stands in for the recipient.
            self._record_copy(f"{msg_id}#{conv}", conv, seq, now, content)
        if job is None:
            return
        total = int(frame.get("total") or 0)
        reached = int(frame.get("reached") or len(messages))
        self._finish_job(
            job, BroadcastSent(job.entry.id, str(frame.get("list_id", "")), total, reached, tuple(messages))
        )

    def _finish_job(self, job: _Job, outcome: BroadcastSent | None = None) -> None:
        """A forward or broadcast is done: leave the outbox, keep the outcome, tell the waiters."""
        entry = job.entry
        if self._jobs.get(entry.id) is not job:
            return  # finished already (a late timer), or superseded by a resend
        if job.timer is not None:
            job.timer.cancel()
        del self._jobs[entry.id]
        self._inflight.pop(entry.id, None)
        event: Forwarded | BroadcastSent | None = None
        data: dict[str, Any] = {"errors": [list(e) for e in job.errors]}
        if outcome is not None:
            event = outcome
            data.update(
                list_id=outcome.list_id,
                total=outcome.total,
                reached=outcome.reached,
                messages=[list(m) for m in outcome.messages],
            )
        elif entry.kind == "forward":
            messages = tuple(job.results.get(i) for i in range(job.size))
            data["messages"] = [None if m is None else [m.conversation_id, m.seq, m.ts] for m in messages]
            if any(messages):
                event = Forwarded(entry.id, messages, tuple(job.errors))
        self.store.finish_job(entry.id, entry.kind, data)
        fut = self._job_waiters.pop(entry.id, None)
        code, message = job.errors[0] if job.errors else ("refused", "the server refused it")
        if event is None:  # refused as a whole
            if fut is not None and not fut.done():
                fut.set_exception(SendRejected(entry.id, code, message))
            self._emit(SendFailed(entry.id, code, message))
        else:
            if fut is not None and not fut.done():
                fut.set_result(event)
            self._emit(event)
        assert self._outbox_wake is not None
        self._outbox_wake.set()

    def _job_error(self, job: _Job, code: str, message: str, retry_after: float | None) -> None:
        entry = job.entry
        if code not in PERMANENT_SEND_ERRORS:
            # Transient: send the whole request again a bit later; the copies already made are deduped.
            if job.timer is not None:
                job.timer.cancel()
            self._jobs.pop(entry.id, None)
            self._inflight.pop(entry.id, None)
            pause = retry_after if retry_after is not None else 1.0
            self._pause_until = max(self._pause_until, time.monotonic() + pause)
            assert self._outbox_wake is not None
            self._outbox_wake.set()
            return
        job.errors.append((code, message))
        if entry.kind == "broadcast" or code in WHOLE_FORWARD_ERRORS or len(job.results) + len(job.errors) >= job.size:
            self._finish_job(job)
        elif job.timer is None:
            job.timer = asyncio.get_running_loop().call_later(FORWARD_GRACE, self._finish_job, job)

    def _drop_jobs(self) -> None:
        """The connection is gone: whatever was in flight is sent again on the next one."""
        for job in self._jobs.values():
            if job.timer is not None:
                job.timer.cancel()
        self._jobs.clear()

    async def _outbox_pump(self) -> None:
        """Send what is queued: per target, the oldest entry not yet acknowledged, one at a time. Rescans
        every few seconds too, to pick up entries queued by another process using the same profile."""
        assert self._outbox_wake is not None
        while True:
            self._outbox_wake.clear()
            wait = self._pause_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            busy: set[str] = set()
            for entry in self.store.outbox():
                targets = entry.targets
                blocked = any(t in busy for t in targets)
                busy.update(targets)
                if blocked or entry.id in self._inflight:
                    continue
                frame = self._frame_for(entry)
                if entry.kind != "send":
                    self._jobs[entry.id] = _Job(entry)
                self._inflight[entry.id] = entry.target
                self.stats.sends += 1
                await self._send_frame(frame)
            await wait_event(self._outbox_wake, 5.0)

    @staticmethod
    def _frame_for(entry: OutboxEntry) -> dict[str, Any]:
        if entry.kind == "forward":
            return {
                "type": "forward",
                "id": entry.id,
                "ref": entry.id,
                "source": entry.content["source"],
                "targets": entry.content["targets"],
            }
        if entry.kind == "broadcast":
            return {
                "type": "broadcast",
                "id": entry.id,
                "ref": entry.id,
                "list_id": entry.content["list_id"],
                "content": entry.content["content"],
            }
        frame: dict[str, Any] = {"type": "send", "id": entry.id, "ref": entry.id, "content": entry.content}
        if entry.media:
            frame["media"] = list(entry.media)
        if entry.conversation_id is not None:
            frame["conversation_id"] = entry.conversation_id
        else:
            frame["to"] = entry.to_user
        return frame


def _job_event(msg_id: str, kind: str, data: dict[str, Any]) -> Forwarded | BroadcastSent:
    """A finished forward or broadcast, rebuilt from what `StateStore.finish_job` kept."""
    errors = tuple((str(c), str(t)) for c, t in data.get("errors", []))
    code, message = errors[0] if errors else ("refused", "the server refused it")
    if kind == "broadcast":
        if "total" not in data:
            raise SendRejected(msg_id, code, message)
        return BroadcastSent(
            msg_id,
            str(data.get("list_id", "")),
            int(data.get("total", 0)),
            int(data.get("reached", 0)),
            tuple((str(c), int(s)) for c, s in data.get("messages", [])),
        )
    messages = tuple(
        None if m is None else Sent(f"{msg_id}#{i}", str(m[0]), int(m[1]), float(m[2]), True)
        for i, m in enumerate(data.get("messages", []))
    )
    if not any(messages):
        raise SendRejected(msg_id, code, message)
    return Forwarded(msg_id, messages, errors)
