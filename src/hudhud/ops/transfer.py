"""`hudhud admin migrate-sqlite-to-postgres`: move a single-box installation onto PostgreSQL.

The target is brought to the newest schema with the Alembic migrations (as `hudhud admin migrate` does), must
then be at the same revision as the source and hold no rows. Every table of the schema is copied in
foreign-key order, in batches, from one read snapshot of the SQLite file, inside one PostgreSQL transaction:
the target ends with all the rows or with none. Sequences behind integer keys are moved past the copied
values, and the rows of every table are counted on both sides before the transaction commits.

The server must be stopped first: what it writes after the copy has begun is not copied. Media files and the
signed-URL key stay in the data directory, which the server on PostgreSQL goes on using.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from hudhud.ops import OpsError
from hudhud.ops.common import TABLES, describe, engine_of, head_revision, pg_connect, pg_counts, pg_revision
from hudhud.ops.common import sqlite_path as path_of
from hudhud.store import migrate
from hudhud.store.schema import metadata

BATCH = 1000

# Sequences owned by a column (serial columns: deptype 'a'; identity columns: 'i'), with their table and column.
OWNED_SEQUENCES = """
SELECT t.relname, a.attname, quote_ident(n.nspname) || '.' || quote_ident(s.relname)
FROM pg_class s
JOIN pg_namespace n ON n.oid = s.relnamespace
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE s.relkind = 'S' AND n.nspname = current_schema()
"""


def _open_sqlite(path: Path) -> Any:
    if not path.is_file():
        raise OpsError(f"there is no SQLite database at {path}")
    engine = create_engine(f"sqlite+pysqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves: one read snapshot for the whole copy

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def _source_state(conn: Connection) -> tuple[str | None, dict[str, int], list[str]]:
    present = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
    revision = None
    if "alembic_version" in present:
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    counts = {
        t: int(conn.execute(select(func.count()).select_from(metadata.tables[t])).scalar_one())
        for t in TABLES
        if t in present
    }
    missing = [t for t in TABLES if t not in present]
    return (str(revision) if revision is not None else None), counts, missing


async def sqlite_to_postgres(
    source_url: str, target_url: str, *, batch: int = BATCH, say: Callable[[str], None] = print
) -> dict[str, int]:
    """Copy every table of the SQLite database into the empty PostgreSQL database; returns the rows per table."""
    if engine_of(source_url) != "sqlite":
        raise OpsError(f"--from must be a SQLite URL (sqlite:///path), not {describe(source_url)}")
    if engine_of(target_url) != "postgresql":
        raise OpsError(f"--to must be a PostgreSQL URL (postgresql://user@host/db), not {describe(target_url)}")
    path = path_of(source_url)
    if await asyncio.to_thread(Path(f"{path}-wal").exists):
        say(
            f"note: {path}-wal exists: if a server is still running on {path}, stop it first; what it writes from "
            "now on is not copied"
        )
    source = _open_sqlite(path)
    try:
        with source.begin() as sconn:
            revision, counts, missing = _source_state(sconn)  # the first read: the snapshot starts here
            head = head_revision()
            if revision != head or missing:
                raise OpsError(
                    f"{path} is at schema revision {revision or 'none'} and this hudhud's is {head}: bring it up "
                    f"to date first with: hudhud admin migrate --database-url sqlite:///{path}"
                )
            async with pg_connect(target_url):
                pass  # reachable, before the migrations are run on it
            say(f"migrating {describe(target_url)} to revision {head}")
            await migrate.upgrade(target_url)
            async with pg_connect(target_url) as pconn:
                target_revision = await pg_revision(pconn)
                if target_revision != revision:
                    raise OpsError(
                        f"{describe(target_url)} is at revision {target_revision} after migrating, the source at "
                        f"{revision}"
                    )
                busy = [t for t, n in (await pg_counts(pconn)).items() if n]
                if busy:
                    raise OpsError(
                        f"{describe(target_url)} is not empty (rows in {', '.join(busy[:4])}): migrate into a new "
                        "database (createdb), or drop this one first"
                    )
                await pconn.commit()
                try:
                    async with pconn.begin():
                        copied = await pconn.run_sync(_copy_all, sconn, counts, batch, say)
                except DBAPIError as exc:
                    raise OpsError(
                        f"the copy failed and was rolled back, the target is empty again: {exc.orig}"
                    ) from None
    finally:
        source.dispose()
    return copied


def _copy_all(
    pg: Connection, sqlite: Connection, counts: dict[str, int], batch: int, say: Callable[[str], None]
) -> dict[str, int]:
    copied: dict[str, int] = {}
    for name in TABLES:
        table = metadata.tables[name]
        order = list(table.primary_key.columns) or list(table.columns)
        result = sqlite.execution_options(yield_per=batch).execute(select(table).order_by(*order))
        n = 0
        for rows in result.partitions(batch):
            pg.execute(insert(table), [dict(r._mapping) for r in rows])
            n += len(rows)
        copied[name] = n
        if counts[name]:
            say(f"  {name}: {n} rows")
    # Serial and identity columns: the next value handed out must come after the copied ones.
    for table_name, column, sequence in pg.execute(text(OWNED_SEQUENCES)).all():
        top = pg.execute(text(f'SELECT max("{column}") FROM "{table_name}"')).scalar()
        if top is not None:
            pg.execute(text("SELECT setval(CAST(:s AS regclass), :v, true)"), {"s": sequence, "v": int(top)})
    found = {
        name: int(pg.execute(select(func.count()).select_from(metadata.tables[name])).scalar_one()) for name in TABLES
    }
    if found != counts or copied != counts:
        wrong = [t for t in TABLES if found.get(t) != counts.get(t) or copied.get(t) != counts.get(t)]
        raise OpsError(
            "row counts differ after the copy, nothing was committed: "
            + ", ".join(f"{t} {counts.get(t)} in SQLite, {found.get(t)} in PostgreSQL" for t in wrong)
        )
    return found
