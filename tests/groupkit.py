"""Helpers for group tests: users who know each other (or not) and raw clients."""

from __future__ import annotations

from typing import Any

from tests.support import ServerHandle

PHONES = {
    "amal": "+201001234567",
    "badr": "+201101234567",
    "chadi": "+201201234567",
    "dina": "+201501234567",
    "ehab": "+201001234568",
}


class Person:
    def __init__(self, server: ServerHandle, name: str, user_id: str, token: str) -> None:
        self.server, self.name, self.id, self.token = server, name, user_id, token
        self.phone = PHONES[name]

    def http(self) -> Any:
        return self.server.http(self.token)

    async def client(self) -> Any:
        return await self.server.client(self.token)

    async def knows(self, *others: Person) -> None:
        """Add others to this person's contacts."""
        async with self.http() as c:
            r = await c.post("/v1/contacts", json={"contacts": [{"phone": o.phone, "name": o.name} for o in others]})
            assert r.status_code == 200, r.text

    async def privacy(self, **values: Any) -> None:
        async with self.http() as c:
            r = await c.patch("/v1/me/privacy", json=values)
            assert r.status_code == 200, r.text

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        async with self.http() as c:
            return await c.request(method, path, **kwargs)


async def people(server: ServerHandle, *names: str) -> list[Person]:
    out = []
    for name in names:
        user_id, _, token = await server.make_user(PHONES[name], name.title())
        out.append(Person(server, name, user_id, token))
    return out


async def create_group(owner: Person, subject: str, *members: Person, **extra: Any) -> dict[str, Any]:
    r = await owner.call("POST", "/v1/groups", json={"subject": subject, "members": [m.id for m in members], **extra})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def events(frames: list[dict[str, Any]]) -> list[str]:
    return [f["content"]["event"] for f in frames if f.get("system")]
