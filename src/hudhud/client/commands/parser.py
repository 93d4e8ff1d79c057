"""The client subcommands of the `hudhud` parser, each pointing at its `cmd_*` in the module of its group."""

from __future__ import annotations

import argparse
from typing import Any

from hudhud.client.commands import media as media_commands
from hudhud.client.commands.account import (
    cmd_contacts_add,
    cmd_contacts_list,
    cmd_contacts_remove,
    cmd_devices_list,
    cmd_devices_revoke,
    cmd_link,
    cmd_login,
    cmd_privacy,
    cmd_profile,
    register_delete_account,
)
from hudhud.client.commands.broadcasts import (
    cmd_broadcast_create,
    cmd_broadcast_delete,
    cmd_broadcast_list,
    cmd_broadcast_members,
    cmd_broadcast_send,
    cmd_forward,
)
from hudhud.client.commands.common import Command
from hudhud.client.commands.groups import (
    cmd_group_add,
    cmd_group_answer,
    cmd_group_create,
    cmd_group_describe,
    cmd_group_info,
    cmd_group_join,
    cmd_group_leave,
    cmd_group_link,
    cmd_group_links,
    cmd_group_member,
    cmd_group_rename,
    cmd_group_requests,
    cmd_group_revoke_link,
    cmd_group_settings,
    cmd_invitations,
)
from hudhud.client.commands.messages import (
    cmd_chats,
    cmd_delete,
    cmd_edit,
    cmd_history,
    cmd_listen,
    cmd_react,
    cmd_send,
)
from hudhud.client.commands.safety import cmd_block, cmd_report, cmd_unblock


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    """Add the client subcommands to the `hudhud` parser. `common` carries --profile and --server; it is
    given to every leaf command (not to groups such as `contacts`, whose defaults would overwrite it)."""

    def leaf(sub: Any, name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def waiting(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--wait",
            type=float,
            default=10.0,
            metavar="SECONDS",
            help="how long to wait for the server's acknowledgement before leaving the message queued (10)",
        )

    def colored(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--color",
            choices=["auto", "always", "never"],
            default="auto",
            help="blue ticks for read messages (auto: when printing to a terminal and NO_COLOR is unset)",
        )

    p = leaf(subparsers, "login", cmd_login, "log in (or sign up) with a code sent by SMS")
    p.add_argument("--phone", required=True, help="your number, E.164 (+20…) or national format")
    p.add_argument("--name", help="set your display name")
    p.add_argument("--code", help="the SMS code from an earlier request (skips requesting a new one)")
    p.add_argument("--device-name", help="how this device appears in `hudhud devices list`")

    p = leaf(subparsers, "send", cmd_send, "send a text message (queued first, so it survives an outage)")
    p.add_argument("to", metavar="TO", help="phone number, contact name, user id (u…) or conversation id (c…)")
    p.add_argument("text", metavar="TEXT", nargs="+")
    p.add_argument("--reply-to", type=int, metavar="SEQ", help="quote message #SEQ of that chat")
    waiting(p)

    p = leaf(subparsers, "chats", cmd_chats, "list conversations with the last message and unread counts")
    colored(p)

    p = leaf(subparsers, "history", cmd_history, "print a chat's messages, oldest first, with ticks")
    p.add_argument("chat", metavar="CHAT", help="as TO in `send`")
    p.add_argument("--limit", type=int, default=50, help="how many of the latest messages (50, at most 500)")
    colored(p)

    p = leaf(subparsers, "listen", cmd_listen, "print messages, receipts and typing live until Ctrl-C")
    p.add_argument("--read", action="store_true", help="mark printed messages as read (blue ticks)")
    p.add_argument("--count", type=int, default=0, metavar="N", help="exit after N messages")
    p.add_argument("--timeout", type=float, default=0, metavar="SECONDS", help="exit after SECONDS")
    colored(p)

    contacts = subparsers.add_parser("contacts", help="your address book")
    csub = contacts.add_subparsers(dest="contacts_command", required=True)
    p = leaf(csub, "add", cmd_contacts_add, "add or rename a contact")
    p.add_argument("phone", metavar="PHONE")
    p.add_argument("name", metavar="NAME", nargs="+")
    leaf(csub, "list", cmd_contacts_list, "list contacts and which of them are on Hudhud")
    p = leaf(csub, "remove", cmd_contacts_remove, "remove a contact")
    p.add_argument("phone", metavar="PHONE")

    devices = subparsers.add_parser("devices", help="devices logged in to your account")
    dsub = devices.add_subparsers(dest="devices_command", required=True)
    leaf(dsub, "list", cmd_devices_list, "list your devices")
    p = leaf(dsub, "revoke", cmd_devices_revoke, "log a device out")
    p.add_argument("device_id", metavar="ID")

    p = leaf(subparsers, "link", cmd_link, "link a computer's browser to your account with its pairing code")
    p.add_argument("code", metavar="CODE", help="the code the browser shows, e.g. K7QM-4XPA")

    p = leaf(subparsers, "privacy", cmd_privacy, "show or change privacy settings")
    p.add_argument("--read-receipts", choices=["on", "off"], help="share read receipts (blue ticks)")
    p.add_argument("--last-seen", choices=["everyone", "contacts", "nobody"], help="who sees your last seen")
    p.add_argument(
        "--group-add",
        choices=["everyone", "contacts", "nobody"],
        help="who can add you to groups; anyone else can only send you an invitation",
    )
    p.add_argument("--group-invites", choices=["everyone", "contacts"], help="whose group invitations reach you at all")
    p.add_argument(
        "--phone",
        choices=["everyone", "contacts", "nobody"],
        help="who sees your number, besides people who already have it and people you write to",
    )

    p = leaf(subparsers, "profile", cmd_profile, "show or change your display name and about text")
    p.add_argument("--name", help="display name (at most 64 characters)")
    p.add_argument("--about", help="about text (at most 140 characters)")

    p = leaf(subparsers, "edit", cmd_edit, "edit one of your messages")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("seq", metavar="SEQ", type=int)
    p.add_argument("text", metavar="TEXT", nargs="+")
    waiting(p)

    p = leaf(subparsers, "delete", cmd_delete, "delete one of your messages for everyone")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("seq", metavar="SEQ", type=int)
    waiting(p)

    p = leaf(subparsers, "react", cmd_react, "react to a message (an empty EMOJI removes your reaction)")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("seq", metavar="SEQ", type=int)
    p.add_argument("emoji", metavar="EMOJI")
    waiting(p)

    p = leaf(subparsers, "forward", cmd_forward, "forward message #SEQ of CHAT to up to five chats")
    p.add_argument("chat", metavar="CHAT")
    p.add_argument("seq", metavar="SEQ", type=int)
    p.add_argument("to", metavar="TO", nargs="+", help="as TO in `send` (a group's subject too)")
    waiting(p)

    chat_help = "the group's subject or conversation id (c…)"
    who_help = "phone number, contact name, user id (u…) or a member's display name"
    group = subparsers.add_parser("group", help="create and manage groups")
    gsub = group.add_subparsers(dest="group_command", required=True)
    p = leaf(gsub, "create", cmd_group_create, "create a group; people whose settings ask for it are invited")
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("--description", help="what the group is about")
    p.add_argument("--member", action="append", metavar="WHO", help="add someone (repeat for more)")
    p = leaf(gsub, "info", cmd_group_info, "show a group's subject, settings and members")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p = leaf(gsub, "add", cmd_group_add, "add members (admins); people whose settings ask for it are invited")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("who", metavar="WHO", nargs="+", help=who_help)
    for action, text in (
        ("remove", "remove a member (admins)"),
        ("promote", "make a member an admin (admins)"),
        ("demote", "make an admin a plain member again (admins)"),
    ):
        p = leaf(gsub, action, cmd_group_member, text)
        p.add_argument("chat", metavar="CHAT", help=chat_help)
        p.add_argument("who", metavar="WHO", help=who_help)
        p.set_defaults(action=action)
    p = leaf(gsub, "leave", cmd_group_leave, "leave a group")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("--report", action="store_true", help="also report the group (shares its last five messages)")
    p.add_argument("--reason", help="why you report it")
    p = leaf(gsub, "rename", cmd_group_rename, "change a group's subject")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("subject", metavar="SUBJECT", nargs="+")
    p.add_argument("--description", help="change the description too")
    p = leaf(gsub, "describe", cmd_group_describe, "change a group's description")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("text", metavar="TEXT", nargs="+")
    p = leaf(gsub, "settings", cmd_group_settings, "show or change a group's settings (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("--announce", choices=["on", "off"], help="announcement group: only admins send messages")
    p.add_argument("--admins-edit", choices=["on", "off"], help="only admins change the subject and description")
    p.add_argument("--approve", choices=["on", "off"], help="admins approve those who join with a link")
    p = leaf(gsub, "link", cmd_group_link, "make an invite link (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("--expires", type=float, metavar="SECONDS", help="valid for this long (default: until revoked)")
    p.add_argument("--max-uses", type=int, metavar="N", help="valid for N joins")
    p = leaf(gsub, "links", cmd_group_links, "list a group's invite links (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p = leaf(gsub, "revoke-link", cmd_group_revoke_link, "revoke an invite link (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    p.add_argument("code", metavar="CODE")
    p = leaf(gsub, "join", cmd_group_join, "join a group with an invite link's code")
    p.add_argument("code", metavar="CODE")
    p = leaf(gsub, "requests", cmd_group_requests, "list requests to join (admins)")
    p.add_argument("chat", metavar="CHAT", help=chat_help)
    for action, text in (("approve", "let someone who asked join (admins)"), ("reject", "turn down a request")):
        p = leaf(gsub, action, cmd_group_answer, text)
        p.add_argument("chat", metavar="CHAT", help=chat_help)
        p.add_argument("who", metavar="WHO", help="phone number, contact name, user id or display name")
        p.set_defaults(action=action)

    p = leaf(subparsers, "invitations", cmd_invitations, "list invitations to groups, or accept or decline one")
    p.add_argument("action", nargs="?", choices=["list", "accept", "decline"], default="list")
    p.add_argument("invitation_id", nargs="?", metavar="ID", help="the invitation's id (or the group's subject)")

    p = leaf(subparsers, "block", cmd_block, "block someone silently (without WHO: list whom you blocked)")
    p.add_argument("who", metavar="WHO", nargs="?", help="phone number, contact name or user id")
    p.add_argument("--report", action="store_true", help="also report them")
    p = leaf(subparsers, "unblock", cmd_unblock, "unblock someone")
    p.add_argument("who", metavar="WHO")
    p = leaf(subparsers, "report", cmd_report, "report someone or a chat to the service's operators")
    p.add_argument("who", metavar="WHO", nargs="?", help="phone number, contact name or user id")
    p.add_argument("--chat", metavar="CHAT", help="the chat to report or to share messages from")
    p.add_argument("--messages", metavar="SEQ,SEQ", help="message numbers to share (up to 20)")
    p.add_argument("--reason", help="what is wrong")
    p.add_argument("--block", action="store_true", help="also block them")

    broadcast = subparsers.add_parser("broadcast", help="broadcast lists: one message to many, each privately")
    bsub = broadcast.add_subparsers(dest="broadcast_command", required=True)
    p = leaf(bsub, "create", cmd_broadcast_create, "make a broadcast list")
    p.add_argument("name", metavar="NAME")
    p.add_argument("who", metavar="WHO", nargs="+", help="phone number, contact name or user id")
    leaf(bsub, "list", cmd_broadcast_list, "list your broadcast lists")
    p = leaf(bsub, "members", cmd_broadcast_members, "replace a list's recipients")
    p.add_argument("list", metavar="NAME_OR_ID")
    p.add_argument("who", metavar="WHO", nargs="+")
    p = leaf(bsub, "delete", cmd_broadcast_delete, "delete a broadcast list")
    p.add_argument("list", metavar="NAME_OR_ID")
    p = leaf(bsub, "send", cmd_broadcast_send, "send a text to every recipient of a list, each privately")
    p.add_argument("list", metavar="NAME_OR_ID")
    p.add_argument("text", metavar="TEXT", nargs="+")
    waiting(p)

    media_commands.register(subparsers, common)  # send-file, send-location, send-contact, download
    register_delete_account(subparsers, common)
