"""`PATCH /v1/conversations/{id}/state`: pin, archive, mute a chat for myself (docs/protocol.md 3.13a)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from hudhud.web.routing import Auth, Body, Hub, HudhudRoute

router = APIRouter(prefix="/v1", route_class=HudhudRoute)


class ChatStateUpdate(Body):
    pinned: bool = False
    archived: bool = False
    # Unix time (s) in the future, "always", or null to unmute. Absent: unchanged.
    muted_until: float | Literal["always"] | None = None


@router.patch("/conversations/{conversation_id}/state", tags=["messages"])
async def patch_chat_state(conversation_id: str, body: ChatStateUpdate, p: Auth, h: Hub) -> dict[str, Any]:
    """Change what is given (fields left out stay as they are); answers the whole state. All my devices get a
    `chat_state` frame when something changed."""
    given = body.model_fields_set
    fields = ("pinned", "archived", "muted_until")
    kwargs: dict[str, Any] = {name: getattr(body, name) for name in fields if name in given}
    state = await h.chat_state.update(p.user_id, conversation_id, **kwargs)
    return {"conversation_id": conversation_id, **state}
