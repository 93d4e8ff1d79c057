from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import POSTGRES_URL, ServerHandle, running_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _run(coro: Any) -> Any:
    """Run a coroutine to completion on a loop of its own (usable from sync fixtures inside a running loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _admin_engine() -> Any:
    return create_async_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://"), isolation_level="AUTOCOMMIT"
    )


async def _execute(sql: str) -> None:
    engine = _admin_engine()
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test. Skips where there is no PostgreSQL, never in CI."""
    try:
        _run(_execute("SELECT 1"))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI but {POSTGRES_URL} does not answer: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    name = f"hudhud_t_{uuid.uuid4().hex[:12]}"
    _run(_execute(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        _run(_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerHandle]:
    """The real server (SQLite) on a free port, with a fake SMS provider."""
    async with running_server(tmp_path) as handle:
        yield handle


@pytest.fixture
def server_factory(tmp_path: Path) -> Callable[..., Any]:
    """Start a server with particular settings: `async with server_factory(clock=..., max_devices=2) as s:`."""

    def factory(**kwargs: Any) -> Any:
        return running_server(tmp_path, **kwargs)

    return factory


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[Any]:
    """A redis-server of this test's own, which the test may stop and restart (tests/rediskit.py)."""
    from tests.rediskit import RedisProcess

    proc = RedisProcess(tmp_path)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
