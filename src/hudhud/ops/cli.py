"""The operator commands of this package under `hudhud admin`: backup, restore-backup, migrate-sqlite-to-postgres."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hudhud.config import Settings


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def register(
    admin_sub: Any,
    add_server_flags: Callable[[argparse.ArgumentParser], None],
    settings_of: Callable[[argparse.Namespace], Settings],
) -> None:
    async def cmd_backup(args: argparse.Namespace) -> int:
        from hudhud.ops.backup import backup

        manifest = await backup(settings_of(args), Path(args.dest))
        media = manifest["media"]
        if args.json:
            print(json.dumps(manifest), flush=True)
        else:
            what = f"{media['files']} media files" if media.get("included") else "no media (object storage)"
            print(
                f"backup of the {manifest['engine']} database written to {args.dest}: {manifest['messages']} "
                f"messages, schema revision {manifest['alembic_revision']}, {what}",
                flush=True,
            )
        for key in media.get("missing", []):
            _say(f"warning: media {key} is known to the database but was gone when the media was copied")
        return 0

    async def cmd_restore(args: argparse.Namespace) -> int:
        from hudhud.ops.backup import restore

        done = await restore(settings_of(args), Path(args.src), force=args.force)
        if args.json:
            print(json.dumps(done), flush=True)
        else:
            print(
                f"restored {done['tables'].get('messages', 0)} messages into {done['database']}, "
                f"{done['media']['files']} media files copied",
                flush=True,
            )
        if "note" in done["media"]:
            _say(f"note: {done['media']['note']}")
        return 0

    async def cmd_to_postgres(args: argparse.Namespace) -> int:
        from hudhud.ops.transfer import sqlite_to_postgres

        counts = await sqlite_to_postgres(args.source, args.target, batch=args.batch, say=_say)
        if args.json:
            print(json.dumps(counts), flush=True)
        else:
            print(
                f"copied {sum(counts.values())} rows in {len(counts)} tables ({counts.get('messages', 0)} messages); "
                f"start the server with HUDHUD_DATABASE_URL set to the new database and the same data directory",
                flush=True,
            )
        return 0

    bk = admin_sub.add_parser(
        "backup",
        help="back up the database and local media into a new directory (safe while the server runs)",
        description="Write DEST/manifest.json, the database (DEST/hudhud.db from SQLite's online backup, or "
        "DEST/hudhud.pgdump from pg_dump -Fc) and the local media files (DEST/media). docs/deploy.md.",
    )
    bk.add_argument("dest", help="a directory that does not exist yet (or is empty)")
    bk.add_argument("--json", action="store_true", help="print the manifest as JSON")
    add_server_flags(bk)
    bk.set_defaults(func=cmd_backup)

    # `hudhud admin restore USER` is the moderation command (lift a suspension); this one names what it restores.
    rs = admin_sub.add_parser(
        "restore-backup",
        help="restore a backup into the configured database and data directory (stop the server first)",
        description="Restore a directory written by `hudhud admin backup` into the database of --database-url "
        "(SQLite or PostgreSQL, the engine the backup was made from) and the media into --data-dir.",
    )
    rs.add_argument("src", help="the backup directory")
    rs.add_argument("--force", action="store_true", help="replace a database that already holds data")
    rs.add_argument("--json", action="store_true", help="print what was restored as JSON")
    add_server_flags(rs)
    rs.set_defaults(func=cmd_restore)

    mp = admin_sub.add_parser(
        "migrate-sqlite-to-postgres",
        help="copy a SQLite installation into an empty PostgreSQL database (stop the server first)",
        description="Migrate the PostgreSQL database to the newest schema, check that the SQLite database is at "
        "the same revision and the target holds no rows, copy every table in one transaction and compare row "
        "counts. Media stays in the data directory.",
    )
    mp.add_argument("--from", dest="source", required=True, help="sqlite:///path/to/hudhud.db")
    mp.add_argument("--to", dest="target", required=True, help="postgresql://user@host/db (empty)")
    mp.add_argument("--batch", type=int, default=1000, help="rows per INSERT (default 1000)")
    mp.add_argument("--json", action="store_true", help="print the rows copied per table as JSON")
    mp.set_defaults(func=cmd_to_postgres)
