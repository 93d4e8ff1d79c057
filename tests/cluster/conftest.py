"""One cluster for the module (starting three nodes of two workers each takes a while): a fresh PostgreSQL
database, a redis-server of its own, three nodes and nginx; and the accounts the cases draw from."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cluster.harness import Account, Cluster, create_accounts, phone_number
from tests.conftest import IN_CI
from tests.rediskit import RedisProcess
from tests.support import POSTGRES_URL
from tests.support import _admin as _execute
from tests.support import run_coroutine as _run

STORM_CLIENTS = 2500
OTHER_ACCOUNTS = 200  # conversation participants and the presence and revocation probes


class AccountPool:
    def __init__(self, accounts: list[Account]) -> None:
        self._accounts = accounts

    def take(self, n: int) -> list[Account]:
        assert len(self._accounts) >= n, "the suite needs more accounts (conftest.OTHER_ACCOUNTS)"
        out, self._accounts = self._accounts[:n], self._accounts[n:]
        return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        _run(_execute("SELECT 1"))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required under CI but {POSTGRES_URL} does not answer: {exc}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    workdir = tmp_path_factory.mktemp("cluster")
    name = f"hudhud_t_{uuid.uuid4().hex[:12]}"
    _run(_execute(f'CREATE DATABASE "{name}"'))
    database_url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    redis = RedisProcess(workdir)
    redis.start()
    c = Cluster(workdir, database_url, redis)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        redis.stop()
        _run(_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="module")
def accounts(cluster: Cluster) -> dict[str, Any]:
    made = create_accounts(
        cluster.database_url,
        cluster.workdir,
        [phone_number(i) for i in range(OTHER_ACCOUNTS + STORM_CLIENTS)],
        cluster.env,
    )
    return {"pool": AccountPool(made[:OTHER_ACCOUNTS]), "storm": made[OTHER_ACCOUNTS:]}


@pytest.fixture
def pool(accounts: dict[str, Any]) -> AccountPool:
    p: AccountPool = accounts["pool"]
    return p
