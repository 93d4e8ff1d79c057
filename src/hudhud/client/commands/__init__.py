"""The client side of the `hudhud` command: login, send, chats, history, listen, contacts, devices, privacy,
profile, edit, delete, react, group …, invitations, block, unblock, report, broadcast …, forward.

Every command is an `async def cmd_x(args) -> int` run by `hudhud.cli` with `asyncio.run`. State lives in the
profile directory (`--profile`, else $HUDHUD_PROFILE, else ~/.config/hudhud/default); the server URL comes
from `--server`, else $HUDHUD_SERVER, else the one stored at login, else http://127.0.0.1:8080.

CHAT is a phone number, a contact's name, a user id (u…: our direct chat), a conversation id (c…) or a group's
subject; WHO (a person) is a phone number, a contact's name or a user id, and in group commands also the
display name of a member (or of someone asking to join).

Output is meant for people: names instead of ids, local times, ticks on my own messages. Message text from
other people is printed with control characters escaped, so nobody can drive the terminal by sending escape
sequences.

One module per group of commands (`account`, `messages`, `groups`, `safety`, `broadcasts`, `media`), over
`common` (output, `_open`, `_guarded`), `render` (how messages are shown) and `resolve` (CHAT and WHO);
`parser` adds them all to the `hudhud` parser. Commands use the SDK façade (`hudhud.client.sdk`) only.
"""

from hudhud.client.commands.messages import render_history
from hudhud.client.commands.parser import register
from hudhud.client.commands.render import describe, describe_system, message_text

__all__ = ["describe", "describe_system", "message_text", "register", "render_history"]
