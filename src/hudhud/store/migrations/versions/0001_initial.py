"""Accounts, devices, verification codes, contacts, one-to-one conversations, messages and cursors.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("phone", sa.String(32), nullable=False, unique=True),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("about", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("read_receipts", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("last_seen_privacy", sa.String(16), nullable=False, server_default="contacts"),
        sa.Column("last_seen_at", sa.Float, nullable=True),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_active_at", sa.Float, nullable=True),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    op.create_table(
        "verification_codes",
        sa.Column("phone", sa.String(32), primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "code_sends",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone", sa.String(32), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("sent_at", sa.Float, nullable=False),
    )
    op.create_index("ix_code_sends_phone", "code_sends", ["phone", "sent_at"])
    op.create_index("ix_code_sends_ip", "code_sends", ["client_ip", "sent_at"])
    op.create_table(
        "contacts",
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("phone", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text, nullable=False, server_default=""),
        sa.Column("added_at", sa.Float, nullable=False),
    )
    op.create_index("ix_contacts_phone", "contacts", ["phone"])
    op.create_table(
        "discovery_usage",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("used", sa.Integer, nullable=False),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("direct_key", sa.String(80), nullable=True, unique=True),
        sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "members",
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False, server_default="member"),
        sa.Column("joined_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("left_seq", sa.Integer, nullable=True),
        sa.Column("delivered_seq", sa.Integer, nullable=False, server_default="0"),
        sa.Column("read_seq", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_members_user", "members", ["user_id"])
    op.create_table(
        "messages",
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sender_id", sa.String(32), nullable=False),
        sa.Column("sender_device_id", sa.String(32), nullable=False),
        sa.Column("client_msg_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("sender_device_id", "client_msg_id", name="uq_messages_client_id"),
    )
    op.create_table(
        "device_cursors",
        sa.Column("device_id", sa.String(32), sa.ForeignKey("devices.id"), primary_key=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), primary_key=True),
        sa.Column("acked_seq", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "device_cursors",
        "messages",
        "members",
        "conversations",
        "discovery_usage",
        "contacts",
        "code_sends",
        "verification_codes",
        "devices",
        "users",
    ):
        op.drop_table(table)
