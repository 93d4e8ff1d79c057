"""The account command of `hudhud` that cannot be undone: `delete-account`."""

from __future__ import annotations

import argparse
from typing import Any

from hudhud.client.commands import _guarded, _open, _out, _require_login


@_guarded
async def cmd_delete_account(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        me = await client.me()
        if not args.yes:
            _out(
                f"This deletes the account {me['phone']} for good: your profile, contacts, groups and devices "
                "(messages you already sent stay with their recipients). Run again with --phone YOUR_NUMBER "
                "--yes to delete it.",
                err=True,
            )
            return 1
        await client._call("DELETE", "/v1/me", body={"phone": args.phone})
        client.store.forget_token()
        _out(f"account {me['phone']} deleted; this device is logged out")
    return 0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    text = "delete your account and everything only yours (cannot be undone)"
    p = subparsers.add_parser("delete-account", parents=[common], help=text, description=text)
    p.add_argument("--phone", required=True, help="your account's number, to confirm")
    p.add_argument("--yes", action="store_true", help="yes, delete it")
    p.set_defaults(func=cmd_delete_account)
