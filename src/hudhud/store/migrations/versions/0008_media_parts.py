"""Uploads staged in the media store, chunk by chunk, so that the chunks of one upload may reach different nodes.

Uploads in progress when this runs were staged as files in one node's data directory: they start again from
byte 0 (their old staging files are left for the operator to remove from data_dir/media/uploads).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("media", sa.Column("staged", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "media_parts",
        sa.Column("media_id", sa.String(32), sa.ForeignKey("media.id"), primary_key=True),
        sa.Column("start", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("media_parts")
    with op.batch_alter_table("media") as batch:
        batch.drop_column("staged")
