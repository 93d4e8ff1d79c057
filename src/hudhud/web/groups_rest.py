"""REST endpoints for groups, invitations, invite links, blocking, reports and broadcast lists."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from hudhud.web.routing import Auth, Body, Hub, HudhudRoute

router = APIRouter(prefix="/v1", route_class=HudhudRoute)


class GroupCreate(Body):
    subject: str = Field(max_length=100)
    description: str = Field(default="", max_length=512)
    members: list[str] = Field(default_factory=list, max_length=1024)


class GroupInfo(Body):
    subject: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=512)


class GroupSettings(Body):
    only_admins_send: bool | None = None
    only_admins_edit: bool | None = None
    approve_joins: bool | None = None


class Members(Body):
    user_ids: list[str] = Field(max_length=1024)


class Leave(Body):
    report: bool = False
    reason: str = Field(default="", max_length=1000)


class LinkCreate(Body):
    expires_in: float | None = None
    max_uses: int | None = None


class Join(Body):
    code: str = Field(max_length=64)


class BlockBody(Body):
    user_id: str = Field(max_length=64)
    report: bool = False


class ReportBody(Body):
    user_id: str | None = Field(default=None, max_length=64)
    conversation_id: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=1000)
    messages: list[int] = Field(default_factory=list, max_length=20)
    block: bool = False


class BroadcastList(Body):
    name: str = Field(max_length=100)
    members: list[str] = Field(max_length=256)


class BroadcastMembers(Body):
    members: list[str] = Field(max_length=256)


# -- groups ---------------------------------------------------------------------------------------------------


@router.post("/groups", status_code=201, tags=["groups"])
async def create_group(body: GroupCreate, p: Auth, h: Hub) -> dict[str, Any]:
    """Create a group. Members whose setting lets you add them are added; the others get an invitation."""
    r = await h.groups.create(p.user_id, body.subject, body.description, body.members)
    return {"conversation_id": r.conversation_id, "added": r.added, "invited": r.invited}


@router.get("/groups/{conversation_id}", tags=["groups"])
async def get_group(conversation_id: str, p: Auth, h: Hub) -> dict[str, Any]:
    v = await h.groups.view(p.user_id, conversation_id)
    c = v.conversation
    return {
        "conversation_id": c.id,
        "subject": c.subject,
        "description": c.description,
        "created_by": c.created_by,
        "settings": {
            "only_admins_send": c.only_admins_send,
            "only_admins_edit": c.only_admins_edit,
            "approve_joins": c.approve_joins,
        },
        "members": [{"user_id": m.user_id, "role": m.role, "display_name": u.display_name} for m, u in v.members],
    }


@router.patch("/groups/{conversation_id}", status_code=204, tags=["groups"])
async def update_group(conversation_id: str, body: GroupInfo, p: Auth, h: Hub) -> Response:
    await h.groups.update_info(p.user_id, conversation_id, body.subject, body.description)
    return Response(status_code=204)


@router.patch("/groups/{conversation_id}/settings", status_code=204, tags=["groups"])
async def update_settings(conversation_id: str, body: GroupSettings, p: Auth, h: Hub) -> Response:
    await h.groups.update_settings(p.user_id, conversation_id, body.model_dump(exclude_none=True))
    return Response(status_code=204)


@router.post("/groups/{conversation_id}/members", tags=["groups"])
async def add_members(conversation_id: str, body: Members, p: Auth, h: Hub) -> dict[str, Any]:
    r = await h.groups.add_members(p.user_id, conversation_id, body.user_ids)
    return {"conversation_id": r.conversation_id, "added": r.added, "invited": r.invited}


@router.delete("/groups/{conversation_id}/members/{user_id}", status_code=204, tags=["groups"])
async def remove_member(conversation_id: str, user_id: str, p: Auth, h: Hub) -> Response:
    await h.groups.remove_member(p.user_id, conversation_id, user_id)
    return Response(status_code=204)


@router.post("/groups/{conversation_id}/members/{user_id}/promote", status_code=204, tags=["groups"])
async def promote(conversation_id: str, user_id: str, p: Auth, h: Hub) -> Response:
    await h.groups.set_role(p.user_id, conversation_id, user_id, "admin")
    return Response(status_code=204)


@router.post("/groups/{conversation_id}/members/{user_id}/demote", status_code=204, tags=["groups"])
async def demote(conversation_id: str, user_id: str, p: Auth, h: Hub) -> Response:
    await h.groups.set_role(p.user_id, conversation_id, user_id, "member")
    return Response(status_code=204)


@router.post("/groups/{conversation_id}/leave", status_code=204, tags=["groups"])
async def leave(conversation_id: str, body: Leave, p: Auth, h: Hub) -> Response:
    """Leave the group; with `report`, also report it, sharing the last five messages."""
    evidence = await h.safety.last_messages_for_report(p.user_id, conversation_id) if body.report else []
    await h.groups.leave(p.user_id, conversation_id)
    if body.report:
        await h.safety.report(
            p.user_id, target_user=None, conversation_id=conversation_id, reason=body.reason, seqs=evidence
        )
    return Response(status_code=204)


@router.post("/groups/{conversation_id}/links", status_code=201, tags=["groups"])
async def create_link(conversation_id: str, body: LinkCreate, p: Auth, h: Hub) -> dict[str, Any]:
    return await h.groups.create_link(p.user_id, conversation_id, body.expires_in, body.max_uses)


@router.get("/groups/{conversation_id}/links", tags=["groups"])
async def list_links(conversation_id: str, p: Auth, h: Hub) -> dict[str, Any]:
    return {"links": await h.groups.links(p.user_id, conversation_id)}


@router.delete("/groups/{conversation_id}/links/{code}", status_code=204, tags=["groups"])
async def revoke_link(conversation_id: str, code: str, p: Auth, h: Hub) -> Response:
    await h.groups.revoke_link(p.user_id, conversation_id, code)
    return Response(status_code=204)


@router.post("/groups/join", tags=["groups"])
async def join(body: Join, p: Auth, h: Hub) -> dict[str, Any]:
    """Join by invite link; in groups where admins approve new members, this files a request."""
    conv_id, status = await h.groups.join_by_link(p.user_id, body.code)
    return {"conversation_id": conv_id, "status": status}


@router.get("/groups/{conversation_id}/requests", tags=["groups"])
async def list_requests(conversation_id: str, p: Auth, h: Hub) -> dict[str, Any]:
    return {"requests": await h.groups.requests(p.user_id, conversation_id)}


@router.post("/groups/{conversation_id}/requests/{user_id}/approve", status_code=204, tags=["groups"])
async def approve(conversation_id: str, user_id: str, p: Auth, h: Hub) -> Response:
    await h.groups.answer_request(p.user_id, conversation_id, user_id, True)
    return Response(status_code=204)


@router.post("/groups/{conversation_id}/requests/{user_id}/reject", status_code=204, tags=["groups"])
async def reject(conversation_id: str, user_id: str, p: Auth, h: Hub) -> Response:
    await h.groups.answer_request(p.user_id, conversation_id, user_id, False)
    return Response(status_code=204)


# -- invitations ----------------------------------------------------------------------------------------------


@router.get("/invitations", tags=["groups"])
async def invitations(p: Auth, h: Hub) -> dict[str, Any]:
    return {"invitations": await h.groups.invitations(p.user_id)}


@router.post("/invitations/{invitation_id}/accept", tags=["groups"])
async def accept(invitation_id: str, p: Auth, h: Hub) -> dict[str, Any]:
    return {"conversation_id": await h.groups.answer_invitation(p.user_id, invitation_id, True)}


@router.post("/invitations/{invitation_id}/decline", status_code=204, tags=["groups"])
async def decline(invitation_id: str, p: Auth, h: Hub) -> Response:
    await h.groups.answer_invitation(p.user_id, invitation_id, False)
    return Response(status_code=204)


# -- blocking and reports -------------------------------------------------------------------------------------


@router.get("/blocks", tags=["safety"])
async def list_blocks(p: Auth, h: Hub) -> dict[str, Any]:
    return {"blocked": await h.safety.blocked(p.user_id)}


@router.post("/blocks", status_code=204, tags=["safety"])
async def block(body: BlockBody, p: Auth, h: Hub) -> Response:
    """Block a user, silently; with `report`, also report them."""
    await h.safety.block(p.user_id, body.user_id)
    if body.report:
        await h.safety.report(p.user_id, target_user=body.user_id, conversation_id=None, reason="", seqs=[])
    return Response(status_code=204)


@router.delete("/blocks/{user_id}", status_code=204, tags=["safety"])
async def unblock(user_id: str, p: Auth, h: Hub) -> Response:
    await h.safety.unblock(p.user_id, user_id)
    return Response(status_code=204)


@router.post("/reports", status_code=201, tags=["safety"])
async def report(body: ReportBody, p: Auth, h: Hub) -> dict[str, Any]:
    """Report a user or a conversation, sharing the messages (by seq in `conversation_id`) you choose."""
    report_id = await h.safety.report(
        p.user_id,
        target_user=body.user_id,
        conversation_id=body.conversation_id,
        reason=body.reason,
        seqs=body.messages,
    )
    if body.block and body.user_id:
        await h.safety.block(p.user_id, body.user_id)
    return {"report_id": report_id}


# -- broadcast lists ------------------------------------------------------------------------------------------


@router.post("/broadcast-lists", status_code=201, tags=["broadcast"])
async def create_list(body: BroadcastList, p: Auth, h: Hub) -> dict[str, Any]:
    return await h.broadcasts.create(p.user_id, body.name, body.members)


@router.get("/broadcast-lists", tags=["broadcast"])
async def lists(p: Auth, h: Hub) -> dict[str, Any]:
    return {"lists": await h.broadcasts.lists(p.user_id)}


@router.put("/broadcast-lists/{list_id}/members", status_code=204, tags=["broadcast"])
async def set_members(list_id: str, body: BroadcastMembers, p: Auth, h: Hub) -> Response:
    await h.broadcasts.set_members(p.user_id, list_id, body.members)
    return Response(status_code=204)


@router.delete("/broadcast-lists/{list_id}", status_code=204, tags=["broadcast"])
async def delete_list(list_id: str, p: Auth, h: Hub) -> Response:
    await h.broadcasts.delete(p.user_id, list_id)
    return Response(status_code=204)
