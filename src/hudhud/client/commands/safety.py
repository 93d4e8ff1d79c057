"""Commands that protect the user: block, unblock, report."""

from __future__ import annotations

import argparse

from hudhud.client.commands.common import UserError, _guarded, _open, _out, _require_login
from hudhud.client.commands.resolve import Names, resolve_conversation, resolve_user


@_guarded
async def cmd_block(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        names = Names(client)
        if args.who is None:
            blocked = await client.blocked()
            for user_id in blocked:
                _out(f"{await names.get(user_id)}  {user_id}")
            if not blocked:
                _out("You have blocked nobody.")
            return 0
        user_id, _ = await resolve_user(client, args.who, discover=False)
        await client.block(user_id, report=args.report)
        extra = " and reported" if args.report else ""
        _out(f"Blocked{extra} {await names.get(user_id)}. They are not told; their messages no longer reach you.")
    return 0


@_guarded
async def cmd_unblock(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        user_id, _ = await resolve_user(client, args.who, discover=False)
        await client.unblock(user_id)
        _out(f"Unblocked {await Names(client).get(user_id)}.")
    return 0


def _seqs(raw: str | None) -> list[int]:
    if not raw:
        return []
    try:
        return [int(part) for part in raw.replace(" ", ",").split(",") if part]
    except ValueError:
        raise UserError(f"--messages is a list of message numbers such as 3,4,7, not {raw!r}") from None


@_guarded
async def cmd_report(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        if args.who is None and args.chat is None:
            raise UserError("report someone (WHO), a chat (--chat), or both")
        user_id = None if args.who is None else (await resolve_user(client, args.who, discover=False))[0]
        seqs = _seqs(args.messages)
        conv_id: str | None = None
        chat = args.chat if args.chat is not None else (args.who if seqs else None)
        if chat is not None:
            conv_id, _ = await resolve_conversation(client, chat)
            if conv_id is None:
                raise UserError(f"there are no messages with {chat} to share")
        report_id = await client.report(
            user_id=user_id, conversation_id=conv_id, reason=args.reason or "", messages=seqs, block=args.block
        )
        what = await Names(client).get(user_id) if user_id else "the chat"
        shared = f", sharing {len(seqs)} message{'s' if len(seqs) != 1 else ''}" if seqs else ""
        blocked = " and blocked them" if args.block and user_id else ""
        _out(f"Reported {what}{shared}{blocked} (report {report_id}).")
    return 0
