"""The `hudhud` command: `serve`, `admin …`, and the client commands (login, send, chats, history, listen …)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from hudhud import __version__
from hudhud.config import Settings


def _server_settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
        database_url=getattr(args, "database_url", None),
        durability=getattr(args, "durability", None),
        log_level=getattr(args, "log_level", None),
        log_format=getattr(args, "log_format", None),
        sms_backend=getattr(args, "sms_gateway", None),
        bus_url=getattr(args, "bus_url", None),
        workers=getattr(args, "workers", None),
    )


def _add_server_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="where SQLite and media live (env HUDHUD_DATA_DIR, default ./var)")
    p.add_argument("--database-url", help="sqlite:///path or postgresql://user@host/db (env HUDHUD_DATABASE_URL)")


def cmd_serve(args: argparse.Namespace) -> int:
    from hudhud import logs
    from hudhud.web.workers import listening_socket, resolve_workers, supervise, worker_index

    settings = _server_settings(args)
    index = worker_index()
    prefix = f"[worker {index}] " if index is not None else ""
    log_config = logs.configure(settings.log_level, settings.log_format)
    workers = resolve_workers(settings)
    if workers > 1 and index is None:
        argv = sys.argv[1:] if args.argv is None else args.argv
        return supervise(settings, workers, argv)
    # Imported only here: a supervisor does not need the server, and it starts its workers sooner without it.
    import uvicorn

    from hudhud.app import Hudhud
    from hudhud.web.edge import EdgeServer, uvicorn_options
    from hudhud.web.server import create_app

    hub = Hudhud(settings)
    config = uvicorn.Config(
        create_app(hub),
        host=settings.host,
        port=settings.port,
        ws_ping_interval=30,
        ws_ping_timeout=30,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        log_level=settings.log_level,
        log_config=log_config,
        timeout_graceful_shutdown=10,
        backlog=4096,
        **uvicorn_options(hub),  # the HTTP edge: protocol classes, timeouts and connection caps (web/edge.py)
    )
    # A worker shares the port with its siblings (SO_REUSEPORT); a single server binds it alone.
    sock = listening_socket(settings.host, settings.port, 4096, reuse_port=index is not None)
    print(
        f"hudhud {__version__} {prefix}serving on http://{settings.host}:{settings.port} "
        f"(database {settings.effective_database_url.split('@')[-1]}, bus {settings.bus_url.split('@')[-1]})",
        flush=True,
    )
    from hudhud import runtime

    runtime.tune()
    EdgeServer(config).run(sockets=[sock])  # returns after a graceful shutdown (SIGTERM included): exit status 0
    return 0


async def cmd_create_user(args: argparse.Namespace) -> int:
    from hudhud.app import Hudhud

    hub = Hudhud(_server_settings(args))
    await hub.start()
    try:
        login = await hub.accounts.create_user(args.phone, args.name or "", args.device_name)
    finally:
        await hub.close()
    row = {"user_id": login.user.id, "phone": login.user.phone, "device_id": login.device.id, "token": login.token}
    if args.json:
        print(json.dumps(row), flush=True)
    else:
        print("\n".join(f"{k:<9} {v}" for k, v in row.items()))
    return 0


def _read_csv(path: str) -> list[tuple[int, str, str]]:
    """(line number, phone, name) for each row of a `phone,name` file; a first row naming the columns is
    skipped, and so are blank lines."""
    import csv

    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        for line_no, row in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in row]
            if not cells or not any(cells):
                continue
            if line_no == 1 and cells[0].lower() in ("phone", "number", "phone_number"):
                continue
            rows.append((line_no, cells[0], cells[1] if len(cells) > 1 else ""))
    return rows


async def cmd_create_users(args: argparse.Namespace) -> int:
    from hudhud.app import Hudhud
    from hudhud.errors import ClientError

    rows = _read_csv(args.file)
    hub = Hudhud(_server_settings(args))
    await hub.start()
    try:
        results = await hub.accounts.create_users([(phone, name) for _, phone, name in rows], args.device_name)
    finally:
        await hub.close()
    failed = 0
    for (line_no, raw, _), result in zip(rows, results, strict=True):
        if isinstance(result, ClientError):
            failed += 1
            if args.json:
                print(
                    json.dumps(
                        {"line": line_no, "phone": raw, "error": {"code": result.code, "message": result.message}}
                    )
                )
            else:
                print(f"line {line_no}: {raw}: error [{result.code}] {result.message}", file=sys.stderr)
            continue
        row = {
            "line": line_no,
            "user_id": result.user.id,
            "phone": result.user.phone,
            "device_id": result.device.id,
            "token": result.token,
        }
        print(json.dumps(row) if args.json else "  ".join(str(v) for v in row.values()))
    print(f"{len(rows) - failed} accounts created, {failed} rows failed", file=sys.stderr, flush=True)
    return 1 if failed else 0


async def cmd_revoke_device(args: argparse.Namespace) -> int:
    from hudhud.app import Hudhud

    hub = Hudhud(_server_settings(args))
    await hub.start()
    try:
        user_id = await hub.accounts.revoke_any(args.device_id)
    finally:
        await hub.close()
    print(f"device {args.device_id} of {user_id} logged out")
    return 0


async def cmd_delete_user(args: argparse.Namespace) -> int:
    from hudhud.app import Hudhud
    from hudhud.errors import NotFound
    from hudhud.store import accounts as aq

    if not args.yes:
        print("error: deleting an account cannot be undone; add --yes", file=sys.stderr)
        return 2
    hub = Hudhud(_server_settings(args))
    await hub.start()
    try:
        who = args.user
        if not who.startswith("u"):
            user = await hub.db.read(lambda c: aq.get_user_by_phone(c, hub.accounts.normalize(who)))
            if user is None:
                raise NotFound(f"no account with the number {who}")
            who = user.id
        done = await hub.deletion.delete(who)
    finally:
        await hub.close()
    row = {
        "user_id": done.user_id,
        "groups_left": done.groups_left,
        "media_deleted": done.media_deleted,
        "media_kept": done.media_kept,
        "devices_revoked": done.devices_revoked,
    }
    print(
        json.dumps(row)
        if args.json
        else f"account {done.user_id} deleted: " + ", ".join(f"{k} {v}" for k, v in list(row.items())[1:])
    )
    return 0


async def cmd_reports(args: argparse.Namespace) -> int:
    import datetime as dt

    from hudhud.app import Hudhud
    from hudhud.store import accounts as aq

    hub = Hudhud(_server_settings(args))
    await hub.start()
    try:
        reports = await hub.safety.reports(include_closed=args.all)
        ids = {uid for r in reports for uid in (r.reporter_id, r.target_user_id) if uid}
        users = await hub.db.read(lambda c: aq.get_users(c, ids))  # deleted accounts included
    finally:
        await hub.close()
    if not reports:
        print("no open reports")
    for r in reports:
        when = dt.datetime.fromtimestamp(r.created_at, dt.UTC).strftime("%Y-%m-%d %H:%M")
        target = (users[r.target_user_id].phone or "deleted") + f" ({r.target_user_id})" if r.target_user_id else "-"
        print(
            f"{r.id}  {when}  [{r.status}]  by {users[r.reporter_id].phone or r.reporter_id}  against {target}"
            f"  chat {r.conversation_id or '-'}"
        )
        if r.reason:
            print(f"    reason: {r.reason}")
        for m in r.evidence:
            print(f"    #{m['seq']} {m['sender_id']}: {m['content']}")
    return 0


async def cmd_moderate(args: argparse.Namespace) -> int:
    from hudhud.app import Hudhud

    hub = Hudhud(_server_settings(args))
    await hub.start()
    try:
        who = args.user
        if not who.startswith("u"):
            who = hub.accounts.normalize(who)
        user = await hub.safety.moderate(who, args.action)
    finally:
        await hub.close()
    print(f"{user.phone} ({user.id}): status {user.status}, warnings {user.warnings}")
    return 0


async def cmd_migrate(args: argparse.Namespace) -> int:
    from hudhud.store import migrate

    settings = _server_settings(args)
    if settings.effective_database_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await migrate.upgrade(settings.effective_database_url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hudhud", description="Hudhud messenger: server and client.")
    parser.add_argument("--version", action="version", version=f"hudhud {__version__}")
    # Client options are accepted before the command too (`hudhud --profile amal send …`).
    parser.add_argument("--profile", dest="global_profile", help=argparse.SUPPRESS)
    parser.add_argument("--server", dest="global_server", help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (env HUDHUD_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (env HUDHUD_PORT, default 8080)")
    _add_server_flags(serve)
    serve.add_argument(
        "--durability",
        choices=["normal", "full"],
        help="normal: acknowledged messages survive a crash of the server; full: also power loss",
    )
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="text for a terminal (default), json for production: one JSON object a line (env HUDHUD_LOG_FORMAT)",
    )
    serve.add_argument(
        "--sms-gateway",
        choices=["console", "file", "webhook"],
        help="how codes leave the server (env HUDHUD_SMS_BACKEND): console prints them, file appends JSON lines "
        "to HUDHUD_SMS_FILE (default DATA_DIR/sms-codes.jsonl), webhook POSTs them to HUDHUD_SMS_WEBHOOK_URL",
    )
    serve.add_argument(
        "--bus-url", help="memory:// (one process, the default) or redis://host:port/db (env HUDHUD_BUS_URL)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        help="worker processes on the port (env HUDHUD_WORKERS; default: one per core with PostgreSQL and Redis, "
        "else 1); more than 1 needs PostgreSQL and Redis",
    )
    serve.set_defaults(func=cmd_serve, sync=True, argv=None)

    admin = sub.add_parser("admin", help="operator commands (run on the server machine)")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    cu = admin_sub.add_parser("create-user", help="create an account and print a device token")
    cu.add_argument("phone")
    cu.add_argument("--name", default="")
    cu.add_argument("--device-name", default="provisioned")
    cu.add_argument("--json", action="store_true", help="print one JSON object instead of aligned text")
    _add_server_flags(cu)
    cu.set_defaults(func=cmd_create_user)
    cus = admin_sub.add_parser(
        "create-users",
        help="create many accounts from a CSV file of phone,name rows (a header row is optional)",
        description="Create an account and a device token for each row; rows that fail are reported and "
        "skipped. Prints one line per account (--json: one JSON object per line, errors included); exit "
        "status 1 if any row failed.",
    )
    cus.add_argument("file", help="CSV file: phone,name per line")
    cus.add_argument("--device-name", default="provisioned")
    cus.add_argument("--json", action="store_true", help="JSON lines instead of text")
    _add_server_flags(cus)
    cus.set_defaults(func=cmd_create_users)
    rd = admin_sub.add_parser("revoke-device", help="log a device out (its token stops working)")
    rd.add_argument("device_id")
    _add_server_flags(rd)
    rd.set_defaults(func=cmd_revoke_device)
    du = admin_sub.add_parser(
        "delete-user", help="delete an account and everything only its own (docs/protocol.md section 3.6a)"
    )
    du.add_argument("user", help="user id or phone number")
    du.add_argument("--yes", action="store_true", help="yes, delete it: this cannot be undone")
    du.add_argument("--json", action="store_true", help="print what was deleted as one JSON object")
    _add_server_flags(du)
    du.set_defaults(func=cmd_delete_user)
    rp = admin_sub.add_parser("reports", help="list reports of users and groups")
    rp.add_argument("--all", action="store_true", help="include closed reports")
    _add_server_flags(rp)
    rp.set_defaults(func=cmd_reports)
    for action, text in (
        ("warn", "record a warning on an account"),
        ("suspend", "suspend an account: it can no longer log in, connect or send"),
        ("restore", "restore a suspended or throttled account and close its reports"),
    ):
        ap = admin_sub.add_parser(action, help=text)
        ap.add_argument("user", help="user id or phone number")
        _add_server_flags(ap)
        ap.set_defaults(func=cmd_moderate, action=action)
    mg = admin_sub.add_parser("migrate", help="apply database migrations")
    mg.add_argument("--revision", default="head")
    _add_server_flags(mg)
    mg.set_defaults(func=cmd_migrate)
    from hudhud.ops import cli as ops_cli

    # backup, restore-backup, migrate-sqlite-to-postgres
    ops_cli.register(admin_sub, _add_server_flags, _server_settings)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--profile", help="client state directory (env HUDHUD_PROFILE, default ~/.config/hudhud/default)"
    )
    common.add_argument("--server", help="server URL (env HUDHUD_SERVER, default http://127.0.0.1:8080)")
    try:
        from hudhud.client import commands
    except ImportError:  # pragma: no cover - the client package is part of every install
        commands = None  # type: ignore[assignment]
    if commands is not None:
        commands.register(sub, common)  # the client commands, delete-account last
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is cmd_serve:
        args.argv = sys.argv[1:] if argv is None else argv  # a supervisor starts its workers with the same
    for name in ("profile", "server"):
        if getattr(args, name, None) is None and getattr(args, f"global_{name}", None) is not None:
            setattr(args, name, getattr(args, f"global_{name}"))
    func: Any = args.func
    try:
        if getattr(args, "sync", False):
            return int(func(args))
        return int(asyncio.run(func(args)))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from hudhud.errors import ClientError
        from hudhud.ops import OpsError

        if isinstance(exc, OpsError):
            print(f"error: {exc}", file=sys.stderr)
            return 1
        if isinstance(exc, ClientError | ValueError):
            print(f"error: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
