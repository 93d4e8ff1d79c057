"""The media commands of `hudhud`: send-file, send-location, send-contact and download.

A file is uploaded first (with a progress bar; an interrupted upload resumes when the command is run again),
then the message that refers to it is queued and sent like any other. Downloads are checked against the
SHA-256 in the message and land under their final name only when complete.
"""

from __future__ import annotations

import argparse
import mimetypes
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hudhud.client import media
from hudhud.client.commands.common import UserError, _guarded, _open, _out, _require_login
from hudhud.client.commands.messages import _send_content
from hudhud.client.commands.render import clean
from hudhud.client.commands.resolve import Target, resolve_conversation, resolve_group, resolve_target, resolve_user

MEDIA_ID_RE = re.compile(r"m[0-9abcdefghjkmnpqrstvwxyz]{26}")


class ProgressBar:
    """`label [########......]  57%  1.2 MB/2.1 MB` on stderr, redrawn in place as the percentage moves."""

    def __init__(self, label: str, stream: TextIO | None = None, width: int = 28) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self._shown = -1
        self._done = False

    def __call__(self, done: int, total: int) -> None:
        if self._done:
            return
        pct = 100 if total <= 0 else min(100, done * 100 // total)
        if pct == self._shown:
            return
        self._shown = pct
        filled = self.width * pct // 100
        bar = "#" * filled + "." * (self.width - filled)
        line = f"\r{self.label} [{bar}] {pct:3d}%  {media._size(done)}/{media._size(total)}"
        self.stream.write(line)
        if pct == 100:
            self.stream.write("\n")
            self._done = True
        self.stream.flush()


async def _target(client: Any, raw: str, group: bool) -> Target:
    if group:
        conv_id, subject = await resolve_group(client, raw)
        return Target(conversation_id=conv_id, label=f"“{clean(subject)}”")
    return await resolve_target(client, raw)


@_guarded
async def cmd_send_file(args: argparse.Namespace) -> int:
    path = _local_file(args.path)
    async with _open(args, receive=False) as client:
        _require_login(client)
        target = await _target(client, args.to, args.group)
        head = media.file_head(path)
        ctype = media.guess_type(path, head)
        kind = "document" if args.document else media.guess_kind(ctype, voice=args.voice)
        done = await client.upload_file(path, kind, content_type=ctype, progress=ProgressBar(f"uploading {path.name}"))
        extra = media.describe_file(path, kind, done["content_type"])
        content = media.media_content(kind, done, caption=args.caption, **extra)
    return await _send_content(args, "", content, media_ids=(done["media_id"],), target=target)


@_guarded
async def cmd_send_location(args: argparse.Namespace) -> int:
    async with _open(args, receive=False) as client:
        _require_login(client)
        target = await _target(client, args.to, args.group)
    if args.stop is not None:
        return await _send_content(args, "", media.live_stop_content(args.stop), target=target)
    if args.latitude is None or args.longitude is None:
        raise UserError("give LAT and LON (decimal degrees), or --stop SEQ")
    try:
        if args.update is not None:
            content = media.live_update_content(args.update, args.latitude, args.longitude)
        elif args.live:
            until = round(time.time() + args.live * 60, 3)
            content = media.live_location_content(args.latitude, args.longitude, until)
        else:
            content = media.location_content(args.latitude, args.longitude, name=args.name, address=args.address)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    rc = await _send_content(args, "", content, target=target)
    if args.live and rc == 0:
        _out(
            f"  sharing for {args.live:g} minutes; move it with `hudhud send-location {args.to} LAT LON --update SEQ`"
            f", stop it with `hudhud send-location {args.to} --stop SEQ` (SEQ: the # above)"
        )
    return rc


@_guarded
async def cmd_send_contact(args: argparse.Namespace) -> int:
    async with _open(args, receive=False) as client:
        _require_login(client)
        target = await _target(client, args.to, args.group)
        card = _read_text(args.vcard) if args.vcard else None
        if args.phone:
            name, phones = args.who, list(args.phone)
        else:
            # Someone from my contacts: their name as I saved it, and their number.
            user_id, label = await resolve_user(client, args.who)
            contact = next((c for c in client.store.contacts() if c.user_id == user_id), None)
            if contact is None:
                raise UserError(f"{args.who} is not in your contacts; give their number with --phone")
            name, phones = contact.name or label, [contact.phone]
        content = media.contact_content(name, phones, card=card)
    return await _send_content(args, "", content, target=target)


def _safe_name(name: str, fallback: str) -> str:
    """A file name from a message, reduced to its last component and without control characters."""
    base = Path(name.replace("\\", "/")).name if name else ""
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base or fallback


def _local_file(raw: str) -> Path:
    path = Path(raw).expanduser()
    if not path.is_file():
        raise UserError(f"no file {raw}")
    return path


def _read_text(raw: str) -> str:
    try:
        return Path(raw).expanduser().read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read {raw}: {exc.strerror}") from None


def _destination(output: str | None, name: str, fallback: str) -> Path:
    """Where a download goes: `output` if it names a file, else the file's own (sanitised) name in `output`
    or here, next to (not over) an existing file of that name."""
    out = Path(output).expanduser() if output else Path.cwd()
    if output and not out.is_dir():
        return out
    return _free(out / _safe_name(name, fallback))


def _free(path: Path) -> Path:
    if not path.exists() and not path.with_name(path.name + ".part").exists():
        return path
    if path.with_name(path.name + ".part").exists() and not path.exists():
        return path  # an interrupted download of this very file: resume it
    for n in range(1, 1000):
        candidate = path.with_name(f"{path.stem} ({n}){path.suffix}")
        if not candidate.exists():
            return candidate
    raise UserError(f"{path} exists")


@_guarded
async def cmd_download(args: argparse.Namespace) -> int:
    async with _open(args) as client:
        _require_login(client)
        sha: str | None = None
        name = ""
        if MEDIA_ID_RE.fullmatch(args.what) and args.seq is None:
            media_id = args.what
        else:
            if args.seq is None:
                raise UserError("give a media id (m…), or a chat and the message number: `hudhud download CHAT SEQ`")
            conv_id, _ = await resolve_conversation(client, args.what)
            if conv_id is None:
                raise UserError(f"there are no messages with {args.what} yet")
            messages, _ = await client.history(conv_id, before=args.seq + 1, limit=1)
            if not messages or messages[-1].seq != args.seq:
                raise UserError(f"there is no message #{args.seq} in that chat")
            content = messages[-1].content
            ids = media.media_ids(content)
            if not ids:
                raise UserError(f"message #{args.seq} has no file to download")
            media_id = ids[0]
            sha = content.get("sha256") if isinstance(content.get("sha256"), str) else None
            name = str(content.get("file_name") or "")
        meta = await client.media_info(media_id)
        name = name or str(meta.get("file_name") or "")
        ext = mimetypes.guess_extension(str(meta.get("content_type"))) or ""
        dest = _destination(args.output, name, f"{media_id}{ext if ext != '.bin' else ''}")
        try:
            await client.download_media(media_id, dest, sha256=sha, progress=ProgressBar(f"downloading {dest.name}"))
        except media.MediaError as exc:
            raise UserError(str(exc)) from None
        _out(f"✓ saved {dest} ({media._size(int(meta['size']))}, sha256 {meta['sha256'][:12]}… verified)")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser) -> None:
    def leaf(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = subparsers.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        p.set_defaults(func=func)
        p.add_argument(
            "--wait", type=float, default=10.0, metavar="SECONDS", help="how long to wait for the server (10)"
        )
        return p

    to_help = "phone number, contact name, user id (u…), conversation id (c…) or a group's subject"
    p = leaf("send-file", cmd_send_file, "send a picture, video, voice note, audio file or document")
    p.add_argument("to", metavar="TO", help=to_help)
    p.add_argument("path", metavar="PATH")
    p.add_argument("--caption", help="text shown with a picture, video or document")
    p.add_argument("--voice", action="store_true", help="send audio as a voice note (with duration and waveform)")
    p.add_argument("--document", action="store_true", help="send the file as it is, as a document")
    p.add_argument("--group", action="store_true", help="TO is a group (its subject or conversation id)")

    p = leaf("send-location", cmd_send_location, "send a location, or share a live location for a while")
    p.add_argument("to", metavar="TO", help=to_help)
    p.add_argument("latitude", metavar="LAT", type=float, nargs="?", help="decimal degrees, e.g. 30.0444")
    p.add_argument("longitude", metavar="LON", type=float, nargs="?", help="decimal degrees, e.g. 31.2357")
    p.add_argument("--name", help="the place's name")
    p.add_argument("--address", help="the place's address")
    p.add_argument("--live", type=float, metavar="MINUTES", help="share a live location for MINUTES")
    p.add_argument("--update", type=int, metavar="SEQ", help="move the live location started by message #SEQ")
    p.add_argument("--stop", type=int, metavar="SEQ", help="stop the live location started by message #SEQ")
    p.add_argument("--group", action="store_true", help="TO is a group (its subject or conversation id)")

    p = leaf("send-contact", cmd_send_contact, "send a contact card")
    p.add_argument("to", metavar="TO", help=to_help)
    p.add_argument("who", metavar="WHO", help="one of your contacts, or a name with --phone")
    p.add_argument("--phone", action="append", metavar="NUMBER", help="the card's number (repeat for more)")
    p.add_argument("--vcard", metavar="FILE", help="send this vCard file instead of one made from name and number")
    p.add_argument("--group", action="store_true", help="TO is a group (its subject or conversation id)")

    p = leaf("download", cmd_download, "download the file of a message (or a media id), checked against its SHA-256")
    p.add_argument("what", metavar="CHAT_OR_MEDIA_ID", help="a media id (m…), or the chat, with SEQ")
    p.add_argument("seq", metavar="SEQ", type=int, nargs="?", help="the message's number in that chat")
    p.add_argument("-o", "--output", metavar="PATH", help="file or directory to save to (default: here)")
