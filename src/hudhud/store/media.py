"""Queries for media: uploads, the stored blobs behind them, and the messages that refer to them.

Who may read a media: its uploader, or a member of a conversation in which a message referring to it was sent
inside that member's window (joined_seq < seq, and seq <= left_seq once they left), and not withheld from
them. That is the rule `fetch_after` in `messages.py` applies to messages, applied to the message that carried
the media.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, exists, false, func, insert, or_, select, update

from hudhud.errors import ClientError, InvalidRequest
from hudhud.store.messages import _insert
from hudhud.store.records import MediaRecord
from hudhud.store.schema import blocks, media, media_blobs, media_parts, members, message_media, messages, users


class MediaNotFound(ClientError):
    """Unknown, not finished, or not readable by this user: the same answer, so that it reveals nothing."""

    code = "media_not_found"
    status = 404


def _record(row: Any) -> MediaRecord:
    return MediaRecord(
        row.id,
        row.owner_id,
        row.kind,
        row.status,
        row.declared_type,
        row.file_name,
        bool(row.encrypted),
        int(row.size),
        row.sha256,
        row.content_type,
        None if row.blob_size is None else int(row.blob_size),
        row.blob_sha256,
        row.store_key,
        row.width,
        row.height,
        bool(row.thumbnail),
        None if row.preview is None else bytes(row.preview),
        row.created_at,
        row.updated_at,
        row.finalized_at,
        int(row.staged),
    )


def insert_media(
    conn: Connection,
    media_id: str,
    owner_id: str,
    kind: str,
    declared_type: str,
    file_name: str,
    encrypted: bool,
    size: int,
    sha256: str,
    now: float,
) -> None:
    conn.execute(
        insert(media).values(
            id=media_id,
            owner_id=owner_id,
            kind=kind,
            status="uploading",
            declared_type=declared_type,
            file_name=file_name,
            encrypted=encrypted,
            size=size,
            sha256=sha256,
            created_at=now,
            updated_at=now,
        )
    )


def get_media(conn: Connection, media_id: str) -> MediaRecord | None:
    row = conn.execute(select(media).where(media.c.id == media_id)).first()
    return _record(row) if row else None


def usage_bytes(conn: Connection, owner_id: str) -> int:
    """What counts against the user's quota: every upload of theirs that still exists, finished or not, at its
    stored size (or declared size while unfinished). Dedupe saves the operator space, not the user quota."""
    total = conn.execute(
        select(func.coalesce(func.sum(func.coalesce(media.c.blob_size, media.c.size)), 0)).where(
            media.c.owner_id == owner_id
        )
    ).scalar_one()
    return int(total)


def touch(conn: Connection, media_id: str, now: float) -> None:
    conn.execute(update(media).where(media.c.id == media_id).values(updated_at=now))


def add_part(conn: Connection, media_id: str, start: int, size: int, key: str, now: float) -> int | None:
    """Record a staged chunk that begins at byte `start`, if the upload still stands there (compare and set:
    of two chunks for the same offset, on one node or two, one wins). Returns None on success, else where the
    upload stands now (its declared size once it is no longer uploading); nothing is written then."""
    moved = conn.execute(
        update(media)
        .where(media.c.id == media_id, media.c.status == "uploading", media.c.staged == start)
        .values(staged=media.c.staged + size, updated_at=now)
    ).rowcount
    if moved:
        conn.execute(insert(media_parts).values(media_id=media_id, start=start, size=size, key=key))
        return None
    row = conn.execute(select(media.c.status, media.c.staged, media.c.size).where(media.c.id == media_id)).first()
    if row is None:
        return 0
    return int(row.staged) if row.status == "uploading" else int(row.size)


def parts(conn: Connection, media_id: str) -> list[tuple[int, int, str]]:
    """The staged chunks of an upload, (start, size, key), in order."""
    rows = conn.execute(
        select(media_parts.c.start, media_parts.c.size, media_parts.c.key)
        .where(media_parts.c.media_id == media_id)
        .order_by(media_parts.c.start)
    ).all()
    return [(int(r.start), int(r.size), r.key) for r in rows]


def take_parts(conn: Connection, media_id: str) -> list[str]:
    """Forget the staged chunks of an upload; returns their store keys, for the caller to delete."""
    keys = [r[0] for r in conn.execute(select(media_parts.c.key).where(media_parts.c.media_id == media_id)).all()]
    if keys:
        conn.execute(delete(media_parts).where(media_parts.c.media_id == media_id))
    return keys


def blob_state(conn: Connection, key: str) -> str | None:
    row = conn.execute(select(media_blobs.c.state).where(media_blobs.c.key == key)).first()
    return None if row is None else str(row[0])


def set_finished(
    conn: Connection,
    media_id: str,
    *,
    status: str,
    key: str,
    content_type: str,
    blob_size: int,
    blob_sha256: str,
    width: int | None,
    height: int | None,
    thumbnail: bool,
    preview: bytes | None,
    now: float,
) -> None:
    """Record what finalize produced. `status` "storing" claims the blob key while the object is being put
    (the sweeper leaves a key alone while any row refers to it); "ready" makes the media visible."""
    conn.execute(
        update(media)
        .where(media.c.id == media_id)
        .values(
            status=status,
            store_key=key,
            content_type=content_type,
            blob_size=blob_size,
            blob_sha256=blob_sha256,
            width=width,
            height=height,
            thumbnail=thumbnail,
            preview=preview,
            updated_at=now,
            finalized_at=now if status == "ready" else None,
        )
    )


def mark_ready(conn: Connection, media_id: str, now: float) -> None:
    conn.execute(update(media).where(media.c.id == media_id).values(status="ready", updated_at=now, finalized_at=now))


def add_blob(conn: Connection, key: str, size: int, thumbnail: bool, now: float) -> None:
    conn.execute(
        _insert(conn, media_blobs)
        .values(key=key, size=size, state="stored", thumbnail=thumbnail, created_at=now)
        .on_conflict_do_nothing()
    )


def blob_has_thumbnail(conn: Connection, key: str) -> bool:
    row = conn.execute(select(media_blobs.c.thumbnail).where(media_blobs.c.key == key)).first()
    return bool(row and row[0])


def _visible_ref(media_id: Any, user_id: Any) -> Any:
    """EXISTS a message referring to the media that `user_id` may see (membership window, not withheld)."""
    return exists(
        select(message_media.c.seq)
        .select_from(
            message_media.join(
                members,
                and_(members.c.conversation_id == message_media.c.conversation_id, members.c.user_id == user_id),
            ).join(
                messages,
                and_(
                    messages.c.conversation_id == message_media.c.conversation_id, messages.c.seq == message_media.c.seq
                ),
            )
        )
        .where(
            message_media.c.media_id == media_id,
            message_media.c.seq > members.c.joined_seq,
            or_(members.c.left_seq.is_(None), message_media.c.seq <= members.c.left_seq),
            or_(messages.c.withheld == false(), messages.c.sender_id == user_id),
        )
    )


def _is_picture(media_id: Any) -> Any:
    """EXISTS a user whose profile picture this media is (their own upload, protocol 3.5)."""
    return exists().where(users.c.picture == media_id, users.c.id == media.c.owner_id)


def _visible_picture(media_id: Any, user_id: Any) -> Any:
    """The media is its uploader's profile picture and the uploader has not blocked `user_id`: the same rule
    as for the name and about (services/visibility.py)."""
    not_blocked = ~exists().where(blocks.c.blocker_id == media.c.owner_id, blocks.c.blocked_id == user_id)
    return and_(_is_picture(media_id), not_blocked)


def readable(conn: Connection, media_id: str, user_id: str) -> MediaRecord | None:
    """The media if it is ready and `user_id` may read it (uploader, sees a message that refers to it, or it is
    a profile picture its owner shows them)."""
    row = conn.execute(
        select(media).where(
            media.c.id == media_id,
            media.c.status == "ready",
            or_(
                media.c.owner_id == user_id,
                _visible_ref(media.c.id, user_id),
                _visible_picture(media.c.id, user_id),
            ),
        )
    ).first()
    return _record(row) if row else None


def check_attachable(conn: Connection, user_id: str, media_ids: tuple[str, ...]) -> None:
    """A message may refer to media the sender uploaded or can read (forwarding someone else's picture).
    Raises `media_not_found` otherwise; makes no write, so the send op can call it before its first write."""
    wanted = set(media_ids)
    found = {
        r[0]
        for r in conn.execute(
            select(media.c.id).where(
                media.c.id.in_(wanted),
                media.c.status == "ready",
                or_(media.c.owner_id == user_id, _visible_ref(media.c.id, user_id)),
            )
        ).all()
    }
    missing = sorted(wanted - found)
    if missing:
        raise MediaNotFound(f"no finished media {missing[0]} that you can send")


def attach(conn: Connection, conv_id: str, seq: int, media_ids: tuple[str, ...]) -> None:
    rows = [{"conversation_id": conv_id, "seq": seq, "media_id": m} for m in dict.fromkeys(media_ids)]
    if rows:
        conn.execute(insert(message_media), rows)


def copy_refs(conn: Connection, source: tuple[str, int], conv_id: str, seq: int) -> None:
    """A forwarded copy refers to the same media as its source, so the target's members can download it."""
    ids = conn.execute(
        select(message_media.c.media_id).where(
            message_media.c.conversation_id == source[0], message_media.c.seq == source[1]
        )
    ).all()
    attach(conn, conv_id, seq, tuple(r[0] for r in ids))


def media_of_message(conn: Connection, conv_id: str, seq: int) -> list[str]:
    rows = conn.execute(
        select(message_media.c.media_id)
        .where(message_media.c.conversation_id == conv_id, message_media.c.seq == seq)
        .order_by(message_media.c.media_id)
    ).all()
    return [r[0] for r in rows]


def owned(conn: Connection, owner_id: str) -> list[str]:
    """Every media (finished or not) this user uploaded."""
    return [r[0] for r in conn.execute(select(media.c.id).where(media.c.owner_id == owner_id))]


def is_referenced(conn: Connection, media_id: str) -> bool:
    return bool(conn.execute(select(exists().where(message_media.c.media_id == media_id))).scalar())


def is_picture(conn: Connection, media_id: str) -> bool:
    return bool(conn.execute(select(exists().where(users.c.picture == media_id))).scalar())


def check_picture(conn: Connection, user_id: str, media_id: str) -> None:
    """A profile picture must be the user's own finished, unencrypted image upload (protocol 3.5)."""
    record = get_media(conn, media_id)
    if record is None or record.owner_id != user_id or record.status != "ready":
        raise MediaNotFound("no finished upload of yours with this id")
    if record.kind != "image" or record.encrypted:
        raise InvalidRequest("a profile picture must be an image (kind image, not encrypted)")


def delete_media(conn: Connection, media_id: str) -> list[str]:
    """Delete an upload (and its staged chunks); returns the store keys of those chunks, for the caller to delete."""
    keys = take_parts(conn, media_id)
    conn.execute(delete(media).where(media.c.id == media_id))
    return keys


def expired(conn: Connection, now: float, retention: float, upload_retention: float) -> list[MediaRecord]:
    """Uploads to delete: unfinished ones idle for `upload_retention`, and finished ones no message refers to,
    finished more than `retention` ago."""
    unreferenced = and_(~exists().where(message_media.c.media_id == media.c.id), ~_is_picture(media.c.id))
    rows = conn.execute(
        select(media).where(
            or_(
                and_(media.c.status != "ready", media.c.updated_at < now - upload_retention),
                and_(media.c.status == "ready", media.c.finalized_at < now - retention, unreferenced),
            )
        )
    ).all()
    return [_record(r) for r in rows]


def start_blob_deletes(conn: Connection, keys: set[str]) -> list[str]:
    """Of these blob keys, mark for deletion those no upload refers to any more, and return them. A finalize
    that meets a key in this state waits (`unavailable`) instead of counting on an object about to go."""
    if not keys:
        return []
    still = {r[0] for r in conn.execute(select(media.c.store_key).where(media.c.store_key.in_(keys))).all()}
    doomed = sorted(keys - still)
    for key in doomed:
        # Upsert: an upload that died while its object was being put left an object without a blob row.
        stmt = _insert(conn, media_blobs).values(key=key, size=0, state="deleting", created_at=0.0)
        conn.execute(stmt.on_conflict_do_update(index_elements=[media_blobs.c.key], set_={"state": "deleting"}))
    return doomed


def orphan_blobs(conn: Connection) -> set[str]:
    """Stored blobs no upload refers to (left by an interrupted sweep)."""
    rows = conn.execute(select(media_blobs.c.key).where(~exists().where(media.c.store_key == media_blobs.c.key))).all()
    return {r[0] for r in rows}


def finish_blob_deletes(conn: Connection, keys: list[str]) -> None:
    if keys:
        conn.execute(delete(media_blobs).where(media_blobs.c.key.in_(keys), media_blobs.c.state == "deleting"))
