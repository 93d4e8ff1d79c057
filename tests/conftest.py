from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    ON_POSTGRES,
    POSTGRES_URL,
    TEST_DATABASE,
    ServerHandle,
    create_postgres_database,
    drop_postgres_database,
    drop_test_databases,
    postgres_answers,
    running_server,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_report_header(config: pytest.Config) -> str:
    where = f" ({POSTGRES_URL}, a fresh database per server)" if ON_POSTGRES else ""
    return f"hudhud test database: {TEST_DATABASE}{where}"


def pytest_sessionstart(session: pytest.Session) -> None:
    if ON_POSTGRES and (why := postgres_answers()) is not None:
        raise pytest.UsageError(f"HUDHUD_TEST_DATABASE=postgresql but {POSTGRES_URL} does not answer: {why}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ON_POSTGRES:
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            why = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "SQLite-specific")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {why}"))


@pytest.fixture(autouse=True)
def _test_databases() -> Iterator[None]:
    """Drops the PostgreSQL databases the servers of this test made (HUDHUD_TEST_DATABASE=postgresql). Those of
    wider-scoped fixtures (made before this one runs) stay until the end of the session."""
    from tests import support

    before = set(support._databases)
    yield
    if ON_POSTGRES:
        drop_test_databases(keep=before)


@pytest.fixture(scope="session", autouse=True)
def _session_databases() -> Iterator[None]:
    yield
    if ON_POSTGRES:
        drop_test_databases()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test. Skips where there is no PostgreSQL, never in CI."""
    if (why := postgres_answers()) is not None:
        if IN_CI or ON_POSTGRES:
            pytest.fail(f"PostgreSQL is required here but {POSTGRES_URL} does not answer: {why}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


# On PostgreSQL sessions the SQLite half is the SQLite session's business.
_ENGINES = [pytest.param("postgresql", marks=pytest.mark.postgres)]
if not ON_POSTGRES:
    _ENGINES.insert(0, pytest.param("sqlite"))


@pytest.fixture(params=_ENGINES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test on SQLite and on PostgreSQL (on PostgreSQL only, in a HUDHUD_TEST_DATABASE=postgresql session)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[ServerHandle]:
    """The real server (on the session's database engine) on a free port, with a fake SMS provider."""
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
