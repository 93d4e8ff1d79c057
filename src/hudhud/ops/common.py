"""What the operator tasks share: which engine a URL names, how to reach it, counting rows, schema revisions."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hudhud.ops import OpsError
from hudhud.store.db import async_url
from hudhud.store.migrate import alembic_config
from hudhud.store.schema import metadata

# The schema's tables in foreign-key order (a table comes after every table it refers to).
TABLES = [t.name for t in metadata.sorted_tables]


def engine_of(url: str) -> str:
    """ "sqlite" or "postgresql"."""
    try:
        name = make_url(url).get_backend_name()
    except Exception as exc:
        raise OpsError(f"not a database URL: {url!r} ({exc})") from None
    if name not in ("sqlite", "postgresql"):
        raise OpsError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://user@host/db")
    return name


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise OpsError(f"{url!r} names no SQLite file")
    return Path(database)


def describe(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def libpq(url: str) -> tuple[str, dict[str, str]]:
    """A connection URI for pg_dump and pg_restore, and the environment to run them in: the password travels
    in PGPASSWORD, never on a command line that `ps` shows."""
    u: URL = make_url(url)
    env = dict(os.environ)
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    user = quote(u.username, safe="") + "@" if u.username else ""
    host = u.host or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{u.port}" if u.port else ""
    query: dict[str, str] = {}
    for key, value in u.query.items():
        first = value if isinstance(value, str) else value[0]
        query["sslmode" if key == "ssl" else key] = first  # asyncpg says ssl=, libpq sslmode=
    tail = "?" + urlencode(query) if query else ""
    return f"postgresql://{user}{host}{port}/{quote(u.database or '', safe='')}{tail}", env


def pg_engine(url: str) -> AsyncEngine:
    return create_async_engine(async_url(url), pool_size=1, max_overflow=0)


@asynccontextmanager
async def pg_connect(url: str) -> AsyncIterator[AsyncConnection]:
    """A connection to PostgreSQL, or an OpsError that says the database cannot be reached."""
    engine = pg_engine(url)
    try:
        try:
            conn = await engine.connect()
        except (OSError, DBAPIError) as exc:
            raise OpsError(f"cannot connect to the PostgreSQL database {describe(url)}: {_reason(exc)}") from None
        try:
            yield conn
        finally:
            await conn.close()
    finally:
        await engine.dispose()


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0] if str(orig or exc).strip() else type(exc).__name__


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def check_known_revision(revision: str | None) -> None:
    """Refuse a database made by a newer Hudhud: this version cannot run on it."""
    if revision is None:
        return
    script = ScriptDirectory.from_config(alembic_config())
    try:
        found = script.get_revision(revision)
    except Exception:
        found = None
    if found is None:
        raise OpsError(
            f"the data is at schema revision {revision}, which this hudhud does not know "
            f"(its newest is {head_revision()}): use the Hudhud version that made it, or a newer one"
        )


# -- SQLite ------------------------------------------------------------------------------------------------------


def sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return [r[0] for r in rows]


def sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows in each of the schema's tables that exist here (one read transaction: the caller's)."""
    present = set(sqlite_tables(conn))
    return {t: int(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0]) for t in TABLES if t in present}


def sqlite_revision(conn: sqlite3.Connection) -> str | None:
    if "alembic_version" not in sqlite_tables(conn):
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def sqlite_has_data(path: Path) -> list[str]:
    """The tables of the SQLite file at `path` that hold rows (none if there is no such file)."""
    if not path.exists():
        return []
    conn = sqlite3.connect(path)
    try:
        return [t for t, n in sqlite_counts(conn).items() if n]
    except sqlite3.DatabaseError as exc:
        raise OpsError(f"{path} is not a readable SQLite database: {exc}") from None
    finally:
        conn.close()


# -- PostgreSQL --------------------------------------------------------------------------------------------------


async def pg_counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows in each of the schema's tables that exist in the connection's schema."""
    rows = await conn.execute(
        text(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        )
    )
    present = {r[0] for r in rows}
    out = {}
    for t in TABLES:
        if t in present:
            out[t] = int((await conn.execute(text(f'SELECT count(*) FROM "{t}"'))).scalar_one())
    return out


async def pg_revision(conn: AsyncConnection) -> str | None:
    exists = (await conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL"))).scalar_one()
    if not exists:
        return None
    value = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    return str(value) if value is not None else None
