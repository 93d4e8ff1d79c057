"""`hudhud serve`: one server process, or a supervisor and N worker processes on one port.

Each worker is a whole node in a process of its own (its own event loop, database pool, bus connection), so
the workers share only what every node shares: the database and the Redis bus. Hence `--workers` above 1 needs
both engines made for it: PostgreSQL (SQLite takes one writer at a time) and Redis (the in-process bus does not
cross processes). Every worker binds the port with SO_REUSEPORT and the kernel spreads new connections over them.

The supervisor applies the migrations once, starts the workers, starts a worker again when one dies (waiting
longer each time one dies young, so a worker that cannot start does not spin), and on SIGTERM or SIGINT passes
SIGTERM to every worker, each of which drains as a single server does (docs/deploy.md, "Restarts"), and exits 0
once they have. Workers learn their index from HUDHUD_WORKER; PROMETHEUS_MULTIPROC_DIR names a directory made
for this run, in which the workers' metrics are summed (docs/deploy.md, "Metrics").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from hudhud.config import Settings

log = logging.getLogger("hudhud.workers")

WORKER_ENV = "HUDHUD_WORKER"
STOP_TIMEOUT = 40.0  # seconds the workers get to drain before they are killed
YOUNG = 10.0  # a worker that dies within this many seconds of starting waits longer before the next start


def worker_index() -> int | None:
    raw = os.environ.get(WORKER_ENV)
    return int(raw) if raw is not None and raw.isdigit() else None


def resolve_workers(settings: Settings) -> int:
    """How many worker processes to run; raises ValueError with what to change if the setup cannot have them."""
    scaled = settings.effective_database_url.startswith(
        ("postgresql:", "postgres:")
    ) and not settings.bus_url.startswith("memory:")
    if settings.workers == 0:
        return (os.cpu_count() or 1) if scaled else 1
    if settings.workers > 1 and not scaled:
        raise ValueError(
            f"--workers {settings.workers} needs PostgreSQL (--database-url postgresql://…; SQLite takes one writer "
            "process) and the Redis bus (--bus-url redis://…; the in-process bus does not cross processes)"
        )
    return settings.workers


def listening_socket(host: str, port: int, backlog: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def supervise(settings: Settings, workers: int, argv: list[str]) -> int:
    """Run `workers` copies of `hudhud serve` (the same arguments) and keep them running until told to stop."""
    from hudhud.store import migrate

    asyncio.run(migrate.upgrade(settings.effective_database_url))  # once, before any worker starts
    metrics_dir = tempfile.mkdtemp(prefix="hudhud-metrics-")
    command = [sys.executable, "-c", "import sys; from hudhud.cli import main; sys.exit(main(sys.argv[1:]))", *argv]
    procs: dict[int, subprocess.Popen[bytes]] = {}
    started: dict[int, float] = {}
    failures: dict[int, int] = {}
    next_start: dict[int, float] = {}
    stopping = False

    def spawn(i: int) -> None:
        env = {**os.environ, WORKER_ENV: str(i), "PROMETHEUS_MULTIPROC_DIR": metrics_dir}
        procs[i] = subprocess.Popen(command, env=env)
        started[i] = time.monotonic()
        log.info("worker %d started (pid %d)", i, procs[i].pid)

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            log.info("stopping %d workers (signal %d)", len(procs), signum)
        stopping = True
        for p in procs.values():
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    p.send_signal(signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(
        f"hudhud supervisor (pid {os.getpid()}): {workers} workers on http://{settings.host}:{settings.port}",
        flush=True,
    )
    try:
        for i in range(workers):
            spawn(i)
        while not stopping:
            time.sleep(0.2)
            now = time.monotonic()
            for i, p in list(procs.items()):
                code = p.poll()
                if code is None or stopping:
                    continue
                _worker_exited(p.pid, metrics_dir)
                young = now - started[i] < YOUNG
                failures[i] = failures.get(i, 0) + 1 if young else 0
                wait = min(2.0 ** failures[i], 30.0) if young else 0.5
                log.warning("worker %d (pid %d) exited with %s; starting it again in %.1f s", i, p.pid, code, wait)
                del procs[i]
                next_start[i] = now + wait
            for i, at in list(next_start.items()):
                if now >= at and not stopping:
                    del next_start[i]
                    spawn(i)
        deadline = time.monotonic() + STOP_TIMEOUT
        for p in procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker pid %d did not drain in %.0f s; killing it", p.pid, STOP_TIMEOUT)
                p.kill()
                p.wait()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _worker_exited(pid: int, metrics_dir: str) -> None:
    """Tell the metrics that a worker is gone: its live gauges (open connections) no longer count."""
    from hudhud import metrics

    metrics.worker_exited(pid, metrics_dir)
