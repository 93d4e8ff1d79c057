"""Media: uploads, stored blobs (content-addressed, stored once) and the messages that refer to them.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "media",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("declared_type", sa.String(128), nullable=False, server_default=""),
        sa.Column("file_name", sa.Text, nullable=False, server_default=""),
        sa.Column("encrypted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=True),
        sa.Column("blob_size", sa.BigInteger, nullable=True),
        sa.Column("blob_sha256", sa.String(64), nullable=True),
        sa.Column("store_key", sa.String(128), nullable=True),
        sa.Column("width", sa.Integer, nullable=True),
        sa.Column("height", sa.Integer, nullable=True),
        sa.Column("thumbnail", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("preview", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("finalized_at", sa.Float, nullable=True),
    )
    op.create_index("ix_media_owner_id", "media", ["owner_id"])
    op.create_index("ix_media_store_key", "media", ["store_key"])
    op.create_index("ix_media_status_updated", "media", ["status", "updated_at"])
    op.create_table(
        "media_blobs",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("thumbnail", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "message_media",
        sa.Column("conversation_id", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("media_id", sa.String(32), sa.ForeignKey("media.id"), primary_key=True),
    )
    op.create_index("ix_message_media_media", "message_media", ["media_id"])


def downgrade() -> None:
    op.drop_table("message_media")
    op.drop_table("media_blobs")
    op.drop_table("media")
