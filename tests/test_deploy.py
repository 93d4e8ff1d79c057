"""The deployment files in deploy/: the compose file is valid and wired as docs/deploy.md says, the systemd unit
passes `systemd-analyze verify`, and nginx with deploy/nginx.conf proxies two real nodes (REST, WebSocket,
uploads larger than nginx's default limit, in chunks that land on either node)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect

from hudhud.config import Settings
from tests import mediakit as mk
from tests.conftest import IN_CI
from tests.support import RawClient, running_server

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
NODES = ("hudhud1", "hudhud2")
# What deploy/.env would hold; compose refuses to start without these two.
ENV = {"POSTGRES_PASSWORD": "0123456789abcdef", "HUDHUD_MEDIA_URL_SECRET": "s" * 64}


def interpolate(value: Any) -> Any:
    """${NAME}, ${NAME:-default} and ${NAME:?message} as compose substitutes them, from ENV."""

    def one(m: re.Match[str]) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if name in ENV:
            return ENV[name]
        if op == ":?":
            raise AssertionError(f"compose would refuse: {arg}")
        return arg or ""

    if isinstance(value, str):
        return re.sub(r"\$\{([A-Z_]+)(?:(:-|:\?)([^}]*))?\}", one, value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = interpolate(yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8")))
    return data


def test_compose_file_follows_the_compose_schema(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose_spec.json").read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator(schema).validate(compose)
    if shutil.which("docker-compose"):  # the reference parser, where it is installed (it needs no engine)
        run = subprocess.run(
            ["docker-compose", "-p", "hudhud", "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
            env={**os.environ, **ENV},
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr


def test_compose_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", *NODES, "nginx"}
    pg = services["postgres"]["environment"]
    envs = [services[n]["environment"] for n in NODES]
    for node, env in zip(NODES, envs, strict=True):
        # Every HUDHUD_* name is a real setting, and the values pass the server's own validation.
        fields = {f"HUDHUD_{name.upper()}" for name in Settings.__dataclass_fields__}
        assert set(env) <= fields, set(env) - fields
        settings = Settings.from_env({k: str(v) for k, v in env.items()})
        url = make_url(settings.effective_database_url)
        assert url.get_backend_name() == "postgresql" and url.host == "postgres" and url.port == 5432
        assert (url.username, url.password, url.database) == (
            pg["POSTGRES_USER"],
            pg["POSTGRES_PASSWORD"],
            pg["POSTGRES_DB"],
        )
        assert settings.bus_url == "redis://redis:6379/0"
        deps = services[node]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"
        assert services[node]["volumes"] == ["data:/var/lib/hudhud"], node  # one data directory for both nodes
        assert services[node]["ulimits"]["nofile"] == {"soft": 200000, "hard": 200000}
        assert services[node]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert envs[0] == envs[1] and envs[0]["HUDHUD_MEDIA_URL_SECRET"] == ENV["HUDHUD_MEDIA_URL_SECRET"]
    migrate = services["migrate"]
    assert migrate["command"] == ["hudhud", "admin", "migrate"] and migrate["environment"] == envs[0]
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    # nginx: the config next to this file, in front of both nodes, exempt from the per-address cap on the nodes.
    nginx = services["nginx"]
    assert nginx["volumes"] == ["./nginx.conf:/etc/nginx/nginx.conf:ro"]
    assert set(nginx["depends_on"]) == set(NODES)
    assert nginx["networks"]["backend"]["ipv4_address"] == envs[0]["HUDHUD_CONNECTION_LIMIT_EXEMPT"]
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    upstream = re.search(r"upstream hudhud \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert re.findall(r"server (\S+?):(\d+)", upstream.group(1)) == [(n, "8080") for n in NODES]
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"]


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r"^RUN pip install \.", text, re.M)
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r"^EXPOSE 8080$", text, re.M) and "HUDHUD_PORT=8080" in text
    assert "HUDHUD_HOST=0.0.0.0" in text
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    # The files it copies are in the build context, and .dockerignore keeps them in.
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for copied in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for path in copied.split():
            assert (ROOT / path).exists() and path not in ignored, path
    assert (ROOT / "src" / "hudhud" / "webclient" / "index.html").is_file()  # the built web client ships


def test_systemd_unit() -> None:
    unit = (DEPLOY / "hudhud.service").read_text(encoding="utf-8")
    lines = dict(re.findall(r"^(\w+)=(.*)$", unit, re.M))
    assert lines["ExecStart"].endswith("hudhud serve")
    assert lines["EnvironmentFile"].lstrip("-") == "/etc/hudhud/hudhud.env"
    assert lines["LimitNOFILE"] == "200000" and lines["Restart"] == "on-failure" and lines["KillSignal"] == "SIGTERM"
    assert lines["User"] == "hudhud" and lines["NoNewPrivileges"] == "yes" and lines["ProtectSystem"] == "strict"
    assert int(lines["TimeoutStopSec"].rstrip("s")) > 10  # the server gives WebSockets 10 s to close
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return
    # verify checks that ExecStart exists: point it at this checkout's command.
    here = ROOT / ".venv" / "bin" / "hudhud"
    if not here.exists():
        return
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(__import__("tempfile").TemporaryDirectory()))
        (tmp / "hudhud.service").write_text(unit.replace("/opt/hudhud/bin/hudhud", str(here)), encoding="utf-8")
        run = subprocess.run([analyze, "verify", str(tmp / "hudhud.service")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr + run.stdout


# -- nginx -------------------------------------------------------------------------------------------------------


def nginx_binary() -> str:
    path = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if path is None:
        if IN_CI:
            pytest.fail("nginx is required under CI (.ci/run installs it)")
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def render(conf: str, port: int, upstreams: dict[str, str], tmp: Path) -> str:
    """deploy/nginx.conf for this machine: listen on a free port, the nodes' real addresses, and files (temp
    directories, the access log) under `tmp` instead of the system's."""
    conf = conf.replace("listen 80;", f"listen 127.0.0.1:{port};")
    for name, address in upstreams.items():
        conf = conf.replace(f"server {name}:8080", f"server {address}")
    local = "".join(
        f"    {d} {tmp / d};\n"
        for d in ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path")
    )
    return conf.replace("http {\n", f"http {{\n{local}    access_log {tmp / 'access.log'};\n", 1)


@contextlib.asynccontextmanager
async def nginx(conf: str, tmp: Path) -> AsyncIterator[None]:
    binary = nginx_binary()
    (tmp / "nginx.conf").write_text(conf, encoding="utf-8")
    main = f"pid {tmp / 'nginx.pid'}; error_log {tmp / 'error.log'};" + (" user root;" if os.geteuid() == 0 else "")
    argv = [binary, "-p", str(tmp), "-c", str(tmp / "nginx.conf")]
    check = await asyncio.to_thread(subprocess.run, [*argv, "-t", "-g", main], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = await asyncio.create_subprocess_exec(*argv, "-g", f"daemon off; {main}", stderr=asyncio.subprocess.PIPE)
    try:
        yield
    finally:
        proc.terminate()
        await proc.wait()


@pytest.mark.postgres
async def test_nginx_proxies_two_nodes(tmp_path: Path, postgres_url: str) -> None:
    conf = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    ws = re.search(r"location = /v1/ws \{(.*?)\}", conf, re.S)
    assert ws is not None
    timeout = re.search(r"proxy_read_timeout (\d+)([smh])", ws.group(1))
    assert timeout is not None and int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)] >= 90
    # Two nodes on one database and one data directory, as in deploy/compose.yaml.
    async with (
        running_server(tmp_path, database_url=postgres_url) as one,
        running_server(tmp_path, database_url=postgres_url) as two,
    ):
        port = free_port()
        addresses = {n: s.url.removeprefix("http://") for n, s in zip(NODES, (one, two), strict=True)}
        (tmp_path / "nginx").mkdir()
        async with nginx(render(conf, port, addresses, tmp_path / "nginx"), tmp_path / "nginx"):
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as c:
                for _ in range(50):
                    with contextlib.suppress(httpx.TransportError):
                        if (await c.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                assert (await c.get("/healthz")).json()["status"] == "ok"
            _, _, amal = await one.make_user("+201001234567", "Amal")
            badr_id, _, badr = await two.make_user("+201101234567", "Badr")
            # 3 MB in two chunks of 1.5 MB, each above nginx's default 1 MB body limit; round robin may send each
            # to either node (the upload is staged in the shared data directory).
            data = mk.pdf() + os.urandom(3 * 1024 * 1024)
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {amal}"}, timeout=30) as c:
                media = await mk.upload(c, "document", data, "application/pdf", chunk=len(data) // 2 + 1)
            assert media["status"] == "ready" and media["size"] == len(data)
            # The WebSocket goes through the upgrade; Badr, connecting later, catches up from the database.
            a = RawClient(await connect(f"ws://127.0.0.1:{port}/v1/ws", max_size=2**22))
            await a.hello(amal)
            sent = await a.send_text("through nginx", to=badr_id)
            frame = {
                "type": "send",
                "id": "m2",
                "to": badr_id,
                "content": {"type": "media"},
                "media": [media["media_id"]],
            }
            await a.send(frame)
            await a.expect("sent", id="m2")
            b = RawClient(await connect(f"ws://127.0.0.1:{port}/v1/ws", max_size=2**22))
            await b.hello(badr)
            got = b.take_all("deliver")
            assert [f["seq"] for f in got] == [sent["seq"], sent["seq"] + 1]
            await a.close()
            await b.close()
            async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {badr}"}, timeout=30) as c:
                r = await c.get(f"/v1/media/{media['media_id']}")
            assert r.status_code == 200 and r.content == data
        log = (tmp_path / "nginx" / "access.log").read_text()
        assert "/v1/ws" in log and " 101 " in log  # upgraded
