"""The client's local state: one SQLite file, `state.db`, in the profile directory.

Why a database and not a JSON file: the outbox must survive a crash between "queued" and "acknowledged",
several `hudhud` processes may use one profile at the same time (a `listen` in one terminal, a `send` in
another), and SQLite gives both atomic commits and locking for free.

What it holds:
    kv        token, server URL, user id, device id, phone
    outbox    messages written by `send()` (and forwards and broadcasts) not yet acknowledged by the server
    results   the outcome of recent forwards and broadcasts, for `wait_forwarded` / `wait_broadcast` callers
              that come back after the reply arrived
    cursors   per conversation, the contiguous watermark: every seq at or below it was either handed to the
              application or is a message this device sent itself; it is what the client acks
    messages  a small cache of messages seen (delivered, or sent by this device), including every message
              above the watermark, which is what makes dedupe exact across restarts
    receipts  the last watermarks seen per (conversation, user), to compute ticks of my own messages
    contacts / users   names, so that `send Alice` works offline and output shows names instead of ids
    chats     kind and subject of conversations seen, so that a group keeps its name after I left it

The journal is WAL with synchronous=NORMAL: a commit survives a crash of the process (what the outbox
promises); on power loss the last few commits may be lost, which costs at most a resend the server dedupes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from hudhud.client.records import FORWARDED_MANY_TIMES, CachedContact, Envelope, OutboxEntry

# Re-exported: the SDK, the commands and tests import the records from here.
__all__ = [
    "CACHE_PER_CONVERSATION",
    "FORWARDED_MANY_TIMES",
    "STATUS_RANK",
    "CachedContact",
    "Envelope",
    "OutboxEntry",
    "StateStore",
    "default_profile_dir",
]

STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3}

# How many messages at or below the watermark the cache keeps per conversation (everything above is kept).
CACHE_PER_CONVERSATION = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    to_user TEXT,
    conversation_id TEXT,
    content TEXT NOT NULL,
    created_at REAL NOT NULL,
    kind TEXT NOT NULL DEFAULT 'send'
);
CREATE TABLE IF NOT EXISTS results (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, data TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chats (conversation_id TEXT PRIMARY KEY, kind TEXT NOT NULL, subject TEXT);
CREATE TABLE IF NOT EXISTS cursors (conversation_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    sender_user TEXT NOT NULL,
    sender_device TEXT NOT NULL,
    ts REAL NOT NULL,
    content TEXT NOT NULL,
    own INTEGER NOT NULL,
    status TEXT,
    system INTEGER NOT NULL DEFAULT 0,
    forward_count INTEGER NOT NULL DEFAULT 0,
    stranger INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX IF NOT EXISTS messages_id ON messages (id);
CREATE TABLE IF NOT EXISTS receipts (
    conversation_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    delivered_seq INTEGER NOT NULL,
    read_seq INTEGER,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE TABLE IF NOT EXISTS contacts (
    phone TEXT PRIMARY KEY, name TEXT NOT NULL, user_id TEXT, display_name TEXT
);
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY, phone TEXT NOT NULL, display_name TEXT NOT NULL
);
"""

# Columns added after the first release: a state.db made by an older client gets them when it is opened.
_ADDED_COLUMNS = {
    "outbox": {"kind": "TEXT NOT NULL DEFAULT 'send'", "media": "TEXT NOT NULL DEFAULT '[]'"},
    "messages": {
        "system": "INTEGER NOT NULL DEFAULT 0",
        "forward_count": "INTEGER NOT NULL DEFAULT 0",
        "stranger": "INTEGER NOT NULL DEFAULT 0",
    },
}

# Outcomes of forwards and broadcasts kept for `wait_*` callers that come back late.
KEEP_RESULTS = 200


def default_profile_dir() -> Path:
    """$HUDHUD_PROFILE, else ~/.config/hudhud/default (XDG_CONFIG_HOME respected)."""
    env = os.environ.get("HUDHUD_PROFILE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hudhud" / "default"


class StateStore:
    """Typed access to state.db. Every public method is one transaction; calls are short and synchronous
    (sub-millisecond on a local disk), so they run on the event loop without a thread hop."""

    def __init__(self, profile_dir: str | os.PathLike[str] | None = None) -> None:
        self.dir = Path(profile_dir).expanduser() if profile_dir else default_profile_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        # The token is a secret: keep the directory private.
        with suppress(OSError):
            os.chmod(self.dir, 0o700)
        self.path = self.dir / "state.db"
        self._db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        with suppress(OSError):
            os.chmod(self.path, 0o600)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._upgrade()

    def _upgrade(self) -> None:
        with self._tx() as db:
            for table, columns in _ADDED_COLUMNS.items():
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                for name, decl in columns.items():
                    if name not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock up front, so two processes never deadlock upgrading a read.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- key/value: credentials and settings ------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set(self, **values: str | None) -> None:
        with self._tx() as db:
            for key, value in values.items():
                if value is None:
                    db.execute("DELETE FROM kv WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT INTO kv(key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )

    @property
    def token(self) -> str | None:
        return self.get("token")

    @property
    def server(self) -> str | None:
        return self.get("server")

    @property
    def user_id(self) -> str | None:
        return self.get("user_id")

    @property
    def device_id(self) -> str | None:
        return self.get("device_id")

    def save_login(self, server: str, phone: str, user_id: str, device_id: str, token: str) -> None:
        """Store a fresh login. Logging in as a different account wipes the previous account's data, so that
        its queued messages are never sent under the new identity."""
        previous = self.user_id
        with self._tx() as db:
            if previous is not None and previous != user_id:
                for table in ("outbox", "results", "chats", "cursors", "messages", "receipts", "contacts", "users"):
                    db.execute(f"DELETE FROM {table}")
            for key, value in (
                ("server", server),
                ("phone", phone),
                ("user_id", user_id),
                ("device_id", device_id),
                ("token", token),
            ):
                db.execute(
                    "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    def forget_token(self) -> None:
        self.set(token=None)

    # -- outbox -----------------------------------------------------------------------------------------------

    def outbox_put(
        self,
        msg_id: str,
        content: Any,
        *,
        to_user: str | None = None,
        conversation_id: str | None = None,
        kind: str = "send",
        media: tuple[str, ...] = (),
    ) -> OutboxEntry:
        if kind == "send" and (to_user is None) == (conversation_id is None):
            raise ValueError("give exactly one of to_user and conversation_id")
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO outbox(id, to_user, conversation_id, content, created_at, kind, media) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    msg_id,
                    to_user,
                    conversation_id,
                    json.dumps(content, ensure_ascii=False),
                    now,
                    kind,
                    json.dumps(media),
                ),
            )
        return OutboxEntry(msg_id, to_user, conversation_id, content, now, kind, tuple(media))

    def outbox(self) -> list[OutboxEntry]:
        rows = self._db.execute("SELECT * FROM outbox ORDER BY pos").fetchall()
        return [self._entry(r) for r in rows]

    def outbox_get(self, msg_id: str) -> OutboxEntry | None:
        row = self._db.execute("SELECT * FROM outbox WHERE id = ?", (msg_id,)).fetchone()
        return None if row is None else self._entry(row)

    def outbox_drop(self, msg_id: str) -> OutboxEntry | None:
        """Remove an entry the server refused for good (it would be refused again on every resend)."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE id = ?", (msg_id,)).fetchone()
            db.execute("DELETE FROM outbox WHERE id = ?", (msg_id,))
        return None if row is None else self._entry(row)

    @staticmethod
    def _entry(row: sqlite3.Row) -> OutboxEntry:
        return OutboxEntry(
            row["id"],
            row["to_user"],
            row["conversation_id"],
            json.loads(row["content"]),
            row["created_at"],
            row["kind"],
            tuple(json.loads(row["media"] or "[]")),
        )

    # -- outcomes of forwards and broadcasts ------------------------------------------------------------------

    def finish_job(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        """A forward or broadcast is done: leave the outbox and keep its outcome, in one commit."""
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE id = ?", (job_id,))
            db.execute(
                "INSERT INTO results(id, kind, data, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE "
                "SET kind = excluded.kind, data = excluded.data, created_at = excluded.created_at",
                (job_id, kind, json.dumps(data, ensure_ascii=False), time.time()),
            )
            db.execute(
                "DELETE FROM results WHERE id NOT IN (SELECT id FROM results ORDER BY created_at DESC LIMIT ?)",
                (KEEP_RESULTS,),
            )

    def job_result(self, job_id: str) -> tuple[str, dict[str, Any]] | None:
        row = self._db.execute("SELECT kind, data FROM results WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else (str(row[0]), json.loads(row[1]))

    # -- the watermark and the message cache ------------------------------------------------------------------

    def cursor(self, conversation_id: str) -> int:
        row = self._db.execute("SELECT seq FROM cursors WHERE conversation_id = ?", (conversation_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def cursors(self) -> dict[str, int]:
        return {r[0]: int(r[1]) for r in self._db.execute("SELECT conversation_id, seq FROM cursors")}

    def record_delivery(self, env: Envelope, my_user_id: str | None) -> tuple[bool, int]:
        """Note a delivered message. Returns (new, watermark): `new` is False for a message seen before (at or
        below the watermark, or already cached above it), which the caller must not show again."""
        with self._tx() as db:
            cur = self._cursor(db, env.conversation_id)
            if env.seq <= cur or self._has(db, env.conversation_id, env.seq):
                return False, cur
            status = "sent" if env.sender_user_id == my_user_id and not env.system else None
            self._insert(db, env, own=False, status=status)
            cur = self._advance(db, env.conversation_id, cur)
            return True, cur

    def record_sent(
        self,
        msg_id: str,
        conversation_id: str,
        seq: int,
        ts: float,
        user_id: str,
        device_id: str,
        content: Any = None,
    ) -> tuple[OutboxEntry | None, int]:
        """The server acknowledged one of our messages: leave the outbox, enter the cache as our own message
        (which fills its seq in the watermark). Returns (the outbox entry if it was still there, watermark).
        `content` is used when there is no outbox entry of that id (a forward's or a broadcast's copies)."""
        with self._tx() as db:
            row = db.execute("SELECT * FROM outbox WHERE id = ?", (msg_id,)).fetchone()
            entry = None if row is None else self._entry(row)
            db.execute("DELETE FROM outbox WHERE id = ?", (msg_id,))
            cur = self._cursor(db, conversation_id)
            if seq > 0 and not self._has(db, conversation_id, seq):
                # Without the entry (another process using this profile took it first) the content is
                # unknown, but the seq is still ours and must fill its place in the watermark.
                if entry is not None:
                    content = entry.content
                env = Envelope(conversation_id, seq, msg_id, user_id, device_id, ts, content)
                self._insert(db, env, own=True, status="sent")
            if seq > cur:
                cur = self._advance(db, conversation_id, cur)
            return entry, cur

    def jump_cursor(self, conversation_id: str, seq: int) -> int:
        """Move the watermark up to `seq` even across gaps. Used when the server has said that everything up
        to there has been sent (`synced`): a gap below it is not meant for this device (its own message whose
        ack we lost, or a message from before it joined), so waiting for it would stall acks forever."""
        with self._tx() as db:
            cur = self._cursor(db, conversation_id)
            if seq > cur:
                cur = self._advance(db, conversation_id, seq, write=True)
            return cur

    def sent_info(self, msg_id: str) -> tuple[str, int, float] | None:
        """(conversation_id, seq, ts) of one of our own acknowledged messages still in the cache."""
        row = self._db.execute(
            "SELECT conversation_id, seq, ts FROM messages WHERE id = ? AND own = 1", (msg_id,)
        ).fetchone()
        return None if row is None else (row[0], int(row[1]), float(row[2]))

    def cached_messages(self, conversation_id: str, limit: int = 50) -> list[Envelope]:
        rows = self._db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?", (conversation_id, limit)
        ).fetchall()
        return [self._env(r) for r in reversed(rows)]

    def cached_message(self, conversation_id: str, seq: int) -> Envelope | None:
        row = self._db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND seq = ?", (conversation_id, seq)
        ).fetchone()
        return None if row is None else self._env(row)

    def trim(self, keep: int = CACHE_PER_CONVERSATION) -> None:
        """Keep the cache small: drop old messages at or below the watermark beyond `keep` per conversation."""
        with self._tx() as db:
            for conv, cur in db.execute("SELECT conversation_id, seq FROM cursors").fetchall():
                db.execute(
                    "DELETE FROM messages WHERE conversation_id = ? AND seq <= ? AND seq NOT IN "
                    "(SELECT seq FROM messages WHERE conversation_id = ? ORDER BY seq DESC LIMIT ?)",
                    (conv, cur, conv, keep),
                )

    @staticmethod
    def _cursor(db: sqlite3.Connection, conversation_id: str) -> int:
        row = db.execute("SELECT seq FROM cursors WHERE conversation_id = ?", (conversation_id,)).fetchone()
        return 0 if row is None else int(row[0])

    @staticmethod
    def _has(db: sqlite3.Connection, conversation_id: str, seq: int) -> bool:
        return (
            db.execute(
                "SELECT 1 FROM messages WHERE conversation_id = ? AND seq = ?", (conversation_id, seq)
            ).fetchone()
            is not None
        )

    @staticmethod
    def _insert(db: sqlite3.Connection, env: Envelope, *, own: bool, status: str | None) -> None:
        db.execute(
            "INSERT OR IGNORE INTO messages(conversation_id, seq, id, sender_user, sender_device, ts, "
            "content, own, status, system, forward_count, stranger) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                env.conversation_id,
                env.seq,
                env.id,
                env.sender_user_id,
                env.sender_device_id,
                env.ts,
                json.dumps(env.content, ensure_ascii=False),
                int(own),
                status,
                int(env.system),
                env.forward_count,
                int(env.stranger),
            ),
        )

    @staticmethod
    def _advance(db: sqlite3.Connection, conversation_id: str, start: int, *, write: bool = False) -> int:
        """Walk the watermark up over cached seqs that follow it without a gap; persist it."""
        cur = start
        for (seq,) in db.execute(
            "SELECT seq FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq", (conversation_id, start)
        ).fetchall():
            if seq != cur + 1:
                break
            cur = seq
        if cur != start or write:
            db.execute(
                "INSERT INTO cursors(conversation_id, seq) VALUES (?, ?) "
                "ON CONFLICT(conversation_id) DO UPDATE SET seq = MAX(seq, excluded.seq)",
                (conversation_id, cur),
            )
        return cur

    @staticmethod
    def _env(row: sqlite3.Row) -> Envelope:
        return Envelope(
            row["conversation_id"],
            int(row["seq"]),
            row["id"],
            row["sender_user"],
            row["sender_device"],
            float(row["ts"]),
            json.loads(row["content"]),
            bool(row["system"]),
            int(row["forward_count"]),
            bool(row["stranger"]),
        )

    # -- receipts and ticks -----------------------------------------------------------------------------------

    def record_receipt(
        self, conversation_id: str, user_id: str, delivered_seq: int, read_seq: int | None, my_user_id: str | None
    ) -> list[tuple[Envelope, str]]:
        """Store a watermark and return my messages whose ticks went up because of it, as (message, status)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO receipts(conversation_id, user_id, delivered_seq, read_seq) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(conversation_id, user_id) DO UPDATE SET "
                "delivered_seq = MAX(delivered_seq, excluded.delivered_seq), read_seq = CASE WHEN excluded.read_seq "
                "IS NULL THEN NULL ELSE MAX(COALESCE(read_seq, 0), excluded.read_seq) END",
                (conversation_id, user_id, delivered_seq, read_seq),
            )
            if my_user_id is None:
                return []
            return self._update_ticks(db, conversation_id, my_user_id)

    def refresh_ticks(self, conversation_id: str, my_user_id: str) -> list[tuple[Envelope, str]]:
        with self._tx() as db:
            return self._update_ticks(db, conversation_id, my_user_id)

    def _update_ticks(
        self, db: sqlite3.Connection, conversation_id: str, my_user_id: str
    ) -> list[tuple[Envelope, str]]:
        others = db.execute(
            "SELECT delivered_seq, read_seq FROM receipts WHERE conversation_id = ? AND user_id != ?",
            (conversation_id, my_user_id),
        ).fetchall()
        if not others:
            return []
        delivered = min(int(r[0]) for r in others)
        reads = [r[1] for r in others]
        read = min(int(r) for r in reads) if all(r is not None for r in reads) else 0
        changed: list[tuple[Envelope, str]] = []
        rows = db.execute(
            "SELECT * FROM messages WHERE conversation_id = ? AND sender_user = ? AND seq <= ? "
            "AND system = 0 AND COALESCE(status, 'sent') != 'read'",
            (conversation_id, my_user_id, max(delivered, read)),
        ).fetchall()
        for row in rows:
            seq = int(row["seq"])
            status = "read" if seq <= read else "delivered" if seq <= delivered else "sent"
            if STATUS_RANK[status] > STATUS_RANK[row["status"] or "sent"]:
                db.execute(
                    "UPDATE messages SET status = ? WHERE conversation_id = ? AND seq = ?",
                    (status, conversation_id, seq),
                )
                changed.append((self._env(row), status))
        return changed

    def receipts(self, conversation_id: str) -> dict[str, tuple[int, int | None]]:
        rows = self._db.execute(
            "SELECT user_id, delivered_seq, read_seq FROM receipts WHERE conversation_id = ?", (conversation_id,)
        ).fetchall()
        return {r[0]: (int(r[1]), None if r[2] is None else int(r[2])) for r in rows}

    # -- names ------------------------------------------------------------------------------------------------

    def save_contacts(self, contacts: Iterable[CachedContact], *, replace: bool = False) -> None:
        with self._tx() as db:
            if replace:
                db.execute("DELETE FROM contacts")
            for c in contacts:
                db.execute(
                    "INSERT INTO contacts(phone, name, user_id, display_name) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT(phone) DO UPDATE SET name = excluded.name, user_id = excluded.user_id, "
                    "display_name = excluded.display_name",
                    (c.phone, c.name, c.user_id, c.display_name),
                )

    def remove_contact(self, phone: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM contacts WHERE phone = ?", (phone,))

    def contacts(self) -> list[CachedContact]:
        rows = self._db.execute("SELECT phone, name, user_id, display_name FROM contacts ORDER BY name").fetchall()
        return [CachedContact(r[0], r[1], r[2], r[3]) for r in rows]

    def save_user(self, user_id: str, phone: str | None, display_name: str) -> None:
        # The server leaves out numbers it does not share (group members not in my contacts): keep what we had.
        phone = phone or ""
        with self._tx() as db:
            db.execute(
                "INSERT INTO users(user_id, phone, display_name) VALUES (?, ?, ?) ON CONFLICT(user_id) DO UPDATE "
                "SET phone = CASE WHEN excluded.phone != '' THEN excluded.phone ELSE users.phone END, "
                "display_name = excluded.display_name",
                (user_id, phone, display_name),
            )

    def cached_user(self, user_id: str) -> tuple[str, str] | None:
        """(phone, display_name) of a user seen before."""
        row = self._db.execute("SELECT phone, display_name FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return None if row is None else (row[0], row[1])

    def user_by_phone(self, phone: str) -> str | None:
        """The user id of a number seen before (in a contact or a shared conversation)."""
        row = self._db.execute(
            "SELECT user_id FROM contacts WHERE phone = ? AND user_id IS NOT NULL "
            "UNION ALL SELECT user_id FROM users WHERE phone = ? LIMIT 1",
            (phone, phone),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- chats: kind and subject ------------------------------------------------------------------------------

    def save_chat(self, conversation_id: str, kind: str, subject: str | None = None) -> None:
        """Remember a conversation's kind and (for groups) subject; a None subject keeps the one known."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO chats(conversation_id, kind, subject) VALUES (?, ?, ?) ON CONFLICT(conversation_id) "
                "DO UPDATE SET kind = excluded.kind, subject = COALESCE(excluded.subject, chats.subject)",
                (conversation_id, kind, subject),
            )

    def cached_chat(self, conversation_id: str) -> tuple[str, str | None] | None:
        """(kind, subject) of a conversation seen before."""
        row = self._db.execute(
            "SELECT kind, subject FROM chats WHERE conversation_id = ?", (conversation_id,)
        ).fetchone()
        return None if row is None else (str(row[0]), row[1])
