"""Property: in a group whose members join and leave while devices drop and reconnect, every device receives
every message of its current membership window exactly once after dedupe, in the one group order, and never a
message from outside the windows it had."""

import asyncio
import contextlib
import json
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hudhud.store import messages as mq
from hudhud.store.schema import messages
from tests.support import running_server
from tests.test_delivery_property import Device

PHONES = ["+201001234567", "+201101234567", "+201201234567", "+201501234567"]

ops = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(0, 3)),
        st.tuples(st.just("drop"), st.integers(0, 3)),
        st.tuples(st.just("connect"), st.integers(0, 3)),
        st.tuples(st.just("ack"), st.integers(0, 3)),
        st.tuples(st.just("remove"), st.integers(1, 3)),
        st.tuples(st.just("add"), st.integers(1, 3)),
    ),
    min_size=5,
    max_size=30,
)


class GroupDevice(Device):
    async def send_group(self, conv: str) -> None:
        mid = uuid.uuid4().hex
        frame = {"type": "send", "id": mid, "conversation_id": conv, "content": {"type": "text", "text": mid}}
        self.outbox[mid] = frame
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.send(json.dumps(frame))


async def scenario(steps) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_server(Path(tmp)) as server:
            hub = server.hub
            users = [await server.make_user(p) for p in PHONES]
            for _, _, tok in users[1:]:
                async with server.http(tok) as c:
                    await c.patch("/v1/me/privacy", json={"group_add": "everyone"})
            owner_id = users[0][0]
            result = await hub.groups.create(owner_id, "prop", "", [u[0] for u in users[1:]])
            conv = result.conversation_id
            devices = [GroupDevice(tok, uid, server.ws_url) for uid, _, tok in users]
            member = [True] * 4
            windows: list[list[list[int]]] = [[[1 if i == 0 else 2, 10**9]] for i in range(4)]
            for kind, i in steps:
                dev = devices[i]
                if kind == "send" and member[i]:
                    await dev.send_group(conv)
                elif kind == "drop":
                    await dev.drop()
                elif kind == "connect":
                    await dev.connect()
                elif kind == "ack":
                    await dev.ack()
                elif kind == "remove" and member[i]:
                    # Let in-flight sends from this member land first, as a client waits for its acks.
                    await wait_outbox(dev)
                    await hub.groups.remove_member(owner_id, conv, users[i][0])
                    member[i] = False
                    # The window ends at the removal itself (read from the member row: other members' sends
                    # may commit between the removal and any later look at the group's last seq).
                    windows[i][-1][1] = (await member_row(hub, conv, users[i][0])).left_seq
                    dev.outbox.clear()
                elif kind == "add" and not member[i]:
                    await hub.groups.add_members(owner_id, conv, [users[i][0]])
                    member[i] = True
                    windows[i].append([(await member_row(hub, conv, users[i][0])).joined_seq + 1, 10**9])
            for dev in devices:
                await dev.connect()
            for dev in devices:
                await wait_outbox(dev)
            assert not any(dev.outbox for dev in devices), "outbox not drained"
            for dev in devices:
                await dev.drop()
                await dev.connect()
                await asyncio.wait_for(dev.synced.wait(), 10)

            stored = await hub.db.read(
                lambda c: c.execute(
                    select(messages.c.seq, messages.c.client_msg_id).where(messages.c.conversation_id == conv)
                ).all()
            )
            by_seq = {seq: mid for seq, mid in stored}
            assert sorted(by_seq) == list(range(1, len(by_seq) + 1))
            assert len(set(by_seq.values())) == len(by_seq), "a retry created a second message"
            for i, dev in enumerate(devices):
                got = {seq: mid for (c, seq), mid in dev.seen.items() if c == conv}
                for seq, mid in got.items():
                    assert by_seq.get(seq) == mid, "a device saw a message that is not the stored one"
                    assert any(lo <= seq <= hi for lo, hi in windows[i]), f"device {i} got {seq} outside its windows"
                lo, hi = windows[i][-1]
                if member[i]:
                    want = {s for s in by_seq if lo <= s <= hi}
                    assert want <= set(got), f"device {i} is missing {sorted(want - set(got))}"
                for session in dev.session_log:
                    mine = [s for c, s in session if c == conv]
                    assert mine == sorted(set(mine)), "duplicate or out of order within one connection"
            for dev in devices:
                await dev.drop()


async def member_row(hub, conv, user_id):
    return await hub.db.read(lambda conn: mq.get_member(conn, conv, user_id))


async def wait_outbox(dev) -> None:
    for _ in range(2000):
        if not dev.outbox or dev.ws is None:
            return
        await asyncio.sleep(0.01)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_group_delivery_with_joins_and_leaves(steps):
    asyncio.run(scenario(steps))
