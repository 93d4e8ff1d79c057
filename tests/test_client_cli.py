"""The `hudhud` client commands against the real server: each runs through `hudhud.cli.main` (argparse and
asyncio.run included) in a worker thread while the server serves on the test's event loop."""

from __future__ import annotations

import asyncio
import builtins
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from hudhud.client.sdk import ConnState, Delivered, TicksChanged
from hudhud.client.state import StateStore
from tests.clikit import Cli, _clean_env  # noqa: F401 - the fixture applies to this module
from tests.test_client_sdk import ALICE, BOB, closed_port, eventually, fast_client, login_profile, next_event

ARABIC = "صباح الخير يا صديقي"
BLUE_TICKS = "\033[34m✓✓\033[0m read"


@pytest.fixture
async def people(server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    """Alice (CLI profile) and Bob (profile for the SDK), both provisioned, Bob saved as Alice's contact."""
    a = await server.make_user(ALICE, "Alice")
    b = await server.make_user(BOB, "Bob")
    login_profile(tmp_path / "alice", server.url, ALICE, a)
    login_profile(tmp_path / "bob", server.url, BOB, b)
    return a, b, Cli(capsys, tmp_path / "alice", server.url)


async def test_login_prompts_for_the_sms_code(
    server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts: list[str] = []

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        return server.codes[ALICE] + "\n"  # the code the (fake) SMS provider received

    monkeypatch.setattr(builtins, "input", fake_input)
    cli = Cli(capsys, tmp_path / "alice", server.url)
    rc, out, _ = await cli("login", "--phone", "01001234567", "--name", "أمل", "--device-name", "laptop")
    assert rc == 0, out
    assert prompts == ["Code: "]
    assert "Welcome to Hudhud, أمل (+201001234567)" in out
    store = StateStore(tmp_path / "alice")
    token, user_id = store.token, store.user_id
    store.close()
    assert token and user_id
    async with server.http(token) as c:
        me = (await c.get("/v1/me")).json()
    assert me["display_name"] == "أمل" and me["user_id"] == user_id

    rc, out, _ = await cli("devices", "list")
    assert rc == 0 and "laptop" in out and "(this device)" in out


async def test_login_with_code_flag_and_wrong_code(
    server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(capsys, tmp_path / "bob", server.url)
    async with server.http() as c:
        assert (await c.post("/v1/auth/code", json={"phone": BOB})).status_code == 202
    code = server.codes[BOB]
    wrong = "000000" if code != "000000" else "111111"
    rc, _, err = await cli("login", "--phone", BOB, "--code", wrong)
    assert rc == 1 and "code_invalid" in err
    assert StateStore(tmp_path / "bob").token is None
    rc, out, _ = await cli("login", "--phone", BOB, "--code", code)
    assert rc == 0 and "+201101234567" in out
    rc, out, _ = await cli("profile")
    assert rc == 0 and "+201101234567" in out


async def test_commands_need_a_login(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli = Cli(capsys, tmp_path / "nobody", f"http://127.0.0.1:{closed_port()}")
    rc, _, err = await cli("send", "01001234567", "hi")
    assert rc == 1 and "hudhud login" in err


async def test_send_to_a_phone_number_reaches_the_other_client(server: Any, people: Any, tmp_path: Path) -> None:
    (a_id, _, _), (b_id, _, _), cli = people
    async with fast_client(tmp_path / "bob") as bob:
        stream = bob.events()
        bob.start()
        rc, out, _ = await cli("send", "01101234567", ARABIC)
        assert rc == 0 and "✓ sent" in out and "#1" in out
        got = await next_event(stream, lambda e: isinstance(e, Delivered))
        assert isinstance(got, Delivered)
        assert got.message.content == {"type": "text", "text": ARABIC}
        assert got.message.sender_user_id == a_id

        # The number was added to Alice's contacts on the way, so her next message can use Bob's user id.
        rc, out, _ = await cli("contacts", "list")
        assert rc == 0 and "+201101234567" in out and b_id in out
        rc, out, _ = await cli("send", b_id, "second", "--reply-to", "1")
        assert rc == 0
        got = await next_event(stream, lambda e: isinstance(e, Delivered))
        assert isinstance(got, Delivered)
        assert got.message.content == {"type": "text", "text": "second", "reply_to": 1}


async def test_send_while_server_is_down_queues_and_the_next_send_delivers(
    server: Any, people: Any, tmp_path: Path
) -> None:
    (_, _, a_tok), (b_id, _, _), cli = people
    down = f"http://127.0.0.1:{closed_port()}"
    for text in ("one", "two"):
        rc, out, _ = await cli("send", b_id, text, "--wait", "0.5", server=down)
        assert rc == 0 and "queued" in out
    store = StateStore(tmp_path / "alice")
    assert [e.content["text"] for e in store.outbox()] == ["one", "two"]
    store.close()
    # Reading needs the server: a clear error, not a traceback.
    rc, _, err = await cli("history", b_id, server=down)
    assert rc == 1 and "cannot reach" in err
    rc, out, _ = await cli("send", b_id, "three")
    assert rc == 0 and "✓ sent" in out
    store = StateStore(tmp_path / "alice")
    assert store.outbox() == []
    store.close()
    async with server.http(a_tok) as c:
        convs = (await c.get("/v1/conversations")).json()["conversations"]
        msgs = (await c.get(f"/v1/conversations/{convs[0]['conversation_id']}/messages")).json()["messages"]
    assert [m["content"]["text"] for m in msgs] == ["one", "two", "three"]


async def test_history_shows_ticks_and_arabic(server: Any, people: Any, tmp_path: Path) -> None:
    (_, _, _), (b_id, _, _), cli = people
    rc, _, _ = await cli("contacts", "add", "01101234567", "Bob", "B.")
    assert rc == 0
    async with fast_client(tmp_path / "alice") as alice, fast_client(tmp_path / "bob") as bob:
        b_stream = bob.events()
        bob.start()
        alice.start()
        await alice.send_text(ARABIC, to=b_id)
        await alice.send_text("delivered only", to=b_id)
        got = await next_event(b_stream, lambda e: isinstance(e, Delivered))
        assert isinstance(got, Delivered)
        conv = got.message.conversation_id
        bob.read(conv, 1)
        await eventually(lambda: alice.store.receipts(conv).get(b_id, (0, 0)) == (2, 1))
        await bob.stop()
        sent = await alice.wait_sent(await alice.send_text("sent only", to=b_id), timeout=5)
        assert sent is not None and sent.seq == 3

    rc, out, _ = await cli("history", "Bob B.", "--color", "always")
    assert rc == 0, out
    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("#1") and ARABIC in lines[0] and lines[0].endswith(BLUE_TICKS)
    assert lines[1].startswith("#2") and lines[1].endswith("✓✓ delivered")
    assert lines[2].startswith("#3") and lines[2].endswith("✓ sent") and "✓✓" not in lines[2]

    rc, out, _ = await cli("history", "01101234567", "--color", "never", "--limit", "2")
    assert rc == 0 and "\033[" not in out
    assert [line.split()[0] for line in out.splitlines()] == ["#2", "#3"]

    # A real process whose stdout claims to be ASCII still prints the Arabic text (as UTF-8).
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hudhud.cli", "history", b_id, "--profile", str(tmp_path / "alice"),
        "--server", server.url, "--color", "never",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 0, stderr.decode(errors="replace")
    assert ARABIC in stdout.decode("utf-8") and "✓✓ read" in stdout.decode("utf-8")


async def test_chats_lists_unread_from_others(server: Any, people: Any, tmp_path: Path) -> None:
    (a_id, _, _), (_, _, _), cli = people
    async with fast_client(tmp_path / "bob") as bob:
        bob.start()
        for text in ("hi Alice", "are you there?", "مرحبا"):
            assert await bob.wait_sent(await bob.send_text(text, to=a_id), timeout=5) is not None
    rc, out, _ = await cli("send", "01101234567", "yes!")
    assert rc == 0
    rc, out, _ = await cli("chats")
    assert rc == 0
    assert "[3 unread]" in out and "+201101234567" in out
    assert "You: yes!" in out and "✓ sent" in out

    async with fast_client(tmp_path / "alice") as alice:
        stream = alice.events()
        alice.start()
        got = [await next_event(stream, lambda e: isinstance(e, Delivered)) for _ in range(3)]
        last = got[-1]
        assert isinstance(last, Delivered)
        alice.read(last.message.conversation_id, last.message.seq)
        await alice.stop()
    async with server.http(StateStore(tmp_path / "alice").token) as c:
        async with asyncio.timeout(5):
            while True:
                conv = (await c.get("/v1/conversations")).json()["conversations"][0]
                if any(r["user_id"] == a_id and r["read_seq"] == 3 for r in conv["receipts"]):
                    break
                await asyncio.sleep(0.02)
    rc, out, _ = await cli("chats")
    assert rc == 0 and "unread" not in out


async def test_listen_prints_acks_and_marks_read(server: Any, people: Any, tmp_path: Path) -> None:
    (a_id, _, _), (_, _, _), cli = people
    async with fast_client(tmp_path / "bob") as bob:
        stream = bob.events()
        bob.start()
        for text in (ARABIC, "second"):
            await bob.send_text(text, to=a_id)
        rc, out, err = await cli("listen", "--read", "--count", "2", "--timeout", "10")
        assert rc == 0, err
        lines = [line for line in out.splitlines() if "#" in line]
        assert ARABIC in lines[0] and "#1" in lines[0]
        assert "second" in lines[1] and "#2" in lines[1]
        # Listening acked and read both: Bob's client shows blue ticks on the second message.
        async with asyncio.timeout(5):
            while True:
                ev = await stream.next(lambda e: isinstance(e, TicksChanged))
                assert isinstance(ev, TicksChanged)
                if ev.message.seq == 2 and ev.status == "read":
                    break
        assert bob.state is ConnState.SYNCED


async def test_edit_delete_react_fold_into_history(server: Any, people: Any, tmp_path: Path) -> None:
    (_, _, _), (_, _, _), cli = people
    rc, _, _ = await cli("contacts", "add", BOB, "Bob")
    assert rc == 0
    for text in ("helo", "oops"):
        rc, _, _ = await cli("send", "Bob", text)
        assert rc == 0
    assert (await cli("edit", "Bob", "1", "hello"))[0] == 0
    assert (await cli("delete", "Bob", "2"))[0] == 0
    assert (await cli("react", "Bob", "1", "👍"))[0] == 0
    rc, out, _ = await cli("history", "Bob", "--color", "never")
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == 2  # the edit, delete and reaction are folded into their targets
    assert "hello (edited)" in lines[0] and "[👍]" in lines[0] and "helo" not in lines[0]
    assert "deleted" in lines[1] and "oops" not in lines[1]

    # Bob may react to Alice's message but not edit it.
    bob_cli = Cli(cli.capsys, tmp_path / "bob", server.url)
    rc, _, err = await bob_cli("edit", ALICE, "1", "hijacked")
    assert rc == 1 and "not yours" in err
    rc, _, err = await bob_cli("delete", ALICE, "7")
    assert rc == 1 and "no message #7" in err


async def test_account_commands(server: Any, people: Any, tmp_path: Path) -> None:
    (_, a_dev, _), (_, _, _), cli = people
    rc, out, _ = await cli("profile", "--name", "Alice A.", "--about", "متاحة")
    assert rc == 0 and "Alice A." in out and "متاحة" in out
    rc, out, _ = await cli("privacy", "--read-receipts", "off", "--last-seen", "nobody")
    assert rc == 0 and "read receipts: off" in out and "nobody" in out
    rc, out, _ = await cli("privacy")
    assert rc == 0 and "read receipts: off" in out
    rc, out, _ = await cli("privacy", "--phone", "nobody", "--group-invites", "contacts")
    assert rc == 0 and "who sees your number (besides those who have it and those you write to): nobody" in out
    assert "whose group invitations reach you: contacts" in out

    rc, out, _ = await cli("contacts", "add", "01201234567", "Stranger")
    assert rc == 0 and "not on Hudhud" in out
    rc, _, err = await cli("send", "Stranger", "hello?")
    assert rc == 1 and "not on Hudhud" in err
    rc, _, err = await cli("send", "Nobody At All", "hello?")
    assert rc == 1 and "no contact" in err
    rc, _, err = await cli("contacts", "add", "12", "Bad")
    assert rc == 1 and "invalid_phone" in err

    other_dev, _ = await server.add_device(ALICE, "old phone")
    rc, out, _ = await cli("devices", "list")
    assert rc == 0 and "old phone" in out and f"{a_dev}" in out
    rc, out, _ = await cli("devices", "revoke", other_dev)
    assert rc == 0
    rc, out, _ = await cli("devices", "list")
    assert "old phone" not in out
    # Logging out this very device leaves the profile without a token.
    rc, out, _ = await cli("devices", "revoke", a_dev)
    assert rc == 0 and "this one" in out
    rc, _, err = await cli("chats")
    assert rc == 1 and "hudhud login" in err


async def test_each_message_is_printed_once_across_listen_runs(server: Any, people: Any, tmp_path: Path) -> None:
    """`listen --count 1` may stop while more messages are arriving; whatever the session took in is printed
    before it exits, and nothing is printed again by the next run."""
    (a_id, _, _), (_, _, _), cli = people
    async with fast_client(tmp_path / "bob") as bob:
        bob.start()
        ids = [await bob.send_text(f"burst {i}", to=a_id) for i in range(5)]
        for msg_id in ids:
            assert await bob.wait_sent(msg_id, timeout=5) is not None
    printed: list[str] = []
    for _ in range(5):
        rc, out, _ = await cli("listen", "--count", "1", "--timeout", "5")
        assert rc == 0
        printed += [line.split(": ", 1)[1] for line in out.splitlines() if " #" in line]
        if len(printed) >= 5:
            break
    assert printed == [f"burst {i}" for i in range(5)]
