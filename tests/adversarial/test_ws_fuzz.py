"""A frame fuzzer over the real WebSocket: random and mutated frames (known kinds with wrong types, huge
numbers, deep nesting, unknown fields, binary messages, bad JSON, bad UTF-8) from one client, on one server
that runs through the whole test. After each example:

* the fuzzing client got only error codes that docs/protocol.md section 11 lists (and never
  `internal_error`), and if it was closed, with a close code section 4.4 lists;
* the server did not drop it without a close frame (a crash of its handler);
* a separate healthy pair of clients can still send and receive, and the chat list and history of the
  fuzzing user and of the user it can write to still answer;
* nothing half-done is stored: every conversation's messages are numbered 1..last_seq without a hole, and
  every message's sender is a member of its conversation.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, text
from websockets.asyncio.client import connect

from hudhud.app import Hudhud
from tests.adversarial.rawws import BINARY, TEXT, RawSocket, close_code, frame
from tests.support import running_server

PROTOCOL = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
SECTION_11 = PROTOCOL[PROTOCOL.index("## 11. Error codes") : PROTOCOL.index("## 12. Protocol versions")]
DOCUMENTED_CODES = set(re.findall(r"^\| `([a-z_]+)` \|", SECTION_11, flags=re.M))
SECTION_44 = PROTOCOL[PROTOCOL.index("### 4.4 Close codes") : PROTOCOL.index("### 4.5 Client frames")]
DOCUMENTED_CLOSES = {int(c) for c in re.findall(r"^\| (\d{4}) \|", SECTION_44, flags=re.M)} | {1000}

KINDS = ["hello", "send", "forward", "broadcast", "ack", "read", "typing", "presence_subscribe", "ping"]
FIELDS = ["type", "id", "to", "conversation_id", "content", "seq", "state", "user_ids", "source", "targets",
          "list_id", "media", "v", "token", "ref", "unknown_field"]  # fmt: skip


class Live:
    """The server, on a thread and event loop of its own, with a fuzzing user and a healthy pair."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ready = threading.Event()
        self.users: dict[str, tuple[str, str]] = {}
        self.url = ""
        self.hub: Hudhud | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async with running_server(self.tmp) as server:
            for name, phone in [("fuzz", "+201001234567"), ("h1", "+201101234567"), ("h2", "+201201234567")]:
                user_id, _, token = await server.make_user(phone, name)
                self.users[name] = (user_id, token)
            self.url = server.url
            self.hub = server.hub
            self.loop = asyncio.get_running_loop()
            self.stop = asyncio.Event()
            self.ready.set()
            await self.stop.wait()

    def __enter__(self) -> Live:
        self.thread.start()
        assert self.ready.wait(30), "server did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self.loop is not None and self.stop is not None
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(15)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with Live(tmp_path_factory.mktemp("fuzz")) as server:
        yield server


# -- strategies -------------------------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
)
values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=8), kids, max_size=5),
    max_leaves=25,
)


def frames_for(live: Live) -> st.SearchStrategy[tuple[int, bytes]]:
    ids = [live.users["fuzz"][0], live.users["h1"][0], "unosuchuser", "", "c" + "9" * 16]
    known = st.sampled_from(ids)
    field_values = st.one_of(known, values, st.sampled_from(KINDS))
    shaped = st.builds(
        lambda kind, fields: {"type": kind, **fields},
        st.sampled_from([*KINDS, "teleport"]),
        st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=7),
    )
    encoded = shaped.map(lambda f: json.dumps(f).encode())

    def deep(depth: int, target: str) -> bytes:
        content = '{"a":' * (depth - 1) + "[]" + "}" * (depth - 1)
        return f'{{"type":"send","id":"{uuid.uuid4().hex}","to":"{target}","content":{content}}}'.encode()

    def flip(data: bytes, at: int, byte: int) -> bytes:
        if not data:
            return bytes([byte])
        at %= len(data)
        return data[:at] + bytes([byte]) + data[at + 1 :]

    payloads = st.one_of(
        encoded,
        encoded,
        st.builds(flip, encoded, st.integers(0, 10_000), st.integers(0, 255)),
        st.builds(deep, st.integers(20, 1100), known),
        st.binary(max_size=64),
        st.sampled_from(
            [b"", b"{", b"null", b"[]", b'{"type":"ping"', b"\xff\xfe", b'{"type":"ping","ref":"\xc3\x28"}']
        ),
    )
    return st.tuples(st.sampled_from([TEXT, TEXT, TEXT, BINARY]), payloads)


# -- checks -----------------------------------------------------------------------------------------------------


async def fuzz_once(live: Live, hello: bool, batch: list[tuple[int, bytes]]) -> None:
    ws = await RawSocket.open(live.url)
    try:
        if hello:
            await ws.send(frame(json.dumps({"type": "hello", "v": 1, "token": live.users["fuzz"][1]}).encode()))
        for opcode, payload in batch:
            if not await ws.send(frame(payload, opcode), timeout=2.0):
                break
        await ws.send(frame(b'{"type":"ping","ref":"fuzz-end"}'), timeout=2.0)
        got: list[tuple[int, bytes]] = []
        for _ in range(40):
            more = await ws.read_frames(timeout=0.25)
            got += more
            if not more or close_code(got) is not None or any(b'"fuzz-end"' in p for op, p in more if op == 1):
                break
    except OSError:
        return  # closed by the server mid-write: the close code is not ours to see then
    finally:
        ws.close()
    code = close_code(got)
    assert code is None or code in DOCUMENTED_CLOSES, code
    assert code is not None or not ws.eof, "the server dropped the connection without a close frame"
    for opcode, payload in got:
        if opcode != TEXT:
            continue
        f = json.loads(payload)
        if f.get("type") == "error":
            assert f["code"] in DOCUMENTED_CODES, f
            assert f["code"] != "internal_error", f


async def healthy(live: Live) -> None:
    (_, t1), (h2, t2) = live.users["h1"], live.users["h2"]
    # Whatever the fuzzing client managed to store, every member's reads still answer.
    for _, token in (live.users["fuzz"], live.users["h1"]):
        async with httpx.AsyncClient(base_url=live.url, headers={"Authorization": f"Bearer {token}"}) as http:
            r = await http.get("/v1/conversations")
            assert r.status_code == 200, r.text
            for conv in r.json()["conversations"][-3:]:  # the newest (oldest first): where this example wrote
                page = await http.get(f"/v1/conversations/{conv['conversation_id']}/messages")
                assert page.status_code == 200, page.text
    ws_url = live.url.replace("http://", "ws://") + "/v1/ws"
    async with connect(ws_url, max_size=2**22) as a, connect(ws_url, max_size=2**22) as b:
        await a.send(json.dumps({"type": "hello", "v": 1, "token": t1}))
        await b.send(json.dumps({"type": "hello", "v": 1, "token": t2}))
        msg_id = uuid.uuid4().hex
        await a.send(json.dumps({"type": "send", "id": msg_id, "to": h2, "content": {"type": "text", "text": "ok"}}))
        async with asyncio.timeout(10):
            while True:
                f: dict[str, Any] = json.loads(await b.recv())
                if f["type"] == "deliver" and f["id"] == msg_id:
                    await b.send(json.dumps({"type": "ack", "conversation_id": f["conversation_id"], "seq": f["seq"]}))
                    break


def consistent(live: Live) -> None:
    """Read through the server's own database (SQLite or PostgreSQL), on its event loop."""

    def check(conn: Connection) -> None:
        holes = conn.execute(
            text(
                "SELECT c.id, c.last_seq, COUNT(m.seq), MAX(m.seq) FROM conversations c "
                "LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id, c.last_seq "
                "HAVING COUNT(m.seq) != c.last_seq OR COALESCE(MAX(m.seq), 0) != c.last_seq"
            )
        ).fetchall()
        assert holes == [], holes
        strays = conn.execute(
            text(
                "SELECT m.conversation_id, m.seq FROM messages m LEFT JOIN members p "
                "ON p.conversation_id = m.conversation_id AND p.user_id = m.sender_id "
                "WHERE m.kind = 'user' AND p.user_id IS NULL"
            )
        ).fetchall()
        assert strays == [], strays

    assert live.hub is not None and live.loop is not None
    asyncio.run_coroutine_threadsafe(live.hub.db.read(check), live.loop).result(30)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_frames_from_one_client_never_hurt_the_server_or_anyone_else(live: Live, data: st.DataObject) -> None:
    hello = data.draw(st.integers(0, 9), label="hello") > 0  # mostly after a good hello, sometimes before any
    batch = data.draw(st.lists(frames_for(live), min_size=1, max_size=8), label="frames")

    async def example() -> None:
        await fuzz_once(live, hello, batch)
        await healthy(live)

    asyncio.run(example())
    consistent(live)
