"""The REST calls (docs/api.md): accounts, contacts, chats and history, groups, invitations, safety,
broadcast lists. The counterpart of the browser's `webapp/src/net/api.ts`."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import quote

import httpx

from hudhud import __version__
from hudhud.client.net.core import ClientCore
from hudhud.client.net.protocol import (
    ApiError,
    NotLoggedIn,
    ServerUnreachable,
)
from hudhud.client.records import CachedContact, Envelope


class RestCalls(ClientCore):
    """Plain request/response calls, with the device token from the profile."""

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(
                base_url=self.server, timeout=self._http_timeout, headers={"User-Agent": f"hudhud-client/{__version__}"}
            )
        return self._http

    async def _call(
        self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None, auth: bool = True
    ) -> Any:
        headers = {}
        if auth:
            token = self.store.token
            if not token:
                raise NotLoggedIn("not logged in; run `hudhud login` first")
            headers["Authorization"] = f"Bearer {token}"
        try:
            resp = await self._client().request(method, path, json=body, params=params, headers=headers)
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"cannot reach {self.server}: {str(exc) or type(exc).__name__}") from exc
        if resp.status_code == 204:
            return None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.is_success:
            return data
        err = data.get("error") if isinstance(data, dict) else None
        if not isinstance(err, dict):
            raise ApiError(resp.status_code, "http_error", f"HTTP {resp.status_code}")
        retry = err.get("retry_after")
        code = str(err.get("code", "http_error"))
        if code == "device_revoked" and auth:
            # Keep the profile honest: this token will never work again.
            self.store.forget_token()
        raise ApiError(
            resp.status_code,
            code,
            str(err.get("message", "")),
            float(retry) if isinstance(retry, int | float) else None,
        )

    async def request_code(self, phone: str) -> dict[str, Any]:
        """Ask the server to text a login code to `phone`. → {"phone": E.164, "expires_in": seconds}"""
        data: dict[str, Any] = await self._call("POST", "/v1/auth/code", body={"phone": phone}, auth=False)
        return data

    async def verify(self, phone: str, code: str, device_name: str = "hudhud client") -> dict[str, Any]:
        """Exchange the code for a device token, and store the login in the profile."""
        data: dict[str, Any] = await self._call(
            "POST", "/v1/auth/verify", auth=False, body={"phone": phone, "code": code, "device_name": device_name}
        )
        self.store.save_login(self.server, phone, data["user_id"], data["device_id"], data["token"])
        return data

    async def me(self) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", "/v1/me")
        return data

    async def update_profile(self, display_name: str | None = None, about: str | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("display_name", display_name), ("about", about)) if v is not None}
        data: dict[str, Any] = await self._call("PATCH", "/v1/me", body=body)
        return data

    async def update_privacy(
        self,
        read_receipts: bool | None = None,
        last_seen: str | None = None,
        group_add: str | None = None,
        phone: str | None = None,
        group_invites: str | None = None,
    ) -> dict[str, Any]:
        """`last_seen`, `group_add` (who may add me to groups without asking; the others send an invitation)
        and `phone` (who sees my number) are everyone, contacts or nobody; `group_invites` (whose invitations
        reach me) is everyone or contacts."""
        values = {
            "read_receipts": read_receipts,
            "last_seen": last_seen,
            "group_add": group_add,
            "phone": phone,
            "group_invites": group_invites,
        }
        body = {k: v for k, v in values.items() if v is not None}
        data: dict[str, Any] = await self._call("PATCH", "/v1/me/privacy", body=body)
        return data

    async def devices(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "/v1/devices")
        devices: list[dict[str, Any]] = data["devices"]
        return devices

    async def approve_link(self, code: str) -> str:
        """Link the device showing this pairing code to my account (as WhatsApp Web's QR scan). Returns its name."""
        data: dict[str, Any] = await self._call("POST", "/v1/link/approve", body={"code": code})
        return str(data.get("device_name", ""))

    async def revoke_device(self, device_id: str) -> None:
        await self._call("DELETE", f"/v1/devices/{device_id}")
        if device_id == self.store.device_id:
            self.store.forget_token()

    async def contacts(self) -> list[dict[str, Any]]:
        """The address book on the server (also cached locally for offline name lookups)."""
        data = await self._call("GET", "/v1/contacts")
        contacts: list[dict[str, Any]] = data["contacts"]
        self.store.save_contacts((_cached(c) for c in contacts), replace=True)
        return contacts

    async def add_contacts(self, entries: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Add or rename (phone, name) pairs. Returns them with `user_id` set for those on Hudhud."""
        data = await self._call(
            "POST", "/v1/contacts", body={"contacts": [{"phone": p, "name": n} for p, n in entries]}
        )
        contacts: list[dict[str, Any]] = data["contacts"]
        self.store.save_contacts(_cached(c) for c in contacts)
        return contacts

    async def remove_contact(self, phone: str) -> None:
        await self._call("DELETE", f"/v1/contacts/{phone}")
        self.store.remove_contact(phone)

    async def user(self, user_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", f"/v1/users/{user_id}")
        # The phone number is null for someone who does not share it with me.
        self.store.save_user(data["user_id"], data.get("phone") or "", data.get("display_name") or "")
        return data

    async def conversations(self, *, subjects: bool = False) -> list[dict[str, Any]]:
        """My conversations (kind direct, group or inbox). With `subjects`, every group has its `subject` set:
        from the list if the server includes it, else from the group itself, else (a group I left) from what
        this profile saw last; None if nothing is known."""
        data = await self._call("GET", "/v1/conversations")
        convs: list[dict[str, Any]] = data["conversations"]
        for conv in convs:
            for m in conv.get("members", []):
                self.store.save_user(m["user_id"], m.get("phone", ""), m.get("display_name") or "")
            kind = str(conv.get("kind") or "direct")
            self.store.save_chat(str(conv["conversation_id"]), kind, conv.get("subject"))
        if subjects:
            groups = [c for c in convs if c.get("kind") == "group" and not c.get("subject")]
            found = await asyncio.gather(*(self.group_subject(str(c["conversation_id"])) for c in groups))
            for conv, subject in zip(groups, found, strict=True):
                conv["subject"] = subject
        return convs

    async def group_subject(self, conversation_id: str) -> str | None:
        """A group's subject: asked from the server, else the last one this profile saw (after leaving)."""
        try:
            return str((await self.group(conversation_id))["subject"])
        except ApiError as exc:
            if exc.code not in ("not_member", "not_found"):
                raise
        cached = self.store.cached_chat(conversation_id)
        if cached is not None and cached[1]:
            return cached[1]
        # Not a member any more and never seen here: the last subject in the history I can still read.
        with contextlib.suppress(ApiError):
            messages, _ = await self.history(conversation_id, limit=500)
            for m in reversed(messages):
                c = m.content if m.system and isinstance(m.content, dict) else {}
                if isinstance(c.get("subject"), str) and c.get("event") in ("created", "info_changed"):
                    self.store.save_chat(conversation_id, "group", c["subject"])
                    return str(c["subject"])
        return None

    async def history(
        self, conversation_id: str, *, before: int | None = None, limit: int = 50
    ) -> tuple[list[Envelope], list[dict[str, Any]]]:
        """Messages oldest first, and the members' receipt watermarks (read_seq None = hidden)."""
        params: dict[str, Any] = {"limit": limit}
        if before is not None:
            params["before"] = before
        data = await self._call("GET", f"/v1/conversations/{conversation_id}/messages", params=params)
        return [Envelope.from_json(m) for m in data["messages"]], list(data["receipts"])

    # -- groups -----------------------------------------------------------------------------------------------

    async def create_group(
        self, subject: str, *, description: str = "", members: list[str] | None = None
    ) -> dict[str, Any]:
        """Create a group with me as its owner. → {conversation_id, added, invited}: people whose "who can add
        me" setting allows it are added; the others are sent an invitation they may accept."""
        data: dict[str, Any] = await self._call(
            "POST", "/v1/groups", body={"subject": subject, "description": description, "members": members or []}
        )
        self.store.save_chat(str(data["conversation_id"]), "group", subject)
        return data

    async def group(self, conversation_id: str) -> dict[str, Any]:
        """→ {conversation_id, subject, description, created_by, settings: {only_admins_send, only_admins_edit,
        approve_joins}, members: [{user_id, role (owner|admin|member), display_name}]}"""
        data: dict[str, Any] = await self._call("GET", f"/v1/groups/{_seg(conversation_id)}")
        self.store.save_chat(conversation_id, "group", str(data.get("subject") or "") or None)
        return data

    async def update_group(
        self, conversation_id: str, *, subject: str | None = None, description: str | None = None
    ) -> None:
        body = {k: v for k, v in (("subject", subject), ("description", description)) if v is not None}
        await self._call("PATCH", f"/v1/groups/{_seg(conversation_id)}", body=body)
        if subject is not None:
            self.store.save_chat(conversation_id, "group", subject)

    async def update_group_settings(
        self,
        conversation_id: str,
        *,
        only_admins_send: bool | None = None,
        only_admins_edit: bool | None = None,
        approve_joins: bool | None = None,
    ) -> None:
        """Announcement mode (only admins send), who edits the group's info, and whether admins approve those
        who join with a link."""
        body = {
            k: v
            for k, v in (
                ("only_admins_send", only_admins_send),
                ("only_admins_edit", only_admins_edit),
                ("approve_joins", approve_joins),
            )
            if v is not None
        }
        await self._call("PATCH", f"/v1/groups/{_seg(conversation_id)}/settings", body=body)

    async def add_members(self, conversation_id: str, user_ids: list[str]) -> dict[str, Any]:
        """→ {conversation_id, added, invited} (admins only)."""
        data: dict[str, Any] = await self._call(
            "POST", f"/v1/groups/{_seg(conversation_id)}/members", body={"user_ids": user_ids}
        )
        return data

    async def remove_member(self, conversation_id: str, user_id: str) -> None:
        await self._call("DELETE", f"/v1/groups/{_seg(conversation_id)}/members/{_seg(user_id)}")

    async def promote(self, conversation_id: str, user_id: str) -> None:
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/members/{_seg(user_id)}/promote")

    async def demote(self, conversation_id: str, user_id: str) -> None:
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/members/{_seg(user_id)}/demote")

    async def leave_group(self, conversation_id: str, *, report: bool = False, reason: str = "") -> None:
        """Leave; with `report`, also report the group (the server shares its last five messages)."""
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/leave", body={"report": report, "reason": reason})

    async def create_link(
        self, conversation_id: str, *, expires_in: float | None = None, max_uses: int | None = None
    ) -> dict[str, Any]:
        """An invite link. → {code, conversation_id, expires_at, max_uses, uses}"""
        data: dict[str, Any] = await self._call(
            "POST",
            f"/v1/groups/{_seg(conversation_id)}/links",
            body={"expires_in": expires_in, "max_uses": max_uses},
        )
        return data

    async def links(self, conversation_id: str) -> list[dict[str, Any]]:
        data = await self._call("GET", f"/v1/groups/{_seg(conversation_id)}/links")
        links: list[dict[str, Any]] = data["links"]
        return links

    async def revoke_link(self, conversation_id: str, code: str) -> None:
        await self._call("DELETE", f"/v1/groups/{_seg(conversation_id)}/links/{_seg(code)}")

    async def join_group(self, code: str) -> dict[str, Any]:
        """Join with an invite link's code. → {conversation_id, status}: "joined", or "requested" in a group
        whose admins approve new members."""
        data: dict[str, Any] = await self._call("POST", "/v1/groups/join", body={"code": code})
        return data

    async def join_requests(self, conversation_id: str) -> list[dict[str, Any]]:
        """Pending requests to join: [{user_id, created_at}] (admins only)."""
        data = await self._call("GET", f"/v1/groups/{_seg(conversation_id)}/requests")
        requests: list[dict[str, Any]] = data["requests"]
        return requests

    async def approve_request(self, conversation_id: str, user_id: str) -> None:
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/requests/{_seg(user_id)}/approve")

    async def reject_request(self, conversation_id: str, user_id: str) -> None:
        await self._call("POST", f"/v1/groups/{_seg(conversation_id)}/requests/{_seg(user_id)}/reject")

    async def invitations(self) -> list[dict[str, Any]]:
        """Pending invitations to groups: [{invitation_id, conversation_id, subject, inviter_id, created_at,
        expires_at}]."""
        data = await self._call("GET", "/v1/invitations")
        invitations: list[dict[str, Any]] = data["invitations"]
        return invitations

    async def accept_invitation(self, invitation_id: str) -> str:
        """Join the group; returns its conversation id."""
        data = await self._call("POST", f"/v1/invitations/{_seg(invitation_id)}/accept")
        return str(data["conversation_id"])

    async def decline_invitation(self, invitation_id: str) -> None:
        await self._call("POST", f"/v1/invitations/{_seg(invitation_id)}/decline")

    # -- safety -----------------------------------------------------------------------------------------------

    async def blocked(self) -> list[str]:
        """The user ids I have blocked."""
        data = await self._call("GET", "/v1/blocks")
        return [str(u) for u in data["blocked"]]

    async def block(self, user_id: str, *, report: bool = False) -> None:
        """Block silently (they are not told); with `report`, also report them."""
        await self._call("POST", "/v1/blocks", body={"user_id": user_id, "report": report})

    async def unblock(self, user_id: str) -> None:
        await self._call("DELETE", f"/v1/blocks/{_seg(user_id)}")

    async def report(
        self,
        *,
        user_id: str | None = None,
        conversation_id: str | None = None,
        reason: str = "",
        messages: list[int] | None = None,
        block: bool = False,
    ) -> str:
        """Report a user and/or a conversation, sharing the messages (seqs in `conversation_id`) I choose.
        Returns the report id."""
        body: dict[str, Any] = {"reason": reason, "messages": messages or [], "block": block}
        if user_id is not None:
            body["user_id"] = user_id
        if conversation_id is not None:
            body["conversation_id"] = conversation_id
        data = await self._call("POST", "/v1/reports", body=body)
        return str(data["report_id"])

    # -- broadcast lists --------------------------------------------------------------------------------------

    async def create_broadcast_list(self, name: str, members: list[str]) -> dict[str, Any]:
        """→ {list_id, name, members}"""
        data: dict[str, Any] = await self._call("POST", "/v1/broadcast-lists", body={"name": name, "members": members})
        return data

    async def broadcast_lists(self) -> list[dict[str, Any]]:
        data = await self._call("GET", "/v1/broadcast-lists")
        lists: list[dict[str, Any]] = data["lists"]
        return lists

    async def set_broadcast_members(self, list_id: str, members: list[str]) -> None:
        await self._call("PUT", f"/v1/broadcast-lists/{_seg(list_id)}/members", body={"members": members})

    async def delete_broadcast_list(self, list_id: str) -> None:
        await self._call("DELETE", f"/v1/broadcast-lists/{_seg(list_id)}")


def _seg(value: str) -> str:
    """A path segment, escaped (ids never need it, but a typo must not turn into another path)."""
    return quote(str(value), safe="")


def _cached(c: dict[str, Any]) -> CachedContact:
    return CachedContact(str(c["phone"]), str(c.get("name") or ""), c.get("user_id"), c.get("display_name"))
