"""`hudhud admin backup DEST` and `hudhud admin restore-backup SRC` (docs/deploy.md, "Backups and restore").

A backup is a directory:

    DEST/hudhud.db        SQLite: one self-contained file (the online backup API, one read snapshot)
    DEST/hudhud.pgdump    PostgreSQL: pg_dump's custom format (-Fc), taken from one exported snapshot
    DEST/media/…          the local media blobs (data_dir/media/store), when media is stored as local files
    DEST/media-url.key    the key for signed media URLs, when it is kept in the data directory
    DEST/manifest.json    what is in it: format, engine, schema revision, rows per table, media

Both engines are backed up while the server runs and writes: SQLite in WAL mode lets the backup read one
snapshot while writers go on, and pg_dump reads one snapshot too. The database is copied first and the media
after it: a blob is on disk before the row that says it is stored commits, and blobs are never changed (they
are named by their SHA-256), so every blob the database snapshot knows is in the copy unless it was deleted in
between (which the manifest lists). The directory is built under a temporary name beside DEST and renamed to
DEST at the end, so a DEST with a manifest is a complete backup.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hudhud import __version__
from hudhud.config import Settings
from hudhud.media.store import thumbnail_key
from hudhud.ops import OpsError
from hudhud.ops.common import (
    check_known_revision,
    describe,
    engine_of,
    libpq,
    pg_connect,
    pg_counts,
    pg_revision,
    sqlite_counts,
    sqlite_has_data,
    sqlite_path,
    sqlite_revision,
)

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "hudhud.db"
PG_FILE = "hudhud.pgdump"
MEDIA_DIR = "media"
URL_KEY = "media-url.key"
STORED_BLOBS = "SELECT key, thumbnail FROM media_blobs WHERE state = 'stored'"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise OpsError(
            f"{name} not found on PATH: install the PostgreSQL client tools of the server's major version or newer "
            "(Debian and Ubuntu: apt-get install postgresql-client)"
        )
    return path


async def _run(argv: list[str], env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        tool = Path(argv[0]).name
        raise OpsError(f"{tool} failed (exit status {proc.returncode}): {err.decode(errors='replace').strip()}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- backup ------------------------------------------------------------------------------------------------------


async def backup(settings: Settings, dest: Path) -> dict[str, Any]:
    """Write a backup of the configured database (and local media) to the new directory `dest`; returns the
    manifest."""
    url = settings.effective_database_url
    engine = engine_of(url)
    dest, work = _workdir(dest)
    try:
        if engine == "sqlite":
            db = await asyncio.to_thread(_sqlite_backup, sqlite_path(url), work / SQLITE_FILE)
        else:
            db = await _pg_backup(url, work / PG_FILE)
        media = await asyncio.to_thread(_copy_media, settings, work, db.pop("blobs"))
        manifest = {
            "format": FORMAT,
            "hudhud_version": __version__,
            "engine": engine,
            "database_file": SQLITE_FILE if engine == "sqlite" else PG_FILE,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "alembic_revision": db["revision"],
            "messages": db["tables"].get("messages", 0),
            "tables": db["tables"],
            "media": media,
            **({"server_version": db["server_version"]} if "server_version" in db else {}),
        }
        await asyncio.to_thread(_finish, work, dest, manifest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _workdir(dest: Path) -> tuple[Path, Path]:
    """DEST made absolute, and the directory beside it where the backup is built."""
    dest = Path(os.path.abspath(dest))
    if dest.exists() and not (dest.is_dir() and not any(dest.iterdir())):
        raise OpsError(f"{dest} already exists and is not an empty directory: give a new path for the backup")
    if not dest.parent.is_dir():
        raise OpsError(f"cannot write the backup to {dest}: the directory {dest.parent} does not exist")
    work = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    try:
        work.mkdir(mode=0o700)  # it will hold every message: for its owner only
    except OSError as exc:
        raise OpsError(f"cannot write the backup to {dest}: {exc.strerror or exc}") from None
    return dest, work


def _finish(work: Path, dest: Path, manifest: dict[str, Any]) -> None:
    (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    _fsync(work / MANIFEST)
    if dest.exists():
        dest.rmdir()  # an empty directory, checked by _workdir
    os.rename(work, dest)
    _fsync(dest.parent)


def _sqlite_backup(src: Path, dst: Path) -> dict[str, Any]:
    if not src.is_file():
        raise OpsError(f"there is no SQLite database at {src}")
    source = sqlite3.connect(src, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            # pages=-1: every page in one step, read from one snapshot of the source. In WAL mode the server's
            # writes go on meanwhile (into the WAL); they are simply not in this backup.
            source.backup(target, pages=-1)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise OpsError(f"the copy of {src} fails SQLite's integrity check: {check}")
            tables = sqlite_counts(target)
            revision = sqlite_revision(target)
            blobs = target.execute(STORED_BLOBS).fetchall() if "media_blobs" in tables else []
        finally:
            target.close()
    except sqlite3.DatabaseError as exc:
        raise OpsError(f"cannot back up {src}: {exc}") from None
    finally:
        source.close()
    _fsync(dst)
    return {"tables": tables, "revision": revision, "blobs": [(k, bool(t)) for k, t in blobs]}


async def _pg_backup(url: str, dst: Path) -> dict[str, Any]:
    pg_dump = _tool("pg_dump")
    conninfo, env = libpq(url)
    async with pg_connect(url) as conn:
        # One snapshot for the row counts in the manifest and for pg_dump (--snapshot), so the two agree
        # however many messages are written meanwhile. The transaction stays open until pg_dump is done.
        await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar_one()
            tables = await pg_counts(conn)
            revision = await pg_revision(conn)
            server_version = (await conn.execute(text("SHOW server_version"))).scalar_one()
            blobs = (
                [(r[0], bool(r[1])) for r in await conn.execute(text(STORED_BLOBS))] if "media_blobs" in tables else []
            )
            await _run(
                [
                    pg_dump,
                    "--format=custom",
                    f"--file={dst}",
                    f"--snapshot={snapshot}",
                    "--no-password",
                    f"--dbname={conninfo}",
                ],
                env,
            )
    _fsync(dst)
    return {"tables": tables, "revision": revision, "blobs": blobs, "server_version": server_version}


def _copy_media(settings: Settings, work: Path, blobs: list[tuple[str, bool]]) -> dict[str, Any]:
    key_file = settings.data_dir / URL_KEY
    url_key = not settings.media_url_secret and key_file.is_file()
    if url_key:
        shutil.copy2(key_file, work / URL_KEY)
    if settings.media_store_url:
        return {
            "included": False,
            "store": settings.media_store_url,
            "note": "media is in object storage: back up the bucket (replication, rclone)",
            "url_key": url_key,
        }
    src = settings.data_dir / "media" / "store"
    dst = work / MEDIA_DIR
    dst.mkdir()
    files = size = 0
    if src.is_dir():
        for root, dirs, names in os.walk(src):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel = Path(root).relative_to(src)
            for name in names:
                if name.startswith("."):
                    continue  # a blob being written (LocalMediaStore renames it into place when complete)
                (dst / rel).mkdir(parents=True, exist_ok=True)
                try:
                    shutil.copy2(Path(root) / name, dst / rel / name)
                except FileNotFoundError:
                    continue  # deleted since it was listed
                files += 1
                size += (dst / rel / name).stat().st_size
    missing = []
    for key, thumb in blobs:
        if not (dst / key).is_file():
            missing.append(key)
        if thumb and not (dst / thumbnail_key(key.rsplit("/", 1)[-1])).is_file():
            missing.append(thumbnail_key(key.rsplit("/", 1)[-1]))
    return {"included": True, "files": files, "bytes": size, "missing": missing, "url_key": url_key}


# -- restore -----------------------------------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    path = src / MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OpsError(f"{src} is not a Hudhud backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise OpsError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("tables"), dict):
        raise OpsError(f"{path} is not a Hudhud backup manifest")
    if manifest.get("format") != FORMAT:
        raise OpsError(f"{src} is a backup in format {manifest.get('format')!r}; this hudhud reads format {FORMAT}")
    return manifest


async def restore(settings: Settings, src: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore the backup in `src` into the configured database (and data directory); returns what was done."""
    manifest = read_manifest(src)
    url = settings.effective_database_url
    engine = engine_of(url)
    if manifest["engine"] != engine:
        hint = (
            " (restore it into a SQLite file with --database-url sqlite:///…, then use "
            "hudhud admin migrate-sqlite-to-postgres)"
            if manifest["engine"] == "sqlite"
            else ""
        )
        raise OpsError(f"{src} is a backup of a {manifest['engine']} database and the target is {engine}{hint}")
    check_known_revision(manifest.get("alembic_revision"))
    expected: dict[str, int] = {str(k): int(v) for k, v in manifest["tables"].items()}
    if engine == "sqlite":
        target = sqlite_path(url)
        await asyncio.to_thread(_sqlite_restore, src / SQLITE_FILE, target, expected, force)
        where = str(target)
    else:
        await _pg_restore(src / PG_FILE, url, expected, force)
        where = describe(url)
    media = await asyncio.to_thread(_restore_media, settings, src, manifest.get("media") or {})
    return {"database": where, "engine": engine, "tables": expected, "media": media}


def _refuse(where: str, tables: list[str]) -> OpsError:
    shown = ", ".join(tables[:4]) + (" …" if len(tables) > 4 else "")
    return OpsError(
        f"{where} already holds data (rows in {shown}): restoring replaces it. Stop the server first, and add "
        "--force to replace it"
    )


def _sqlite_restore(backup_file: Path, target: Path, expected: dict[str, int], force: bool) -> None:
    if not backup_file.is_file():
        raise OpsError(f"the backup has no {backup_file.name}")
    # Check the copy before anything in the target is touched.
    try:
        source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise OpsError(f"cannot open {backup_file}: {exc}") from None
    try:
        try:
            check = source.execute("PRAGMA integrity_check").fetchone()[0]
            counts = sqlite_counts(source)
        except sqlite3.DatabaseError as exc:
            raise OpsError(f"{backup_file} is damaged: {exc}") from None
        if check != "ok":
            raise OpsError(f"{backup_file} is damaged: {check}")
        if counts != expected:
            raise OpsError(f"{backup_file} does not hold what its manifest says: {_diff(expected, counts)}")
        busy = sqlite_has_data(target)
        if busy and not force:
            raise _refuse(str(target), busy)
        target.parent.mkdir(parents=True, exist_ok=True)
        dest = sqlite3.connect(target, timeout=30)
        try:
            # Through the target's own pager, so a -wal file beside it is dealt with as SQLite does (a file
            # copied over the database would be mixed with an old WAL on the next open).
            source.backup(dest, pages=-1)
            dest.execute("PRAGMA journal_mode=WAL")
            restored = sqlite_counts(dest)
        finally:
            dest.close()
    finally:
        source.close()
    if restored != expected:
        raise OpsError(f"after the restore {target} does not match the backup: {_diff(expected, restored)}")


async def _pg_restore(dump: Path, url: str, expected: dict[str, int], force: bool) -> None:
    pg_restore = _tool("pg_restore")
    if not await asyncio.to_thread(dump.is_file):
        raise OpsError(f"the backup has no {dump.name}")
    conninfo, env = libpq(url)
    async with pg_connect(url) as conn:
        busy = [t for t, n in (await pg_counts(conn)).items() if n]
    if busy and not force:
        raise _refuse(describe(url), busy)
    await _run([pg_restore, "--list", str(dump)], env)  # a readable archive, before the target is touched
    # --clean --if-exists: drop what the dump creates, if it is there; --no-owner, --no-acl: the objects belong
    # to whoever restores (roles of the old server need not exist here); one transaction: all or nothing.
    await _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-acl",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            f"--dbname={conninfo}",
            str(dump),
        ],
        env,
    )
    async with pg_connect(url) as conn:
        restored = await pg_counts(conn)
    if restored != expected:
        raise OpsError(f"after the restore {describe(url)} does not match the backup: {_diff(expected, restored)}")


def _diff(expected: dict[str, int], found: dict[str, int]) -> str:
    tables = sorted(set(expected) | set(found))
    return ", ".join(
        f"{t} {expected.get(t)} in the backup, {found.get(t)} here" for t in tables if expected.get(t) != found.get(t)
    )


def _restore_media(settings: Settings, src: Path, media: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"files": 0, "bytes": 0}
    key_file = settings.data_dir / URL_KEY
    if (src / URL_KEY).is_file() and not settings.media_url_secret and not key_file.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / URL_KEY, key_file)
        os.chmod(key_file, 0o600)
        out["url_key"] = True
    if not media.get("included"):
        out["note"] = media.get("note", "the backup holds no media")
        return out
    if settings.media_store_url:
        out["note"] = (
            f"media not restored: this server keeps media in {settings.media_store_url}; copy {src / MEDIA_DIR} "
            "into the bucket (the paths under it are the object keys)"
        )
        return out
    dst = settings.data_dir / "media" / "store"
    for root, _, names in os.walk(src / MEDIA_DIR):
        rel = Path(root).relative_to(src / MEDIA_DIR)
        for name in names:
            source = Path(root) / name
            target = dst / rel / name
            size = source.stat().st_size
            if target.is_file() and target.stat().st_size == size:
                continue  # blobs are named by their content
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{name}.{secrets.token_hex(6)}")  # the name LocalMediaStore uses
            shutil.copy2(source, tmp)
            _fsync(tmp)
            os.replace(tmp, target)
            out["files"] += 1
            out["bytes"] += size
    return out
