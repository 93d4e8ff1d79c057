"""REST endpoints for accounts, devices, contacts, profiles and conversation history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from hudhud.errors import InvalidRequest
from hudhud.protocol import server_frames as sf
from hudhud.services.chatstate import state_json
from hudhud.services.messaging import ReceiptView
from hudhud.services.visibility import Profile
from hudhud.store.records import Contact, Message, User
from hudhud.web.routing import Auth, Body, Hub, HudhudRoute

router = APIRouter(prefix="/v1", route_class=HudhudRoute)


# -- bodies ---------------------------------------------------------------------------------------------------


class CodeRequest(Body):
    phone: str = Field(max_length=32)


class VerifyRequest(Body):
    phone: str = Field(max_length=32)
    code: str = Field(max_length=16)
    device_name: str = Field(default="", max_length=64)


class ProfileUpdate(Body):
    display_name: str | None = Field(default=None, max_length=64)
    about: str | None = Field(default=None, max_length=140)
    picture: str | None = Field(default=None, max_length=64)


class AccountDelete(Body):
    phone: str = Field(max_length=32)


class PrivacyUpdate(Body):
    read_receipts: bool | None = None
    last_seen: Literal["everyone", "contacts", "nobody"] | None = None
    group_add: Literal["everyone", "contacts", "nobody"] | None = None
    phone: Literal["everyone", "contacts", "nobody"] | None = None
    group_invites: Literal["everyone", "contacts"] | None = None


class ContactIn(Body):
    phone: str = Field(max_length=32)
    name: str = Field(default="", max_length=64)


class ContactsAdd(Body):
    contacts: list[ContactIn] = Field(max_length=1000)


# -- views ----------------------------------------------------------------------------------------------------


def me_view(u: User) -> dict[str, Any]:
    return {
        "user_id": u.id,
        "phone": u.phone,
        "display_name": u.display_name,
        "about": u.about,
        "read_receipts": u.read_receipts,
        "last_seen": u.last_seen_privacy,
        "group_add": u.group_add_privacy,
        "phone_privacy": u.phone_privacy,
        "group_invites": u.group_invites,
        "picture": u.picture,
    }


def profile_view(p: Profile) -> dict[str, Any]:
    return {
        "user_id": p.user_id,
        "phone": p.phone,
        "display_name": p.display_name,
        "about": p.about,
        "picture": p.picture,
    }


def contact_view(c: Contact) -> dict[str, Any]:
    return {"phone": c.phone, "name": c.name, "user_id": c.user_id, "display_name": c.display_name}


def envelope(m: Message, viewer_id: str | None = None) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(sf.envelope(m, viewer_id)))  # type: ignore[no-any-return]


def receipt_json(r: ReceiptView) -> dict[str, Any]:
    return {"user_id": r.user_id, "delivered_seq": r.delivered_seq, "read_seq": r.read_seq}


# -- accounts -------------------------------------------------------------------------------------------------


@router.post("/auth/code", status_code=202, tags=["accounts"])
async def request_code(body: CodeRequest, request: Request, h: Hub) -> dict[str, Any]:
    """Send a six-digit code by SMS to the number (E.164 or national format of the server's region)."""
    client_ip = request.client.host if request.client else "unknown"
    number, ttl = await h.accounts.request_code(body.phone, client_ip)
    return {"phone": number, "expires_in": ttl}


@router.post("/auth/verify", tags=["accounts"])
async def verify(body: VerifyRequest, h: Hub) -> dict[str, Any]:
    """Exchange the code for a new device and its bearer token; creates the account on first login."""
    login = await h.accounts.verify(body.phone, body.code, body.device_name)
    return {
        "user_id": login.user.id,
        "device_id": login.device.id,
        "token": login.token,
        "new_account": login.new_account,
    }


@router.get("/me", tags=["accounts"])
async def get_me(p: Auth, h: Hub) -> dict[str, Any]:
    return me_view(await h.accounts.get_user(p.user_id))


@router.patch("/me", tags=["accounts"])
async def patch_me(body: ProfileUpdate, p: Auth, h: Hub) -> dict[str, Any]:
    return me_view(await h.accounts.update_profile(p.user_id, body.display_name, body.about, body.picture))


@router.delete("/me", status_code=204, tags=["accounts"])
async def delete_me(body: AccountDelete, p: Auth, h: Hub) -> Response:
    """Delete my account and everything only mine (docs/protocol.md section 3.6a). To confirm, the body
    names the account's phone number."""
    me = await h.accounts.get_user(p.user_id)
    if h.accounts.normalize(body.phone) != me.phone:
        raise InvalidRequest("to delete the account, give its phone number")
    await h.deletion.delete(p.user_id)
    return Response(status_code=204)


@router.patch("/me/privacy", tags=["accounts"])
async def patch_privacy(body: PrivacyUpdate, p: Auth, h: Hub) -> dict[str, Any]:
    return me_view(
        await h.accounts.update_privacy(
            p.user_id, body.read_receipts, body.last_seen, body.group_add, body.phone, body.group_invites
        )
    )


@router.get("/devices", tags=["devices"])
async def list_devices(p: Auth, h: Hub) -> dict[str, Any]:
    return {
        "devices": [
            {
                "device_id": d.id,
                "name": d.name,
                "created_at": d.created_at,
                "last_active_at": d.last_active_at,
                "current": d.id == p.device_id,
            }
            for d in await h.accounts.devices(p.user_id)
        ]
    }


@router.delete("/devices/{device_id}", status_code=204, tags=["devices"])
async def revoke_device(device_id: str, p: Auth, h: Hub) -> Response:
    """Log a device out. Its token stops working and its live connection is closed at once."""
    await h.accounts.revoke(p.user_id, device_id)
    return Response(status_code=204)


@router.get("/users/{user_id}", tags=["accounts"])
async def get_user(user_id: str, p: Auth, h: Hub) -> dict[str, Any]:
    """A user's public profile. The phone number is null unless its owner lets this viewer see it (protocol
    section 3.9); someone who blocked the viewer shows an empty profile."""
    return profile_view(await h.accounts.profile_for(p.user_id, user_id))


# -- contacts -------------------------------------------------------------------------------------------------


@router.get("/contacts", tags=["contacts"])
async def list_contacts(p: Auth, h: Hub) -> dict[str, Any]:
    return {
        "contacts": [contact_view(c) for c in await h.contacts.list(p.user_id)],
        "discovery_budget_left": await h.contacts.budget_left(p.user_id),
    }


@router.post("/contacts", tags=["contacts"])
async def add_contacts(body: ContactsAdd, request: Request, p: Auth, h: Hub) -> dict[str, Any]:
    """Add or rename contacts; answers which of them are on Hudhud. New numbers spend the discovery budget."""
    found = await h.contacts.add(
        p.user_id, [(c.phone, c.name) for c in body.contacts], request.client.host if request.client else ""
    )
    return {
        "contacts": [contact_view(c) for c in found],
        "discovery_budget_left": await h.contacts.budget_left(p.user_id),
    }


@router.delete("/contacts/{phone}", status_code=204, tags=["contacts"])
async def remove_contact(phone: str, p: Auth, h: Hub) -> Response:
    await h.contacts.remove(p.user_id, phone)
    return Response(status_code=204)


# -- conversations --------------------------------------------------------------------------------------------


@router.get("/conversations", tags=["messages"])
async def conversations(p: Auth, h: Hub) -> dict[str, Any]:
    """My conversations. Members' numbers and names follow the one rule of `GET /v1/users/{user_id}`: sharing a
    chat or a group does not by itself show a number."""
    out = []
    states, now = await h.chat_state.states(p.user_id), h.chat_state.now()
    for s in await h.messaging.conversations(p.user_id):
        group = s.conversation.kind == "group"
        out.append(
            {
                "conversation_id": s.conversation.id,
                "kind": s.conversation.kind,
                "subject": s.conversation.subject if group else None,
                "last_seq": s.conversation.last_seq,
                "members": [
                    {
                        "user_id": m.user_id,
                        "phone": s.profiles[m.user_id].phone,
                        "display_name": s.profiles[m.user_id].display_name,
                        "picture": s.profiles[m.user_id].picture,
                    }
                    for m in s.members
                ],
                "last_message": envelope(s.last_message, p.user_id) if s.last_message else None,
                "receipts": [receipt_json(r) for r in s.receipts],
                **state_json(states.get(s.conversation.id), now),
            }
        )
    return {"conversations": out}


@router.get("/conversations/{conversation_id}/messages", tags=["messages"])
async def history(
    conversation_id: str,
    p: Auth,
    h: Hub,
    before: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    msgs, receipts = await h.messaging.history(p.user_id, conversation_id, before, limit)
    return {"messages": [envelope(m, p.user_id) for m in msgs], "receipts": [receipt_json(r) for r in receipts]}
