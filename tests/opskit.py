"""Helpers for the operator tests (backups, restores, the move to PostgreSQL): an installation with a bit of
everything in it, the `hudhud` command run as its own process, and everything a user can read back."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from hudhud.cli import main
from tests import mediakit as mk
from tests.groupkit import Person, create_group, people
from tests.support import RawClient, ServerHandle


async def hudhud(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """`hudhud ARGV` in a process of its own, as an operator runs it beside the server: (status, stdout, stderr).
    No HUDHUD_* setting of the test's environment leaks into it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HUDHUD_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hudhud.cli",
        *argv,
        env={**base, **(env or {})},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def hudhud_ok(*argv: str, env: dict[str, str] | None = None) -> str:
    rc, out, err = await hudhud(*argv, env=env)
    assert rc == 0, f"hudhud {' '.join(argv)} exited with {rc}: {err}{out}"
    return out


class Admin:
    """`hudhud admin …` in this process (quicker than a process of its own, for the many short error cases):
    (status, stdout, stderr), with `path` as PATH if given."""

    def __init__(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        self.capsys, self.monkeypatch = capsys, monkeypatch
        for name in [k for k in os.environ if k.startswith("HUDHUD_")]:
            monkeypatch.delenv(name)

    async def __call__(self, *argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        with self.monkeypatch.context() as m:
            for k, v in (env or {}).items():
                m.setenv(k, v)
            self.capsys.readouterr()
            rc = await asyncio.to_thread(main, list(argv))
            out, err = self.capsys.readouterr()
        return rc, out, err

    async def ok(self, *argv: str) -> str:
        rc, out, err = await self(*argv)
        assert rc == 0, f"hudhud {' '.join(argv)} exited with {rc}: {err}{out}"
        return out


@dataclass
class Installation:
    """What `populate` made: people, conversations and the media bytes as the server serves them."""

    amal: Person
    badr: Person
    chadi: Person
    direct: str  # Amal and Badr
    group: str  # Amal (owner), Badr, Chadi
    media: dict[str, bytes] = field(default_factory=dict)  # media id -> the bytes a member downloads
    sent: int = 0  # user messages acknowledged


async def send(client: RawClient, content: dict[str, Any], media: list[str] | None = None, **target: str) -> Any:
    frame: dict[str, Any] = {"type": "send", "id": uuid.uuid4().hex, "content": content, **target}
    if media:
        frame["media"] = media
    await client.send(frame)
    return await client.expect("sent", id=frame["id"])


async def populate(server: ServerHandle) -> Installation:
    """Three people; a direct chat and a group with text, pictures and a document, a reply, an edit and a
    reaction; receipts; a pinned and an archived chat."""
    amal, badr, chadi = await people(server, "amal", "badr", "chadi")
    await badr.knows(amal)
    await chadi.knows(amal)
    group = (await create_group(amal, "Family", badr, chadi))["conversation_id"]
    inst = Installation(amal, badr, chadi, direct="", group=group)
    photo, doc = mk.jpeg(320, 240, gps=True), mk.pdf()
    async with amal.http() as c:
        picture = await mk.upload(c, "image", photo, "image/jpeg", file_name="cairo.jpg")
    async with badr.http() as c:
        document = await mk.upload(c, "document", doc, "application/pdf", file_name="notes.pdf")
    a = await amal.client()
    b = await badr.client()
    first = await send(a, {"type": "text", "text": "أهلاً يا بدر"}, to=badr.id)
    inst.direct = first["conversation_id"]
    await send(
        a, {"type": "media", "media": [picture["media_id"]], "caption": "Cairo"}, [picture["media_id"]], to=badr.id
    )
    reply = await send(b, {"type": "text", "text": "Lovely!", "reply_to": first["seq"]}, to=amal.id)
    await send(b, {"type": "edit", "target": reply["seq"], "text": "Lovely! 😍"}, to=amal.id)
    await send(a, {"type": "reaction", "target": reply["seq"], "emoji": "👍"}, to=badr.id)
    g1 = await send(a, {"type": "text", "text": "Dinner at eight"}, conversation_id=group)
    await send(b, {"type": "media", "media": [document["media_id"]]}, [document["media_id"]], conversation_id=group)
    await send(b, {"type": "reaction", "target": g1["seq"], "emoji": "❤️"}, conversation_id=group)
    inst.sent = 8
    await b.send({"type": "read", "conversation_id": inst.direct, "seq": first["seq"]})
    await a.expect("receipt", conversation_id=inst.direct, user_id=badr.id, read_seq=first["seq"])
    for person, conv, body in ((amal, group, {"pinned": True}), (badr, inst.direct, {"archived": True})):
        r = await person.call("PATCH", f"/v1/conversations/{conv}/state", json=body)
        assert r.status_code == 200, r.text
    await a.close()
    await b.close()
    for media_id in (picture["media_id"], document["media_id"]):
        r = await chadi.call("GET", f"/v1/media/{media_id}") if media_id == document["media_id"] else None
        r = r or await badr.call("GET", f"/v1/media/{media_id}")
        assert r.status_code == 200, r.text
        inst.media[media_id] = r.content
    return inst


async def history(person: Person, conversation_id: str) -> list[dict[str, Any]]:
    """Every message of the conversation this person can read, oldest first (REST history, paged)."""
    out: list[dict[str, Any]] = []
    before: int | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"before": before} if before else {})}
        r = await person.call("GET", f"/v1/conversations/{conversation_id}/messages", params=params)
        assert r.status_code == 200, r.text
        page = r.json()["messages"]
        if not page:
            return out
        out[:0] = page
        before = page[0]["seq"]
        if before == 1:
            return out


async def everything(person: Person) -> dict[str, Any]:
    """This person's chat list (with receipts and chat state) and the history of every chat in it."""
    r = await person.call("GET", "/v1/conversations")
    assert r.status_code == 200, r.text
    chats = sorted(r.json()["conversations"], key=lambda c: c["conversation_id"])
    return {
        "chats": chats,
        "history": {c["conversation_id"]: await history(person, c["conversation_id"]) for c in chats},
    }


async def writer(
    client: RawClient, targets: list[dict[str, str]], stop: asyncio.Event, counter: list[int], going: asyncio.Event
) -> None:
    """Send messages one after the other, alternating between the targets, until `stop` is set; each waits for
    its acknowledgement, `counter[0]` counts the acknowledged ones, and `going` is set after the fifth."""
    i = 0
    while not stop.is_set():
        await send(client, {"type": "text", "text": f"while backing up {i}"}, **targets[i % len(targets)])
        counter[0] += 1
        i += 1
        if i == 5:
            going.set()


def on(server: ServerHandle, *persons: Person) -> list[Person]:
    """The same people (ids, tokens) talking to another server."""
    return [Person(server, p.name, p.id, p.token) for p in persons]
