"""Hot statements, compiled once per dialect and run straight on the driver.

SQLAlchemy builds the statement (so both engines get correct SQL from one definition); this module compiles it
to the driver's own SQL once and runs it on the DB-API connection underneath the SQLAlchemy `Connection`, in
the same transaction. SQLAlchemy's per-execution machinery (execution context, parameter processing, result
wrapping) cost several times the SQLite statement itself on the message hot path: measured on the one-to-one
benchmark, it was about 40% of the server's CPU.

Only statements whose parameters are plain values (str, int, float, bytes, bool, None) belong here; the store
contract tests run every one of them on both SQLite and PostgreSQL. Everything else goes through SQLAlchemy.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

_CACHE: dict[tuple[str, str], Prepared] = {}
_BUILT: dict[tuple[str, str], Any] = {}


def built(conn: Connection, name: str, build: Callable[[str], Any]) -> Any:
    """A SQLAlchemy statement built once per dialect, with bind parameters for its values, for statements that
    stay on SQLAlchemy (building a statement and its cache key costs more than running it on SQLite)."""
    key = (conn.dialect.name, name)
    stmt = _BUILT.get(key)
    if stmt is None:
        stmt = _BUILT[key] = build(conn.dialect.name)
    return stmt


class Prepared:
    """One statement as the driver sees it: its SQL, the order of its positional parameters (with the values
    of any literals SQLAlchemy turned into parameters), and a row type named after its result columns."""

    __slots__ = ("_row", "_slots", "sql")

    def __init__(self, conn: Connection, stmt: Any, keys: list[str]) -> None:
        compiled = stmt.compile(dialect=conn.dialect, column_keys=keys)
        self.sql: str = compiled.string
        # (name, fixed value, supplied at each call?): SQLAlchemy turns some literals into parameters too.
        self._slots: list[tuple[str, Any, bool]] = []
        for name in compiled.positiontup or []:
            bind = compiled.binds[name]
            supplied = name in keys
            self._slots.append((name, None if supplied else bind.effective_value, supplied))
        self._row: Any = None

    def params(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(values[n] if supplied else fixed for n, fixed, supplied in self._slots)

    def rows(self, cursor: Any, data: Sequence[Any]) -> list[Any]:
        if self._row is None:
            names = [d[0] for d in cursor.description]
            self._row = namedtuple("Row", names, rename=True)  # type: ignore[misc]
        make = self._row._make
        return [make(r) for r in data]


def prepared(conn: Connection, name: str, build: Callable[[str], Any], keys: list[str]) -> Prepared:
    """The statement `name`, built by `build(dialect)` the first time; `keys` are the parameter names callers
    pass (and, for an INSERT, the columns it sets)."""
    key = (conn.dialect.name, name)
    p = _CACHE.get(key)
    if p is None:
        p = _CACHE[key] = Prepared(conn, build(conn.dialect.name), keys)
    return p


def run(conn: Connection, p: Prepared, values: Mapping[str, Any]) -> list[Any]:
    """Execute `p` with `values` in `conn`'s transaction; the result rows (empty for a statement without
    any), each readable by column name or position."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(p.sql, p.params(values))
        if cursor.description is None:
            return []
        return p.rows(cursor, cursor.fetchall())
    finally:
        cursor.close()


def execute(conn: Connection, p: Prepared, values: Mapping[str, Any]) -> int:
    """Execute a statement that returns no rows; the number of rows it changed."""
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        cursor.execute(p.sql, p.params(values))
        return int(cursor.rowcount)
    finally:
        cursor.close()
