"""The schema, as SQLAlchemy Core tables. Migrations in `migrations/versions` create exactly this;
a test compares the two.

Times are float seconds since the epoch. Public ids are random text (see hudhud.ids).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)

metadata = MetaData()

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("phone", String(32), nullable=False, unique=True),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("about", Text, nullable=False, server_default=""),
    Column("created_at", Float, nullable=False),
    Column("read_receipts", Boolean, nullable=False, server_default=true()),
    # who sees my online status and last seen: everyone | contacts | nobody
    Column("last_seen_privacy", String(16), nullable=False, server_default="contacts"),
    Column("last_seen_at", Float, nullable=True),
    # who may add me to groups directly: everyone | contacts | nobody (others send an invitation)
    Column("group_add_privacy", String(16), nullable=False, server_default="contacts"),
    # who sees my phone number beyond those who already have it or whom I wrote to: everyone | contacts | nobody
    Column("phone_privacy", String(16), nullable=False, server_default="contacts"),
    # whose group invitations reach me: everyone | contacts (people in my address book)
    Column("group_invites", String(16), nullable=False, server_default="everyone"),
    # the profile picture: a finished image the user uploaded (media.id), or NULL
    Column("picture", String(32), nullable=True),
    Column("status", String(16), nullable=False, server_default="active"),  # active | suspended
    Column("warnings", Integer, nullable=False, server_default="0"),
    # Set when many people block or report this account in a short time: tighter limits until then.
    Column("throttled_until", Float, nullable=True),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False, index=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("last_active_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

verification_codes = Table(
    "verification_codes",
    metadata,
    Column("phone", String(32), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
)

# One row per code sent, for throttling by number and by client address.
code_sends = Table(
    "code_sends",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("phone", String(32), nullable=False),
    Column("client_ip", String(64), nullable=False),
    Column("sent_at", Float, nullable=False),
    Index("ix_code_sends_phone", "phone", "sent_at"),
    Index("ix_code_sends_ip", "client_ip", "sent_at"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("owner_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("phone", String(32), primary_key=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("added_at", Float, nullable=False),
    Index("ix_contacts_phone", "phone"),
)

# Numbers looked up per account per UTC day, against the discovery budget.
discovery_usage = Table(
    "discovery_usage",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("used", Integer, nullable=False),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(16), nullable=False),  # direct | group | inbox (server notices to one user)
    # For direct chats, "<user id>:<user id>" in sorted order, so that two users share one conversation.
    Column("direct_key", String(80), nullable=True, unique=True),
    Column("last_seq", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    # groups
    Column("subject", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("created_by", String(32), nullable=True),
    Column("only_admins_send", Boolean, nullable=False, server_default=false()),
    Column("only_admins_edit", Boolean, nullable=False, server_default=false()),
    Column("approve_joins", Boolean, nullable=False, server_default=false()),
)

members = Table(
    "members",
    metadata,
    Column("conversation_id", String(32), ForeignKey("conversations.id"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("role", String(16), nullable=False, server_default="member"),
    # The member sees messages with joined_seq < seq (<= left_seq once they have left).
    Column("joined_seq", Integer, nullable=False, server_default="0"),
    Column("left_seq", Integer, nullable=True),
    # Receipt watermarks: some device of this user has everything through delivered_seq; the user has read
    # everything through read_seq.
    Column("delivered_seq", Integer, nullable=False, server_default="0"),
    Column("read_seq", Integer, nullable=False, server_default="0"),
    # In a direct chat: this member has sent a message in it that the other could see (they chose to write to the
    # other, which shows the other their number; withheld messages do not count).
    Column("wrote", Boolean, nullable=False, server_default=false()),
    # In a group: the admin who added this member directly (a complaint from them counts against that admin).
    Column("added_by", String(32), nullable=True),
    Index("ix_members_user", "user_id"),
)

# Per member: how the chat shows in their own list, the same on all their devices (protocol 3.13a). A row exists
# only once the member changed something; no row means not pinned, not archived, not muted.
chat_states = Table(
    "chat_states",
    metadata,
    Column("conversation_id", String(32), ForeignKey("conversations.id"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("pinned_at", Float, nullable=True),  # pinned since; pinned chats sort by it, newest first
    Column("archived", Boolean, nullable=False, server_default=false()),
    Column("muted_until", Float, nullable=True),  # MUTED_ALWAYS (services/chatstate.py) for "always"
    Column("updated_at", Float, nullable=False),
    Index("ix_chat_states_user", "user_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("conversation_id", String(32), ForeignKey("conversations.id"), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("sender_id", String(32), nullable=False),
    Column("sender_device_id", String(32), nullable=False),
    Column("client_msg_id", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    # The opaque payload, stored as the client sent it (JSON text, UTF-8). The server never reads it.
    Column("content", LargeBinary, nullable=False),
    # user | system (group events and notices written by the server)
    Column("kind", String(16), nullable=False, server_default="user"),
    Column("forward_count", Integer, nullable=False, server_default="0"),
    # The recipient of a direct chat has blocked the sender: kept for the sender only, never delivered.
    Column("withheld", Boolean, nullable=False, server_default=false()),
    # First message of a direct chat from someone not in the recipient's contacts.
    Column("stranger", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("sender_device_id", "client_msg_id", name="uq_messages_client_id"),
)

# How far each device has acknowledged each conversation. Catch-up resumes from here.
device_cursors = Table(
    "device_cursors",
    metadata,
    Column("device_id", String(32), ForeignKey("devices.id"), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), primary_key=True),
    Column("acked_seq", Integer, nullable=False),
)

blocks = Table(
    "blocks",
    metadata,
    Column("blocker_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("blocked_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("created_at", Float, nullable=False),
    Index("ix_blocks_blocked", "blocked_id", "created_at"),
)

# Invitations to a group, for people whose privacy setting does not let the admin add them directly.
invitations = Table(
    "invitations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=False),
    Column("inviter_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("invitee_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),  # pending|accepted|declined|revoked
    Index("ix_invitations_invitee", "invitee_id", "status"),
)

invite_links = Table(
    "invite_links",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=False, index=True),
    Column("created_by", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("max_uses", Integer, nullable=True),
    Column("uses", Integer, nullable=False, server_default="0"),
    Column("revoked_at", Float, nullable=True),
)

join_requests = Table(
    "join_requests",
    metadata,
    Column("conversation_id", String(32), ForeignKey("conversations.id"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("link_code", String(32), nullable=True),
    Column("created_at", Float, nullable=False),
)

reports = Table(
    "reports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("reporter_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("target_user_id", String(32), ForeignKey("users.id"), nullable=True, index=True),
    Column("conversation_id", String(32), ForeignKey("conversations.id"), nullable=True),
    Column("reason", Text, nullable=False, server_default=""),
    # The messages the reporter chose to share, copied as they were (JSON list of envelopes).
    Column("evidence", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),  # open | closed
)

broadcast_lists = Table(
    "broadcast_lists",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(32), ForeignKey("users.id"), nullable=False, index=True),
    Column("name", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

broadcast_members = Table(
    "broadcast_members",
    metadata,
    Column("list_id", String(32), ForeignKey("broadcast_lists.id"), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
)

# Per-account daily counters for limits that must hold across restarts and nodes (new chats with strangers).
daily_counters = Table(
    "daily_counters",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("value", Integer, nullable=False),
)

# Contact discovery counted beyond the account: per client address per UTC day ("addr:<address>", day) and for
# the whole service per hour ("all", "YYYY-MM-DDTHH"), so that many accounts on one address share one budget and
# operators hear of a spike.
discovery_counters = Table(
    "discovery_counters",
    metadata,
    Column("scope", String(80), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("used", Integer, nullable=False),
)

# Linking a new device (a browser) to an account, as WhatsApp Web does: the new device asks for a pairing code,
# a device already logged in approves it, and the new device then claims its token with a secret only it holds.
link_requests = Table(
    "link_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("code", String(16), nullable=False, unique=True),  # the pairing code, upper case, no dash
    Column("secret_hash", String(64), nullable=False),  # SHA-256 of the secret the new device keeps
    Column("device_name", Text, nullable=False, server_default=""),
    Column("client_ip", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),  # pending | approved
    Column("user_id", String(32), ForeignKey("users.id"), nullable=True),  # the approving account
    Index("ix_link_requests_ip", "client_ip", "created_at"),
)

# -- media (docs/subsystems/media.md) ---------------------------------------------------------------------------

# One row per upload, whoever else uploaded the same bytes. The id is the unguessable name clients use.
media = Table(
    "media",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("owner_id", String(32), ForeignKey("users.id"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # image | video | voice | audio | document
    Column("status", String(16), nullable=False),  # uploading | storing | ready
    Column("declared_type", String(128), nullable=False, server_default=""),
    Column("file_name", Text, nullable=False, server_default=""),
    # The client encrypted the bytes: the server stores them as they are (no sniffing, thumbnails or stripping).
    Column("encrypted", Boolean, nullable=False, server_default=false()),
    Column("size", BigInteger, nullable=False),  # declared size of the upload
    Column("sha256", String(64), nullable=False),  # declared checksum of the upload
    # How many bytes are durably staged (the sum of the media_parts rows): where the upload resumes.
    Column("staged", BigInteger, nullable=False, server_default="0"),
    # Once finalized: what is stored and served (after metadata stripping, which may change the bytes).
    Column("content_type", String(128), nullable=True),
    Column("blob_size", BigInteger, nullable=True),
    Column("blob_sha256", String(64), nullable=True),
    Column("store_key", String(128), nullable=True, index=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("thumbnail", Boolean, nullable=False, server_default=false()),
    Column("preview", LargeBinary, nullable=True),  # a tiny blurred JPEG, small enough to travel in a message
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("finalized_at", Float, nullable=True),
    Index("ix_media_status_updated", "status", "updated_at"),
)

# The chunks of an upload in progress, each an object of the media store (`upload/…`), so that consecutive chunks
# may reach different nodes. Put together at finalize, then deleted.
media_parts = Table(
    "media_parts",
    metadata,
    Column("media_id", String(32), ForeignKey("media.id"), primary_key=True),
    Column("start", BigInteger, primary_key=True, autoincrement=False),  # the chunk's offset in the upload
    Column("size", BigInteger, nullable=False),
    Column("key", String(128), nullable=False),
)

# Stored objects, by content: identical bytes are stored once whatever the number of uploads.
media_blobs = Table(
    "media_blobs",
    metadata,
    Column("key", String(128), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # stored | deleting
    Column("thumbnail", Boolean, nullable=False, server_default=false()),
    Column("created_at", Float, nullable=False),
)

# Which messages refer to which media: the reference travels beside the opaque payload, and is what lets a
# member of the conversation download the media.
message_media = Table(
    "message_media",
    metadata,
    Column("conversation_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("media_id", String(32), ForeignKey("media.id"), primary_key=True),
    Index("ix_message_media_media", "media_id"),
)
