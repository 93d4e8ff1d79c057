"""REST endpoints for linking a new device with a pairing code (docs/protocol.md section 2.5)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import Field

from hudhud.web.routing import Auth, Body, Hub, HudhudRoute

router = APIRouter(prefix="/v1", route_class=HudhudRoute)


class LinkRequestIn(Body):
    device_name: str = Field(default="", max_length=64)


class LinkClaim(Body):
    secret: str = Field(max_length=128)


class LinkApprove(Body):
    code: str = Field(max_length=32)


PENDING: dict[int | str, dict[str, Any]] = {
    202: {"description": 'Not approved yet: `{"status": "pending"}`; ask again in a second or two'}
}


@router.post("/link/requests", status_code=201, tags=["devices"])
async def create_link_request(body: LinkRequestIn, request: Request, h: Hub) -> dict[str, Any]:
    """A new device asks to be linked: show `code` (and `uri` as a QR code) to a device already logged in, keep
    `secret` to claim the token."""
    pending = await h.linking.request(body.device_name, request.client.host if request.client else "")
    return {
        "request_id": pending.request_id,
        "code": pending.code,
        "uri": f"hudhud:link/{pending.code}",
        "secret": pending.secret,
        "expires_at": pending.expires_at,
    }


@router.post("/link/requests/{request_id}/claim", tags=["devices"], responses=PENDING)
async def claim_link(request_id: str, body: LinkClaim, response: Response, h: Hub) -> dict[str, Any]:
    """Collect the token once the code was approved: 202 while it waits, 200 with the token once (single use)."""
    linked = await h.linking.claim(request_id, body.secret)
    if linked is None:
        response.status_code = 202
        return {"status": "pending"}
    return {"status": "linked", "user_id": linked.user_id, "device_id": linked.device_id, "token": linked.token}


@router.post("/link/approve", tags=["devices"])
async def approve_link(body: LinkApprove, p: Auth, h: Hub) -> dict[str, Any]:
    """Link the device showing this pairing code to my account."""
    return {"status": "approved", "device_name": await h.linking.approve(p.user_id, body.code)}
