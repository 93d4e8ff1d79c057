"""Commands that send one message to many: broadcast lists and forward."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from hudhud.client.commands.common import UserError, _guarded, _open, _out, _require_login
from hudhud.client.commands.render import clean
from hudhud.client.commands.resolve import Names, resolve_conversation, resolve_target, resolve_user
from hudhud.client.sdk import (
    ConnState,
    HudhudClient,
    NotLoggedIn,
    ServerUnreachable,
)

# -- broadcast lists ------------------------------------------------------------------------------------------


async def _find_list(client: HudhudClient, raw: str) -> dict[str, Any]:
    lists = await client.broadcast_lists()
    found = [b for b in lists if b["list_id"] == raw.strip()] or [
        b for b in lists if str(b["name"]).casefold() == raw.strip().casefold()
    ]
    if not found:
        raise UserError(f"no broadcast list called {raw!r}; `hudhud broadcast list` shows yours")
    if len(found) > 1:
        raise UserError(f"several broadcast lists are called {raw!r}; use the list id")
    return found[0]


@_guarded
async def cmd_broadcast_create(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        members = [(await resolve_user(client, who))[0] for who in args.who]
        created = await client.create_broadcast_list(args.name, members)
        n = len(created.get("members", []))
        _out(f"Created the broadcast list “{clean(args.name)}” ({created['list_id']}) with {n} recipients.")
        _out("Only those who have your number in their contacts receive your broadcasts.")
    return 0


@_guarded
async def cmd_broadcast_list(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        names = Names(client)
        lists = await client.broadcast_lists()
        for b in lists:
            members = [await names.get(str(u)) for u in b.get("members", [])]
            _out(f"“{clean(b['name'])}”  {b['list_id']}  {len(members)} recipients: {', '.join(members)}")
        if not lists:
            _out("No broadcast lists. Make one with `hudhud broadcast create NAME WHO...`.")
    return 0


@_guarded
async def cmd_broadcast_members(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        found = await _find_list(client, args.list)
        members = [(await resolve_user(client, who))[0] for who in args.who]
        await client.set_broadcast_members(str(found["list_id"]), members)
        _out(f"“{clean(found['name'])}” now has {len(members)} recipients.")
    return 0


@_guarded
async def cmd_broadcast_delete(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        found = await _find_list(client, args.list)
        await client.delete_broadcast_list(str(found["list_id"]))
        _out(f"Deleted the broadcast list “{clean(found['name'])}”.")
    return 0


def _still_queued(client: HudhudClient) -> None:
    if client.state is ConnState.LOGGED_OUT:
        raise NotLoggedIn("this device was logged out")
    _out(
        f"Could not reach {client.server}; it is queued ({len(client.outbox())} waiting) and goes out with the "
        "next `hudhud send` or `hudhud listen`."
    )


@_guarded
async def cmd_broadcast_send(args: argparse.Namespace) -> int:
    async with _open(args, receive=False) as client:
        _require_login(client)
        found = await _find_list(client, args.list)
        job = await client.broadcast_text(str(found["list_id"]), " ".join(args.text))
        client.start()
        result = await client.wait_broadcast(job, timeout=args.wait)
        if result is None:
            _still_queued(client)
            return 0
        _out(f"✓ broadcast to “{clean(found['name'])}”: sent to {result.reached} of {result.total}")
        _out("  (only recipients who have your number in their contacts receive broadcasts)")
    return 0


# -- forwarding -----------------------------------------------------------------------------------------------


@_guarded
async def cmd_forward(args: argparse.Namespace) -> int:
    async with _open(args, receive=False) as client:
        _require_login(client)
        conv_id, _ = await resolve_conversation(client, args.chat)
        if conv_id is None:
            raise UserError(f"there are no messages with {args.chat} yet")
        if len(args.to) > 5:
            raise UserError("forward to at most 5 chats at a time")
        preview = None
        with contextlib.suppress(ServerUnreachable):  # offline: queue it anyway, the server checks
            messages, _ = await client.history(conv_id, before=args.seq + 1, limit=1)
            if not messages or messages[-1].seq != args.seq or messages[-1].system:
                raise UserError(f"there is no message #{args.seq} in that chat to forward")
            preview = messages[-1].content
        targets = [await resolve_target(client, raw) for raw in args.to]
        job = await client.forward(
            conv_id,
            args.seq,
            [{"to": t.to_user} if t.to_user else {"conversation_id": t.conversation_id or ""} for t in targets],
            preview=preview,
        )
        client.start()
        result = await client.wait_forwarded(job, timeout=args.wait)
        if result is None:
            _still_queued(client)
            return 0
        for target, sent in zip(targets, result.messages, strict=True):
            if sent is not None:
                _out(f"✓ forwarded to {clean(target.label)} (#{sent.seq} in {sent.conversation_id})")
            else:
                _out(f"✗ not forwarded to {clean(target.label)}", err=True)
        for code, message in result.errors:
            _out(f"  refused: {message} [{code}]", err=True)
        return 0 if all(result.messages) else 1
