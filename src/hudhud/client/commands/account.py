"""Commands about the account and its devices: login, contacts, devices, link, privacy, profile,
delete-account."""

from __future__ import annotations

import argparse
import asyncio
import socket
from typing import Any

from hudhud.client.commands.common import UserError, _guarded, _open, _out, _require_login
from hudhud.client.commands.render import clean, when
from hudhud.client.commands.resolve import _normalize_phone


@_guarded
async def cmd_login(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        phone = args.phone
        if args.code is None:
            sent = await client.request_code(phone)
            phone = sent["phone"]
            _out(f"A code was sent by SMS to {phone}; it expires in {int(sent['expires_in']) // 60} minutes.")
            try:
                code = (await asyncio.to_thread(input, "Code: ")).strip()
            except EOFError:
                raise UserError("no code given; run again with --code CODE") from None
        else:
            code = args.code.strip()
        device = args.device_name or f"hudhud CLI on {socket.gethostname()}"
        login = await client.verify(phone, code, device)
        if args.name:
            await client.update_profile(display_name=args.name)
        me = await client.me()
        client.store.set(phone=str(me["phone"]))
        welcome = "Welcome to Hudhud" if login.get("new_account") else "Logged in"
        _out(f"{welcome}, {clean(me.get('display_name') or me['phone'])} ({me['phone']}).")
        _out(f"user {login['user_id']}, device {login['device_id']}; profile {client.store.dir}")
    return 0


@_guarded
async def cmd_contacts_add(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        for c in await client.add_contacts([(args.phone, " ".join(args.name))]):
            on = f"on Hudhud as {clean(c['display_name'] or '(no name)')}" if c.get("user_id") else "not on Hudhud"
            _out(f"{clean(c['name'])}  {c['phone']}  {on}")
    return 0


@_guarded
async def cmd_contacts_list(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        contacts = await client.contacts()
        for c in contacts:
            on = f"~{clean(c['display_name'] or '')}  {c['user_id']}" if c.get("user_id") else "(not on Hudhud)"
            _out(f"{clean(c['name']) or '-':<24} {c['phone']:<16} {on}")
        if not contacts:
            _out("No contacts. Add one with `hudhud contacts add PHONE NAME`.")
    return 0


@_guarded
async def cmd_contacts_remove(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        await client.remove_contact(_normalize_phone(args.phone))
        _out(f"removed {args.phone}")
    return 0


@_guarded
async def cmd_devices_list(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        for d in await client.devices():
            active = when(d["last_active_at"]) if d.get("last_active_at") else "never"
            mark = "  (this device)" if d.get("current") else ""
            _out(f"{d['device_id']}  {clean(d['name']) or '-'}  added {when(d['created_at'])}, active {active}{mark}")
    return 0


@_guarded
async def cmd_link(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        name = await client.approve_link(args.code)
        _out(f"✓ linked {clean(name) or 'a new device'} to your account; `hudhud devices list` shows it")
    return 0


@_guarded
async def cmd_devices_revoke(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        current = args.device_id == client.device_id
        await client.revoke_device(args.device_id)
        _out(f"device {args.device_id} logged out" + (" (this one: log in again to use it)" if current else ""))
    return 0


def _show_me(me: dict[str, Any]) -> None:
    _out(f"{clean(me.get('display_name') or '(no name)')}  {me['phone']}  {me['user_id']}")
    if me.get("about"):
        _out(f"about: {clean(me['about'])}")
    _out(f"read receipts: {'on' if me.get('read_receipts') else 'off'}; last seen visible to: {me.get('last_seen')}")
    if me.get("group_add"):
        _out(f"who can add you to groups: {me['group_add']} (the others send an invitation)")
    if me.get("group_invites"):
        _out(f"whose group invitations reach you: {me['group_invites']}")
    if me.get("phone_privacy"):
        _out(f"who sees your number (besides those who have it and those you write to): {me['phone_privacy']}")


@_guarded
async def cmd_privacy(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        changes = (args.read_receipts, args.last_seen, args.group_add, args.phone, args.group_invites)
        if all(c is None for c in changes):
            me = await client.me()
        else:
            me = await client.update_privacy(
                read_receipts=None if args.read_receipts is None else args.read_receipts == "on",
                last_seen=args.last_seen,
                group_add=args.group_add,
                phone=args.phone,
                group_invites=args.group_invites,
            )
        _show_me(me)
    return 0


@_guarded
async def cmd_profile(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        if args.name is None and args.about is None:
            me = await client.me()
        else:
            me = await client.update_profile(display_name=args.name, about=args.about)
        _show_me(me)
    return 0


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


def register_delete_account(subparsers: Any, common: argparse.ArgumentParser) -> None:
    text = "delete your account and everything only yours (cannot be undone)"
    p = subparsers.add_parser("delete-account", parents=[common], help=text, description=text)
    p.add_argument("--phone", required=True, help="your account's number, to confirm")
    p.add_argument("--yes", action="store_true", help="yes, delete it")
    p.set_defaults(func=cmd_delete_account)
