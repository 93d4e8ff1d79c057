"""Plain records the store hands to services: no SQLAlchemy objects leave this package."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class User:
    id: str
    phone: str
    display_name: str
    about: str
    created_at: float
    read_receipts: bool
    last_seen_privacy: str
    last_seen_at: float | None
    group_add_privacy: str = "contacts"
    status: str = "active"
    warnings: int = 0
    throttled_until: float | None = None
    phone_privacy: str = "contacts"
    group_invites: str = "everyone"
    picture: str | None = None  # media id of the profile picture


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    user_id: str
    name: str
    created_at: float
    last_active_at: float | None
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class CodeRow:
    phone: str
    code_hash: str
    created_at: float
    expires_at: float
    attempts: int


@dataclass(frozen=True, slots=True)
class Contact:
    phone: str
    name: str
    user_id: str | None
    display_name: str | None


@dataclass(frozen=True, slots=True)
class Message:
    conversation_id: str
    seq: int
    sender_id: str
    sender_device_id: str
    client_msg_id: str
    created_at: float
    content: bytes
    kind: str = "user"
    forward_count: int = 0
    withheld: bool = False
    stranger: bool = False


@dataclass(frozen=True, slots=True)
class Member:
    conversation_id: str
    user_id: str
    role: str
    joined_seq: int
    left_seq: int | None
    delivered_seq: int
    read_seq: int
    wrote: bool = False
    added_by: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    kind: str
    last_seq: int
    created_at: float
    subject: str = ""
    description: str = ""
    created_by: str | None = None
    only_admins_send: bool = False
    only_admins_edit: bool = False
    approve_joins: bool = False


@dataclass(frozen=True, slots=True)
class MediaRecord:
    """One upload. `size`/`sha256` are what the client declared; once `status` is "ready", `blob_size`,
    `blob_sha256` and `content_type` describe the bytes that are stored and served."""

    id: str
    owner_id: str
    kind: str
    status: str
    declared_type: str
    file_name: str
    encrypted: bool
    size: int
    sha256: str
    content_type: str | None
    blob_size: int | None
    blob_sha256: str | None
    store_key: str | None
    width: int | None
    height: int | None
    thumbnail: bool
    preview: bytes | None
    created_at: float
    updated_at: float
    finalized_at: float | None
    staged: int = 0  # bytes durably staged so far (while "uploading")
