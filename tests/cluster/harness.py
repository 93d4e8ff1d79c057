"""The cluster under test: three `hudhud serve --workers 2` nodes as OS processes of their own, on one fresh
PostgreSQL database (the machine's server) and a redis-server of the suite's own, with nginx in front running
deploy/nginx-test.conf. Each piece can be killed, stopped and started again."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.rediskit import missing

REPO = Path(__file__).resolve().parents[2]
NGINX_CONF = REPO / "deploy" / "nginx-test.conf"
HUDHUD = [sys.executable, "-m", "hudhud.cli"]
WORKERS = 2
NODE_C_MAX_CONNECTIONS = 200  # per worker


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, timeout: float, what: str, every: float = 0.05) -> float:
    """Poll `check()` until it is true; the seconds it took. AssertionError (naming `what`) at the deadline."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except Exception:
            pass
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(every)


@dataclass
class Account:
    user_id: str
    phone: str
    device_id: str
    token: str


class Node:
    """One `hudhud serve --workers 2`: a supervisor and its workers, in a process group of their own."""

    def __init__(self, name: str, port: int, env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.port = port
        self.env = env
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.starts += 1
        with open(self.log, "ab") as out:
            out.write(f"--- start {self.starts} ---\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [*HUDHUD, "serve", "--workers", str(WORKERS), "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the supervisor leads a process group its workers share
            )

    def readyz(self, timeout: float = 2.0) -> tuple[int, dict[str, Any]]:
        r = httpx.get(f"{self.url}/readyz", timeout=timeout)
        return r.status_code, r.json()

    def workers_serving(self) -> bool:
        """Every worker answers (SO_REUSEPORT spreads connections over them, so ask a few times)."""
        return all(self.readyz()[0] == 200 for _ in range(2 * WORKERS))

    def wait_ready(self, timeout: float = 60.0) -> float:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}; see {self.log}")
            return self.workers_serving()

        start = time.monotonic()
        while True:
            try:
                if ready():
                    return time.monotonic() - start
            except RuntimeError:
                raise
            except Exception:
                pass
            if time.monotonic() - start > timeout:
                raise AssertionError(f"{self.name} not ready within {timeout:.0f} s; see {self.log}")
            time.sleep(0.1)

    def start_and_wait(self) -> float:
        """Start, and return once every worker is ready: seconds from the start."""
        self.start()
        return self.wait_ready()

    def kill(self) -> None:
        """SIGKILL the supervisor and its workers at once (a machine that loses power, an OOM kill)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM the supervisor (an operator's restart): it drains its workers and exits. Its exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        # Every worker is gone with it.
        wait_until(lambda: not _group_alive(self.proc.pid if self.proc else 0), 10, f"{self.name}'s workers exit")
        return code

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
            return
        try:
            self.terminate(timeout=20)
        except Exception:
            self.kill()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Nginx:
    """nginx with deploy/nginx-test.conf, its ports replaced by the suite's."""

    def __init__(self, port: int, upstream_ports: list[int]) -> None:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
        if binary is None:
            missing("nginx")
        assert binary is not None
        self.binary = binary
        self.port = port
        # Not under pytest's private temporary directory: nginx's workers may run as another user.
        self.prefix = Path(tempfile.mkdtemp(prefix="hudhud-nginx-"))
        self.prefix.chmod(0o755)
        for sub in ("logs", "tmp"):
            (self.prefix / sub).mkdir()
            (self.prefix / sub).chmod(0o777)
        conf = NGINX_CONF.read_text()
        servers = re.findall(r"^\s*server 127\.0\.0\.1:808[1-3] .*$", conf, flags=re.M)
        assert len(servers) == 3, "deploy/nginx-test.conf names three upstream servers"
        for line, p in zip(servers, upstream_ports, strict=True):
            conf = conf.replace(line, re.sub(r"127\.0\.0\.1:808\d", f"127.0.0.1:{p}", line), 1)
        conf = conf.replace("listen 127.0.0.1:8080 ", f"listen 127.0.0.1:{port} ")
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-p",
                str(self.prefix),
                "-c",
                str(self.conf),
                "-e",
                str(self.prefix / "logs" / "error.log"),
                "-g",
                "daemon off;",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(lambda: httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200, 20, "nginx answers")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def restart_abruptly(self) -> None:
        """Stop at once (every proxied connection is cut) and start again."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)  # fast shutdown
        self.proc.wait(10)
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)


class PostgresServer:
    """The machine's PostgreSQL cluster serving HUDHUD_TEST_POSTGRES_URL, restarted with pg_ctlcluster."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.version = ""
        self.name = ""
        lsclusters = shutil.which("pg_lsclusters")
        ctl = shutil.which("pg_ctlcluster")
        if lsclusters is None or ctl is None:
            missing("pg_ctlcluster (to restart PostgreSQL)")
        assert lsclusters is not None and ctl is not None
        self.ctl, self.lsclusters = ctl, lsclusters
        for line in subprocess.run([lsclusters, "-h"], capture_output=True, text=True, check=True).stdout.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[2] == str(port):
                self.version, self.name = cols[0], cols[1]
        if not self.name:
            missing(f"a PostgreSQL cluster on port {port} that pg_ctlcluster manages")

    def restart(self) -> float:
        """Restart the server (fast: open sessions are cut); the seconds it took."""
        start = time.monotonic()
        subprocess.run([self.ctl, self.version, self.name, "restart", "-m", "fast"], check=True, timeout=60)
        return time.monotonic() - start

    def ensure_up(self) -> None:
        out = subprocess.run([self.lsclusters, "-h"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 4 and cols[0] == self.version and cols[1] == self.name and cols[3] != "online":
                subprocess.run([self.ctl, self.version, self.name, "start"], check=False, timeout=60)


def create_accounts(database_url: str, workdir: Path, phones: list[str], env: dict[str, str]) -> list[Account]:
    """`hudhud admin create-users FILE.csv --json`: an account and a device token per number."""
    path = workdir / "accounts.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["phone", "name"])
        for i, phone in enumerate(phones):
            w.writerow([phone, f"user {i}"])
    out = subprocess.run(
        [*HUDHUD, "admin", "create-users", str(path), "--json", "--database-url", database_url],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [Account(r["user_id"], r["phone"], r["device_id"], r["token"]) for r in rows]


def phone_number(i: int) -> str:
    return f"+2010{i:08d}"


class Cluster:
    def __init__(self, workdir: Path, database_url: str, redis: Any) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.redis = redis
        self.env = {
            **os.environ,
            "HUDHUD_DATABASE_URL": database_url,
            "HUDHUD_BUS_URL": redis.url,
            "HUDHUD_SMS_BACKEND": "file",
            "HUDHUD_SMS_FILE": str(workdir / "sms-codes.jsonl"),
            "HUDHUD_MESSAGES_PER_MINUTE": "0",
            "HUDHUD_MEDIA_URL_SECRET": "cluster-suite-media-url-secret",
            "HUDHUD_LOG_LEVEL": "warning",
            # The storm's clients come from 127.0.0.x; through nginx every client is 127.0.0.1 (exempt).
            "HUDHUD_MAX_CONNECTIONS_PER_ADDRESS": "0",
        }
        self.env.pop("HUDHUD_WORKER", None)
        self.env.pop("HUDHUD_DATA_DIR", None)
        self.nodes: list[Node] = []
        for name in ("node-a", "node-b", "node-c"):
            d = workdir / name
            d.mkdir()
            env = {**self.env, "HUDHUD_DATA_DIR": str(d)}
            if name == "node-c":
                # A node at its connection limit: in the reconnect storm it turns clients away (503 with
                # Retry-After) and they find room on the others.
                env["HUDHUD_MAX_CONNECTIONS"] = str(NODE_C_MAX_CONNECTIONS)
            self.nodes.append(Node(name, free_port(), env, workdir))
        self.nginx = Nginx(free_port(), [n.port for n in self.nodes])

    def start(self) -> None:
        subprocess.run(
            [*HUDHUD, "admin", "migrate", "--database-url", self.database_url],
            env=self.env,
            cwd=self.workdir,
            check=True,
            capture_output=True,
            timeout=120,
        )
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_ready()
        self.nginx.start()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.nginx.cleanup()

    def healthy(self) -> None:
        """Every node serving and ready (not degraded), Redis up: what each case starts from."""
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                node.start()
            node.wait_ready()
        wait_until(
            lambda: all(n.readyz()[1].get("status") == "ready" for n in self.nodes for _ in range(WORKERS * 2)),
            30,
            "every node ready with the bus up",
        )
