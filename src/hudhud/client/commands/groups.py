"""Commands about groups: create, info, members and roles, settings, invite links, join requests,
invitations."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from hudhud.client.commands.common import UserError, _guarded, _open, _out, _require_login
from hudhud.client.commands.render import clean, when
from hudhud.client.commands.resolve import Names, resolve_group, resolve_user
from hudhud.client.sdk import (
    ApiError,
    HudhudClient,
)


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


async def _members_pool(client: HudhudClient, conversation_id: str) -> list[dict[str, Any]]:
    """A group's members with their numbers where known, for matching WHO against them."""
    group = await client.group(conversation_id)
    pool = []
    for m in group.get("members", []):
        cached = client.store.cached_user(str(m["user_id"]))
        pool.append({**m, "phone": cached[0] if cached else None})
    return pool


async def _print_added(client: HudhudClient, result: dict[str, Any]) -> None:
    names = Names(client)
    added = [await names.get(str(u)) for u in result.get("added", [])]
    invited = [await names.get(str(u)) for u in result.get("invited", [])]
    if added:
        _out(f"Added: {', '.join(added)}")
    if invited:
        _out(f"Invited (their settings ask for an invitation, which they can accept): {', '.join(invited)}")
    if not added and not invited:
        _out("Nobody was added.")


async def _show_group(client: HudhudClient, conversation_id: str) -> None:
    group = await client.group(conversation_id)
    names = Names(client)
    settings = group.get("settings") or {}
    _out(f"“{clean(group.get('subject') or '')}”  {group['conversation_id']}")
    if group.get("description"):
        _out(f"description: {clean(group['description'])}")
    _out(
        "messages: "
        + ("only admins (announcement group)" if settings.get("only_admins_send") else "all members")
        + "; group info edited by: "
        + ("admins" if settings.get("only_admins_edit") else "all members")
        + "; joining with a link: "
        + ("needs an admin's approval" if settings.get("approve_joins") else "immediate")
    )
    members = group.get("members", [])
    _out(f"{len(members)} member{'s' if len(members) != 1 else ''}:")
    for m in members:
        role = m.get("role") or "member"
        badge = f"  ({role})" if role != "member" else ""
        _out(f"  {await names.get(str(m['user_id']))}{badge}  {m['user_id']}")


@_guarded
async def cmd_group_create(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        members = [(await resolve_user(client, who))[0] for who in args.member or []]
        result = await client.create_group(args.subject, description=args.description or "", members=members)
        _out(f"Created the group “{clean(args.subject)}” ({result['conversation_id']}).")
        if members:
            await _print_added(client, result)
    return 0


@_guarded
async def cmd_group_info(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        await _show_group(client, conv_id)
    return 0


@_guarded
async def cmd_group_add(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        users = [(await resolve_user(client, who))[0] for who in args.who]
        await _print_added(client, await client.add_members(conv_id, users))
    return 0


@_guarded
async def cmd_group_member(args: argparse.Namespace) -> int:
    """remove, promote and demote: one member, by name, number or id."""
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        user_id, label = await resolve_user(client, args.who, pool=await _members_pool(client, conv_id))
        name = await Names(client).get(user_id) if label == user_id else clean(label)
        if args.action == "remove":
            await client.remove_member(conv_id, user_id)
            _out(f"Removed {name} from “{clean(subject)}”.")
        elif args.action == "promote":
            await client.promote(conv_id, user_id)
            _out(f"{name} is now an admin of “{clean(subject)}”.")
        else:
            await client.demote(conv_id, user_id)
            _out(f"{name} is no longer an admin of “{clean(subject)}”.")
    return 0


@_guarded
async def cmd_group_leave(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        await client.leave_group(conv_id, report=args.report, reason=args.reason or "")
        _out(f"You left “{clean(subject)}”.")
        if args.report:
            _out("The group was reported, with its last five messages.")
    return 0


@_guarded
async def cmd_group_rename(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        subject = " ".join(args.subject)
        await client.update_group(conv_id, subject=subject, description=args.description)
        _out(f"The group is now called “{clean(subject)}”.")
    return 0


@_guarded
async def cmd_group_describe(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        await client.update_group(conv_id, description=" ".join(args.text))
        _out(f"Changed the description of “{clean(subject)}”.")
    return 0


@_guarded
async def cmd_group_settings(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        changes = {
            "only_admins_send": _on_off(args.announce),
            "only_admins_edit": _on_off(args.admins_edit),
            "approve_joins": _on_off(args.approve),
        }
        if any(v is not None for v in changes.values()):
            await client.update_group_settings(conv_id, **changes)
        await _show_group(client, conv_id)
    return 0


def _link_line(link: dict[str, Any]) -> str:
    limits = []
    if link.get("expires_at"):
        limits.append(f"expires {when(float(link['expires_at']))}")
    if link.get("max_uses"):
        limits.append(f"used {link.get('uses', 0)} of {link['max_uses']} times")
    else:
        limits.append(f"used {link.get('uses', 0)} times")
    return f"{link['code']}  ({', '.join(limits)})"


@_guarded
async def cmd_group_link(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        link = await client.create_link(conv_id, expires_in=args.expires, max_uses=args.max_uses)
        _out(f"Invite link for “{clean(subject)}”: {_link_line(link)}")
        _out(f"Anyone with it can join: `hudhud group join {link['code']}`")
    return 0


@_guarded
async def cmd_group_links(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        links = await client.links(conv_id)
        for link in links:
            _out(_link_line(link))
        if not links:
            _out("No invite links. Make one with `hudhud group link CHAT`.")
    return 0


@_guarded
async def cmd_group_revoke_link(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        await client.revoke_link(conv_id, args.code)
        _out(f"Revoked the invite link {args.code}.")
    return 0


@_guarded
async def cmd_group_join(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        result = await client.join_group(args.code.strip().rsplit("/", 1)[-1])
        conv_id = str(result["conversation_id"])
        if result.get("status") == "requested":
            _out("Asked to join; an admin of the group must approve your request.")
        else:
            subject = await client.group_subject(conv_id)
            _out(f"Joined “{clean(subject or '')}” ({conv_id}).")
    return 0


@_guarded
async def cmd_group_requests(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        conv_id, _ = await resolve_group(client, args.chat)
        requests = await client.join_requests(conv_id)
        names = Names(client)
        for r in requests:
            _out(f"{await names.get(str(r['user_id']))}  {r['user_id']}  asked {when(float(r['created_at']))}")
        if not requests:
            _out("No pending requests to join.")
    return 0


@_guarded
async def cmd_group_answer(args: argparse.Namespace) -> int:
    """approve and reject a request to join."""
    async with _open(args) as client:
        _require_login(client)
        conv_id, subject = await resolve_group(client, args.chat)
        pool = []
        for r in await client.join_requests(conv_id):
            with contextlib.suppress(ApiError):
                pool.append(await client.user(str(r["user_id"])))
        user_id, _ = await resolve_user(client, args.who, pool=pool)
        name = await Names(client).get(user_id)
        if args.action == "approve":
            await client.approve_request(conv_id, user_id)
            _out(f"{name} joined “{clean(subject)}”.")
        else:
            await client.reject_request(conv_id, user_id)
            _out(f"Rejected {name}'s request to join “{clean(subject)}”.")
    return 0


@_guarded
async def cmd_invitations(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        names = Names(client)
        if args.action == "list":
            if args.invitation_id:
                raise UserError("`hudhud invitations` lists them; use `accept ID` or `decline ID`")
            pending = await client.invitations()
            for inv in pending:
                inviter = await names.get(str(inv["inviter_id"]))
                _out(
                    f"{inv['invitation_id']}  “{clean(inv.get('subject') or '')}” from {inviter}, "
                    f"expires {when(float(inv['expires_at']))}"
                )
            if not pending:
                _out("No pending invitations.")
            return 0
        if not args.invitation_id:
            raise UserError(f"which invitation? `hudhud invitations {args.action} ID` (see `hudhud invitations`)")
        inv_id = args.invitation_id.strip()
        if not inv_id.startswith("i") or " " in inv_id:
            # Given by the group's subject instead.
            want = inv_id.casefold()
            found = [i for i in await client.invitations() if str(i.get("subject") or "").casefold() == want]
            if len(found) != 1:
                raise UserError(f"no single pending invitation to a group called {inv_id!r}")
            inv_id = str(found[0]["invitation_id"])
        if args.action == "accept":
            conv_id = await client.accept_invitation(inv_id)
            subject = await client.group_subject(conv_id)
            _out(f"Joined “{clean(subject or '')}” ({conv_id}).")
        else:
            await client.decline_invitation(inv_id)
            _out("Invitation declined.")
    return 0
