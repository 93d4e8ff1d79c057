"""Linking a new device with a pairing code approved by a device already logged in.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(16), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("device_name", sa.Text, nullable=False, server_default=""),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_index("ix_link_requests_ip", "link_requests", ["client_ip", "created_at"])


def downgrade() -> None:
    op.drop_table("link_requests")
