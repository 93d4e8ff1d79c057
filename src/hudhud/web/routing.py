"""What every REST route shares: who is calling (authenticated before anything else is looked at), and the
error answers it can give, written into the OpenAPI document from the error codes of `hudhud.errors`.

Each route's own error codes are listed once, in `ROUTE_ERRORS`; `HudhudRoute` adds the ones every route of
its kind can answer (a malformed request, a bad token, the connection limits, a server failure) and refuses
to build a route that is missing from the table, so a new route cannot ship with undocumented answers.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, model_validator
from starlette.responses import Response

from hudhud.app import Hudhud
from hudhud.errors import ERROR_CODES, InvalidRequest, Unauthorized
from hudhud.services.accounts import Principal


def hub(request: Request) -> Hudhud:
    h: Hudhud = request.app.state.hudhud
    return h


Hub = Annotated[Hudhud, Depends(hub)]


async def authenticate(request: Request) -> Principal:
    """The caller of a request, from its bearer token (docs/protocol.md section 2.2)."""
    authorization = request.headers.get("authorization")
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("missing bearer token")
    return await hub(request).accounts.authenticate(authorization[7:].strip())


async def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    """The `Auth` dependency. `HudhudRoute` has already authenticated the request before reading its body."""
    found: Principal | None = getattr(request.state, "principal", None)
    return found if found is not None else await authenticate(request)


Auth = Annotated[Principal, Depends(principal)]


class Body(BaseModel):
    """A JSON request body, checked strictly against the types the OpenAPI document gives: `0` is not
    `false` and `"5"` is not `5` (unknown fields are still ignored, docs/protocol.md section 3)."""

    model_config = ConfigDict(strict=True)

    @model_validator(mode="after")
    def _no_nul(self) -> Body:
        if any(_has_nul(v) for v in self.__dict__.values()):
            raise ValueError(NUL_MESSAGE)
        return self


# PostgreSQL's text types cannot hold U+0000 (SQLite's can): a string with it would fail in the database, so
# every engine refuses it at the edge, in bodies, paths and queries alike.
NUL_MESSAGE = "text may not contain the NUL character (U+0000)"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, BaseModel):
        return any(_has_nul(v) for v in value.__dict__.values())
    return False


# What each route can answer besides success, by error code (the HTTP status comes from ERROR_CODES).
# Not listed here because HudhudRoute adds them: unauthorized, device_revoked and account_suspended (any route
# that needs a token), and, for every route, invalid_request (a malformed request, or bad parameters or body),
# too_many_connections, unavailable (the connection limits) and internal_error.
ROUTE_ERRORS: dict[str, tuple[str, ...]] = {
    "GET /healthz": (),
    "GET /readyz": (),
    "GET /metrics": (),
    "POST /v1/auth/code": ("invalid_phone", "rate_limited", "unavailable"),
    "POST /v1/auth/verify": (
        "invalid_phone",
        "code_invalid",
        "code_expired",
        "code_attempts_exceeded",
        "account_suspended",
        "device_limit",
    ),
    "GET /v1/me": (),
    "PATCH /v1/me": ("media_not_found",),
    "DELETE /v1/me": ("invalid_phone",),
    "PATCH /v1/me/privacy": (),
    "GET /v1/devices": (),
    "DELETE /v1/devices/{device_id}": ("not_found",),
    "POST /v1/link/requests": ("rate_limited",),
    "POST /v1/link/requests/{request_id}/claim": ("pairing_invalid", "device_limit"),
    "POST /v1/link/approve": ("pairing_invalid", "device_limit", "rate_limited"),
    "GET /v1/users/{user_id}": ("not_found",),
    "GET /v1/contacts": (),
    "POST /v1/contacts": ("invalid_phone", "discovery_budget_exceeded"),
    "DELETE /v1/contacts/{phone}": ("invalid_phone", "not_found"),
    "GET /v1/conversations": (),
    "GET /v1/conversations/{conversation_id}/messages": ("not_member",),
    "PATCH /v1/conversations/{conversation_id}/state": ("not_member", "pin_limit"),
    # groups
    "POST /v1/groups": ("not_found", "group_full", "new_chat_limit", "rate_limited"),
    "GET /v1/groups/{conversation_id}": ("not_member",),
    "PATCH /v1/groups/{conversation_id}": ("not_member", "not_admin"),
    "PATCH /v1/groups/{conversation_id}/settings": ("not_member", "not_admin"),
    "POST /v1/groups/{conversation_id}/members": (
        "not_member",
        "not_admin",
        "not_found",
        "already_member",
        "group_full",
        "new_chat_limit",
        "rate_limited",
    ),
    "DELETE /v1/groups/{conversation_id}/members/{user_id}": ("not_member", "not_admin", "not_found"),
    "POST /v1/groups/{conversation_id}/members/{user_id}/promote": ("not_member", "not_admin", "not_found"),
    "POST /v1/groups/{conversation_id}/members/{user_id}/demote": ("not_member", "not_admin", "not_found"),
    "POST /v1/groups/{conversation_id}/leave": ("not_member",),
    "POST /v1/groups/{conversation_id}/links": ("not_member", "not_admin"),
    "GET /v1/groups/{conversation_id}/links": ("not_member", "not_admin"),
    "DELETE /v1/groups/{conversation_id}/links/{code}": ("not_member", "not_admin", "link_invalid"),
    "POST /v1/groups/join": ("link_invalid", "already_member", "group_full"),
    "GET /v1/groups/{conversation_id}/requests": ("not_member", "not_admin"),
    "POST /v1/groups/{conversation_id}/requests/{user_id}/approve": (
        "not_member",
        "not_admin",
        "not_found",
        "group_full",
    ),
    "POST /v1/groups/{conversation_id}/requests/{user_id}/reject": ("not_member", "not_admin", "not_found"),
    "GET /v1/invitations": (),
    "POST /v1/invitations/{invitation_id}/accept": ("invitation_invalid", "group_full"),
    "POST /v1/invitations/{invitation_id}/decline": ("invitation_invalid",),
    # safety
    "GET /v1/blocks": (),
    "POST /v1/blocks": ("not_found", "rate_limited"),
    "DELETE /v1/blocks/{user_id}": ("not_found",),
    "POST /v1/reports": ("not_found", "not_member", "rate_limited"),
    # broadcast lists
    "POST /v1/broadcast-lists": ("not_found",),
    "GET /v1/broadcast-lists": (),
    "PUT /v1/broadcast-lists/{list_id}/members": ("not_found",),
    "DELETE /v1/broadcast-lists/{list_id}": ("not_found",),
    # media
    "POST /v1/media": ("media_too_large", "quota_exceeded"),
    "GET /v1/media/{media_id}/upload": ("media_not_found",),
    "HEAD /v1/media/{media_id}/upload": ("media_not_found",),
    "PATCH /v1/media/{media_id}/upload": ("media_not_found", "media_too_large", "upload_offset_mismatch"),
    "POST /v1/media/{media_id}/finalize": (
        "media_not_found",
        "upload_incomplete",
        "checksum_mismatch",
        "media_type_mismatch",
        "media_corrupt",
        "media_too_large",
        "quota_exceeded",
    ),
    "DELETE /v1/media/{media_id}": ("media_not_found",),
    "GET /v1/media/{media_id}/info": ("media_not_found",),
    # Downloads take a token or a signed URL: their auth codes are listed here, not added by the route class.
    "GET /v1/media/{media_id}": (
        *("unauthorized", "device_revoked", "account_suspended", "url_expired", "url_invalid"),
        *("media_not_found", "range_not_satisfiable"),
    ),
    "HEAD /v1/media/{media_id}": (
        *("unauthorized", "device_revoked", "account_suspended", "url_expired", "url_invalid"),
        *("media_not_found", "range_not_satisfiable"),
    ),
    "GET /v1/media/{media_id}/thumbnail": (
        *("unauthorized", "device_revoked", "account_suspended", "url_expired", "url_invalid"),
        "media_not_found",
    ),
    "POST /v1/media/{media_id}/url": ("media_not_found",),
}

AUTH_ERRORS = ("unauthorized", "device_revoked", "account_suspended")
EDGE_ERRORS = ("too_many_connections", "unavailable", "internal_error")

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": sorted(ERROR_CODES), "description": "docs/protocol.md §11"},
                "message": {"type": "string", "description": "for humans; may change"},
                "retry_after": {"type": "number", "description": "seconds, when waiting helps"},
            },
            "additionalProperties": True,
        }
    },
}


def error_responses(codes: tuple[str, ...]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error codes: one entry per HTTP status, naming its codes."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys(codes):
        by_status.setdefault(ERROR_CODES[code], []).append(code)
    return {
        status: {
            "description": "Error: " + ", ".join(f"`{c}`" for c in names),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, names in sorted(by_status.items())
    }


def _dependencies(dependant: Dependant) -> Iterator[Dependant]:
    for sub in dependant.dependencies:
        yield sub
        yield from _dependencies(sub)


def needs_auth(dependant: Dependant) -> bool:
    return any(d.call is principal for d in _dependencies(dependant))


class HudhudRoute(APIRoute):
    """A REST route that authenticates before it reads the request (so a caller without a valid token gets
    401 whatever the body), and whose OpenAPI entry lists every error it can answer."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        codes: list[str] = []
        for method in sorted(self.methods or ()):
            key = f"{method} {self.path_format}"
            if key not in ROUTE_ERRORS:
                raise LookupError(f"{key}: list the error codes it can answer in web/routing.py ROUTE_ERRORS")
            codes += ROUTE_ERRORS[key]
        # Any request can be malformed HTTP (answered 400 at the edge); a route with parameters or a body
        # also checks them.
        codes.insert(0, "invalid_request")
        if needs_auth(self.dependant):
            codes += AUTH_ERRORS
        codes += EDGE_ERRORS
        self.responses = {**error_responses(tuple(codes)), **self.responses}

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            if _has_nul(request.path_params) or "\x00" in request.url.query or "%00" in request.url.query:
                raise InvalidRequest(NUL_MESSAGE)
            return await inner(request)

        if not needs_auth(self.dependant):
            return handler

        async def authenticated(request: Request) -> Response:
            request.state.principal = await authenticate(request)
            return await handler(request)

        return authenticated


def finish_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """The generated document, made true: the error schema added, and FastAPI's `422` (which this server never
    sends: a request that fails validation is answered 400 `invalid_request`) taken out."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if isinstance(operation, dict):
                operation.get("responses", {}).pop("422", None)
    return schema
