from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support import POSTGRES_URL, ServerHandle, running_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


async def _postgres_available() -> bool:
    try:
        engine = create_async_engine(POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://"))
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test. Skips where there is no PostgreSQL, never in CI."""
    if not await _postgres_available():
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI but {POSTGRES_URL} does not answer")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    name = f"hudhud_t_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(
        POSTGRES_URL.replace("postgresql://", "postgresql+asyncpg://"), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
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
