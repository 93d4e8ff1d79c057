"""A steady stream of one-to-one and group messages between SDK clients spread over the cluster, everything they
send and are handed recorded, and the checks made on it once the stream has drained: every acknowledged message
reached every recipient device exactly once, in seq order per conversation, and nothing was shown twice."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import connect

from hudhud.client.sdk import ConnState, Delivered, Event, HudhudClient, Sent, ServerErrorEvent, StateChanged
from hudhud.client.state import StateStore
from tests.cluster.harness import Account
from tests.support import RawClient


def now() -> float:
    return time.monotonic()


@dataclass
class Delivery:
    conversation_id: str
    seq: int
    msg_id: str
    sender: str
    system: bool
    at: float


@dataclass
class Participant:
    """One user's one device: a HudhudClient (outbox, reconnect, dedupe) and what it saw."""

    name: str
    account: Account
    server: str
    client: HudhudClient
    queued: dict[str, tuple[str, float]] = field(default_factory=dict)  # msg id -> (target, when queued)
    order: dict[str, list[str]] = field(default_factory=dict)  # target -> msg ids in the order queued
    acked: dict[str, tuple[str, int, float]] = field(default_factory=dict)  # msg id -> (conversation, seq, when)
    ack_conflicts: list[str] = field(default_factory=list)  # ids acknowledged twice with different seqs
    deliveries: list[Delivery] = field(default_factory=list)
    states: list[tuple[float, ConnState, str]] = field(default_factory=list)
    errors: list[tuple[float, str, Any]] = field(default_factory=list)
    targets: list[dict[str, str]] = field(default_factory=list)
    sent_count: int = 0

    @property
    def user_id(self) -> str:
        return self.account.user_id

    def on_event(self, event: Event) -> None:
        t = now()
        if isinstance(event, Sent):
            first = self.acked.setdefault(event.id, (event.conversation_id, event.seq, t))
            if (first[0], first[1]) != (event.conversation_id, event.seq):
                self.ack_conflicts.append(event.id)
        elif isinstance(event, Delivered):
            m = event.message
            self.deliveries.append(Delivery(m.conversation_id, m.seq, m.id, m.sender_user_id, m.system, t))
        elif isinstance(event, StateChanged):
            self.states.append((t, event.state, event.detail))
        elif isinstance(event, ServerErrorEvent):
            self.errors.append((t, event.code, event.ref))


class Traffic:
    """`users` participants in one-to-one pairs (0-1, 2-3, …) and two groups, each sending one message every
    `interval` seconds (with jitter), to its peer and its groups in turn."""

    def __init__(self, accounts: list[Account], workdir: Path, servers: list[str], *, interval: float = 0.4) -> None:
        assert len(accounts) % 2 == 0
        self.interval = interval
        self.participants: list[Participant] = []
        for i, acct in enumerate(accounts):
            server = servers[i % len(servers)]
            profile = workdir / f"profile-{i}"
            store = StateStore(profile)
            store.save_login(server, acct.phone, acct.user_id, acct.device_id, acct.token)
            # A real app's reconnect (full jitter), with a shorter cap so the suite is not slow.
            client = HudhudClient(
                store, server=server, backoff_base=0.2, backoff_cap=2.0, stable_after=3.0, connect_timeout=5.0
            )
            p = Participant(f"p{i}", acct, server, client)
            client.on_event(p.on_event)
            self.participants.append(p)
        self.members: dict[str, set[str]] = {}  # conversation -> member user ids (groups; direct ones learned)
        self.groups: list[str] = []
        self._senders: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._rng = random.Random(11)

    async def setup(self) -> None:
        """Everyone in everyone's contacts (so groups add them at once and presence is visible), two groups."""
        ps = self.participants
        entries = [(p.account.phone, p.name) for p in ps]
        await asyncio.gather(*(p.client.add_contacts([e for e in entries if e[0] != p.account.phone]) for p in ps))
        for i in range(0, len(ps), 2):
            ps[i].targets.append({"to": ps[i + 1].user_id})
            ps[i + 1].targets.append({"to": ps[i].user_id})
        half = len(ps) // 2
        for owner, members in ((ps[0], ps[:half]), (ps[1], [*ps[half:], ps[1]])):
            g = await owner.client.create_group(f"group of {owner.name}", members=[m.user_id for m in members])
            assert not g["invited"], g
            conv = g["conversation_id"]
            self.groups.append(conv)
            self.members[conv] = {m.user_id for m in members} | {owner.user_id}
            for m in {m.name: m for m in [*members, owner]}.values():
                m.targets.append({"conversation_id": conv})
        for p in ps:
            p.client.start()
        await asyncio.gather(*(p.client.wait_synced(timeout=60) for p in ps))

    # -- the stream -------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._senders = [asyncio.create_task(self._send_loop(p)) for p in self.participants]

    async def _send_loop(self, p: Participant) -> None:
        rng = random.Random(p.name)
        await asyncio.sleep(rng.uniform(0, self.interval))
        turn = 0
        while not self._stop.is_set():
            target = p.targets[turn % len(p.targets)]
            turn += 1
            key = target.get("to") or target["conversation_id"]
            msg_id = f"{p.name}-{p.sent_count}"
            p.sent_count += 1
            p.queued[msg_id] = (key, now())
            p.order.setdefault(key, []).append(msg_id)
            await p.client.send({"type": "text", "text": f"{p.name} #{p.sent_count}"}, msg_id=msg_id, **target)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), rng.uniform(0.5, 1.5) * self.interval)

    async def stop_sending(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._senders)
        self._senders = []

    def queued_total(self) -> int:
        return sum(len(p.queued) for p in self.participants)

    # -- outcomes ---------------------------------------------------------------------------------------------

    def recipients(self, sender: Participant, conversation_id: str, target: str) -> list[Participant]:
        users = self.members[conversation_id] - {sender.user_id} if conversation_id in self.members else {target}
        return [p for p in self.participants if p.user_id in users]

    def expected(self) -> list[tuple[Participant, str, Participant, str, int]]:
        """(sender, msg id, recipient, conversation, seq) for every acknowledged message and recipient."""
        out = []
        for s in self.participants:
            for msg_id, (conv, seq, _) in s.acked.items():
                for r in self.recipients(s, conv, s.queued[msg_id][0]):
                    out.append((s, msg_id, r, conv, seq))
        return out

    def missing(self, acked_before: float = float("inf")) -> list[tuple[str, str, str, int]]:
        got = {(r.name, d.conversation_id, d.seq) for r in self.participants for d in r.deliveries if not d.system}
        return [
            (s.name, r.name, conv, seq)
            for s, mid, r, conv, seq in self.expected()
            if (r.name, conv, seq) not in got and s.acked[mid][2] < acked_before
        ]

    async def wait_delivered(self, acked_before: float, timeout: float) -> None:
        """Wait (the stream going on) until every message acknowledged before `acked_before` has reached every
        recipient."""
        deadline = now() + timeout
        while missing := self.missing(acked_before):
            if now() > deadline:
                raise AssertionError(f"{len(missing)} deliveries missing after {timeout:.0f} s: {missing[:5]}")
            await asyncio.sleep(0.1)

    async def database_sessions(self, database_url: str) -> list[str]:
        """The database's sessions other than idle ones (for the failure message of a stuck stream)."""
        engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 120) "
                            "FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle' "
                            "AND pid <> pg_backend_pid()"
                        )
                    )
                ).all()
        finally:
            await engine.dispose()
        return [" | ".join(str(v) for v in r) for r in rows]

    async def drain(self, timeout: float = 90.0, database_url: str | None = None) -> float:
        """Stop sending; wait until every outbox is empty and every acknowledged message has reached every
        recipient. Seconds it took."""
        await self.stop_sending()
        start = now()
        deadline = start + timeout
        while True:
            unacked = [mid for p in self.participants for mid in p.queued if mid not in p.acked]
            missing = self.missing()
            if not unacked and not missing:
                return now() - start
            if now() > deadline:
                states = {p.name: p.client.state.value for p in self.participants}
                for p in self.participants:
                    if any(mid not in p.acked for mid in p.queued):
                        print(f"[cluster] stuck {p.name} ({p.server}): {self.diagnose(p)}")
                if database_url is not None:
                    for line in await self.database_sessions(database_url):
                        print(f"[cluster] database session: {line}")
                raise AssertionError(
                    f"after {timeout:.0f} s: {len(unacked)} messages never acknowledged ({unacked[:5]}), "
                    f"{len(missing)} deliveries missing ({missing[:5]}); client states {states}"
                )
            await asyncio.sleep(0.2)

    def diagnose(self, p: Participant) -> str:
        """What a client that stopped making progress last saw (for the failure message)."""
        t0 = now()
        c = p.client
        last_ack = max((t for _, _, t in p.acked.values()), default=0.0)
        last_delivery = max((d.at for d in p.deliveries), default=0.0)
        return (
            f"states {[(round(t - t0, 1), s.value, d) for t, s, d in p.states[-8:]]}; "
            f"errors {[(round(t - t0, 1), code) for t, code, _ in p.errors[-8:]]}; "
            f"last ack {t0 - last_ack:.1f} s ago, last delivery {t0 - last_delivery:.1f} s ago; "
            f"stats {c.stats}; outbox {len(c.outbox())}; in flight {dict(c._inflight)}; "
            f"paused for {c._pause_until - time.monotonic():.1f} s; {self._socket_state(c)}"
        )

    @staticmethod
    def _socket_state(c: HudhudClient) -> str:
        ws = c._ws
        if ws is None:
            return "no socket"
        frames = getattr(getattr(ws, "recv_messages", None), "frames", None)
        tasks = [(t.get_name(), t.done()) for t in c._conn_tasks]
        return (
            f"socket {ws.state.name}, frames waiting to be read {len(frames) if frames is not None else '?'}, "
            f"latency {ws.latency:.3f} s, send in progress {ws.send_in_progress is not None}, "
            f"writing paused {getattr(ws, 'paused', '?')}, tasks (name, done) {tasks}"
        )

    def check(self) -> None:
        """Zero loss, zero duplicates, order per conversation (after `drain`)."""
        assert not self.missing()
        for p in self.participants:
            assert not p.ack_conflicts, f"{p.name}: ids acknowledged with two different seqs: {p.ack_conflicts}"
            assert set(p.acked) == set(p.queued), f"{p.name}: queued but never acknowledged"
            # Nothing is shown twice: not the same seq, not the same message under two seqs.
            seen = collections.Counter((d.conversation_id, d.seq) for d in p.deliveries)
            dups = [k for k, n in seen.items() if n > 1]
            assert not dups, f"{p.name} was handed these twice: {dups[:5]}"
            ids = collections.Counter((d.sender, d.msg_id) for d in p.deliveries if not d.system)
            dups_by_id = [k for k, n in ids.items() if n > 1]
            assert not dups_by_id, f"{p.name} was handed one message under two seqs: {dups_by_id[:5]}"
            # In seq order within each conversation.
            per_conv: dict[str, list[int]] = collections.defaultdict(list)
            for d in p.deliveries:
                per_conv[d.conversation_id].append(d.seq)
            for conv, seqs in per_conv.items():
                assert seqs == sorted(seqs), f"{p.name} got {conv} out of order: {seqs}"
            # A sender's messages are numbered in the order it queued them.
            for key, ids_in_order in p.order.items():
                seqs = [p.acked[mid][1] for mid in ids_in_order]
                assert seqs == sorted(seqs), f"{p.name}'s messages to {key} were stored out of order"
        # Each delivery is the message that was acknowledged under that seq.
        by_seq = {(conv, seq): (s.user_id, mid) for s in self.participants for mid, (conv, seq, _) in s.acked.items()}
        for r in self.participants:
            for d in r.deliveries:
                if not d.system and (d.conversation_id, d.seq) in by_seq:
                    assert by_seq[(d.conversation_id, d.seq)] == (d.sender, d.msg_id)

    async def check_store(self, database_url: str) -> None:
        """The database holds each acknowledged message once, and nothing else from these devices."""
        acked = {(p.account.device_id, mid) for p in self.participants for mid in p.acked}
        devices = sorted({p.account.device_id for p in self.participants})
        engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://"))
        try:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text(
                            "SELECT sender_device_id, client_msg_id FROM messages WHERE kind = 'user' "
                            "AND sender_device_id = ANY(:devices)"
                        ),
                        {"devices": devices},
                    )
                ).all()
        finally:
            await engine.dispose()
        stored = [(r[0], r[1]) for r in rows]
        assert len(stored) == len(set(stored)), "a message stored twice"
        assert set(stored) == acked, "the store and the acknowledgements differ"

    # -- figures ----------------------------------------------------------------------------------------------

    def latencies(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        """Seconds from queueing to being handed to each recipient, for messages queued in [since, until]."""
        queued_at = {(s.user_id, mid): s.queued[mid][1] for s in self.participants for mid in s.queued}
        out = []
        for r in self.participants:
            for d in r.deliveries:
                t = queued_at.get((d.sender, d.msg_id))
                if t is not None and since <= t <= until:
                    out.append(d.at - t)
        return out

    def reconnects(self, since: float) -> dict[str, float]:
        """For each client that left SYNCED after `since`: seconds from `since` until it was SYNCED again."""
        out: dict[str, float] = {}
        for p in self.participants:
            left = None
            for t, state, _ in p.states:
                if t < since:
                    continue
                if state is not ConnState.SYNCED and left is None:
                    left = t
                elif state is ConnState.SYNCED and left is not None:
                    out[p.name] = t - since
                    break
        return out

    def close_reasons(self, since: float) -> collections.Counter[str]:
        return collections.Counter(
            detail for p in self.participants for t, s, detail in p.states if t >= since and s is ConnState.DISCONNECTED
        )

    def error_codes(self, since: float = 0.0) -> collections.Counter[str]:
        return collections.Counter(code for p in self.participants for t, code, _ in p.errors if t >= since)

    async def close(self) -> None:
        if self._senders:
            await self.stop_sending()
        await asyncio.gather(*(p.client.aclose() for p in self.participants), return_exceptions=True)


def summary(values: list[float]) -> str:
    if not values:
        return "none"
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    median = statistics.median(values)
    return f"n={len(values)} median {median * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {values[-1] * 1000:.0f} ms"


def report(case: str, lines: dict[str, Any]) -> None:
    print(f"\n[cluster] {case}")
    for k, v in lines.items():
        print(f"[cluster]   {k}: {v}")


# -- presence and revocation across nodes ----------------------------------------------------------------------


def ws_url(http_url: str) -> str:
    return http_url.replace("http://", "ws://") + "/v1/ws"


async def raw_client(http_url: str, token: str) -> RawClient:
    c = RawClient(await connect(ws_url(http_url), open_timeout=10))
    await c.send({"type": "hello", "v": 1, "token": token})
    await c.expect("welcome", timeout=15)
    await c.expect("synced", timeout=15)
    return c


async def everyone_sees_presence(http_url: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=http_url, timeout=10) as c:
        r = await c.patch(
            "/v1/me/privacy", json={"last_seen": "everyone"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text


async def probe_presence(watcher_url: str, watched_url: str, watcher: Account, watched: Account) -> dict[str, float]:
    """A watcher on one node sees a user on another node come online, then go offline. Seconds each took."""
    await everyone_sees_presence(watched_url, watched.token)
    w = await raw_client(watcher_url, watcher.token)
    try:
        await w.send({"type": "presence_subscribe", "user_ids": [watched.user_id]})
        first = await w.expect("presence", timeout=10, user_id=watched.user_id)
        assert first["status"] == "offline", first
        t = now()
        x = await raw_client(watched_url, watched.token)
        await w.expect("presence", timeout=15, user_id=watched.user_id, status="online")
        online = now() - t
        t = now()
        await x.close()
        await w.expect("presence", timeout=15, user_id=watched.user_id, status="offline")
        offline = now() - t
    finally:
        await w.close()
    return {"online": online, "offline": offline}


async def probe_revocation(rest_url: str, socket_url: str, victim: Account) -> float:
    """Revoking a device through REST on one node closes its WebSocket on another with device_revoked."""
    x = await raw_client(socket_url, victim.token)
    t = now()
    async with httpx.AsyncClient(base_url=rest_url, timeout=10) as c:
        r = await c.delete(f"/v1/devices/{victim.device_id}", headers={"Authorization": f"Bearer {victim.token}"})
        assert r.status_code == 204, r.text
    err = await x.expect("error", timeout=15, code="device_revoked")
    assert err["code"] == "device_revoked"
    await asyncio.wait_for(x.closed.wait(), 15)
    took = now() - t
    assert x.close_code == 4401, x.close_code
    return took


async def probe_across_nodes(urls: list[str], accounts: list[Account]) -> dict[str, float]:
    """Presence from node 0's point of view of a user on node 1, and a revocation asked on node 2 of a device
    connected to node 0."""
    watcher, watched, victim = accounts
    presence = await probe_presence(urls[0], urls[1], watcher, watched)
    revoked = await probe_revocation(urls[2], urls[0], victim)
    return {"presence online": presence["online"], "presence offline": presence["offline"], "revocation": revoked}
