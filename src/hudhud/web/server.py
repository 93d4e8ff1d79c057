"""The ASGI application: REST routes, health, metrics and error replies. (The WebSocket endpoint is served
beside it by `hudhud.web.ws`.)"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from hudhud import __version__
from hudhud.app import Hudhud
from hudhud.errors import ClientError
from hudhud.exporter import CONTENT_TYPE, Exporter
from hudhud.logs import RequestIds
from hudhud.web import chatstate_rest, groups_rest, link_rest, media_rest, rest
from hudhud.web.routing import ERROR_SCHEMA, HudhudRoute, finish_openapi
from hudhud.web.webapp import WebClientMiddleware

log = logging.getLogger("hudhud.web")


def create_app(hub: Hudhud, *, manage_lifecycle: bool = True) -> FastAPI:
    exporter = Exporter(hub)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await hub.start()
        exporter.start()
        try:
            yield
        finally:
            await exporter.stop()
            if manage_lifecycle:
                await hub.close()

    app = FastAPI(
        title="Hudhud",
        version=__version__,
        lifespan=lifespan,
        description="Self-hostable messenger. Real-time messaging is on the WebSocket at /v1/ws; see docs/protocol.md.",
    )
    app.state.hudhud = hub
    app.router.route_class = HudhudRoute  # the operations endpoints below, like every REST route
    app.include_router(rest.router)
    app.include_router(groups_rest.router)
    app.include_router(media_rest.router)
    app.include_router(link_rest.router)
    app.include_router(chatstate_rest.router)
    app.add_middleware(WebClientMiddleware)  # the web client at / (web/webapp.py); never shadows a route
    # Request ids outside everything, Starlette's error middleware included, so that a 500 carries one too.
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: RequestIds(build_stack())  # type: ignore[method-assign]

    @app.exception_handler(ClientError)
    async def client_error(_: Request, exc: ClientError) -> JSONResponse:
        hub.metrics.client_error(exc.code)
        headers = dict(exc.headers)
        if exc.retry_after is not None:
            headers["Retry-After"] = str(int(exc.retry_after) + 1)
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid"))
        hub.metrics.client_error("invalid_request")
        return JSONResponse({"error": {"code": "invalid_request", "message": message}}, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "invalid_request")
        hub.metrics.client_error(code)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names only the methods of the first route on the path; several routes share most paths.
            headers["Allow"] = ", ".join(allowed_methods(app, request))
        return JSONResponse(
            {"error": {"code": code, "message": str(exc.detail)}}, status_code=exc.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed", exc_info=exc)
        return JSONResponse({"error": {"code": "internal_error", "message": "the server failed"}}, status_code=500)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, Any]:
        """The process is up."""
        return {"status": "ok", "version": __version__}

    not_ready = {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "detail": {"type": "string"},
            "database": {"type": "string"},
            "bus": {"type": "string"},
        },
    }
    ready_503 = {
        "description": 'Not ready (`{"status": "starting"}` or `"database unavailable"`), or the connection limit',
        "content": {"application/json": {"schema": {"anyOf": [not_ready, ERROR_SCHEMA]}}},
    }

    @app.get("/readyz", tags=["operations"], responses={503: ready_503})
    async def readyz() -> JSONResponse:
        """The node can serve: started, and its database answers. Each dependency is named with "up" or what is
        wrong. A bus that is down leaves the node ready ("degraded"): messages still reach devices, by polling
        the store, and taking every node out of a load balancer because Redis is down would stop everything."""
        if not hub.ready:
            return JSONResponse({"status": "starting"}, status_code=503)
        bus = hub.bus.status()
        try:
            await hub.db.ping()
        except Exception as exc:
            detail = str(exc)[:200]
            return JSONResponse(
                {"status": "database unavailable", "detail": detail, "database": detail, "bus": bus}, status_code=503
            )
        return JSONResponse({"status": "ready" if bus == "up" else "degraded", "database": "up", "bus": bus})

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus text format: this process's counters, or with several workers all of theirs summed
        (docs/deploy.md, "Metrics")."""
        return Response(exporter.render(), media_type=CONTENT_TYPE)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = finish_openapi(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    """Every method some route serves at the request's path."""
    return [
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in app.router.routes)
    ]
