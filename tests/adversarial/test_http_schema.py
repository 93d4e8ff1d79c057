"""The OpenAPI document is the contract of the REST API: generated requests (valid and invalid) against the
real server, authenticated as a real user, must never get a 5xx, nor a status, header, content type or body
that the document does not describe (docs/protocol.md section 3)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks as st_checks
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as oa_checks

from tests.support import database_env, free_socket

pytestmark = pytest.mark.slow

HUDHUD = [sys.executable, "-m", "hudhud.cli"]
EXAMPLES = int(os.environ.get("HUDHUD_SCHEMA_EXAMPLES", "25"))  # per operation and generation mode
CHECKS = [
    st_checks.not_a_server_error,
    oa_checks.status_code_conformance,
    oa_checks.content_type_conformance,
    oa_checks.response_headers_conformance,
    oa_checks.response_schema_conformance,
    oa_checks.negative_data_rejection,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A `hudhud serve` process with one provisioned user, and that user's token."""
    data = tmp_path_factory.mktemp("schema") / "var"
    out = subprocess.run(
        [*HUDHUD, "admin", "create-user", "+201001234567", "--name", "Amal", "--json", "--data-dir", str(data)],
        env={**os.environ, **database_env(data)},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    token = json.loads(out)["token"]
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "HUDHUD_LOG_LEVEL": "warning", **database_env(data)}
    log = (data / "server.log").open("wb")  # kept for a failure's post-mortem
    proc = subprocess.Popen(
        [*HUDHUD, "serve", "--port", str(port), "--data-dir", str(data)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/readyz").status_code == 200:
                    break
            time.sleep(0.05)
        yield {"url": url, "token": token, "proc": proc}
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()


def explore(operation: Any, mode: GenerationMode, headers: dict[str, str], calls: dict[str, int]) -> None:
    """Send up to EXAMPLES generated requests of one kind to one operation; raise on the first finding."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        calls[mode.value] = calls.get(mode.value, 0) + 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_every_answer_is_documented(live: dict[str, Any]) -> None:
    schema = schemathesis.openapi.from_url(live["url"] + "/openapi.json")
    headers = {"Authorization": f"Bearer {live['token']}"}
    calls: dict[str, int] = {}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                explore(operation, mode, headers, calls)
            except Unsatisfiable:
                pass  # nothing of this operation can be made invalid (no body, no constrained parameter)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:2000]}")
        assert live["proc"].poll() is None, f"the server died during {operation.label}"
    print(f"schemathesis: {len(operations)} operations, generated requests {calls}")
    assert not failures, "\n\n".join(failures)
