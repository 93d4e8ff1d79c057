"""Relationships for consent: who wrote to whom, who added whom, who may see my number or invite me, and
discovery counted per client address and for the whole service.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone_privacy", sa.String(16), nullable=False, server_default="contacts"))
        batch.add_column(sa.Column("group_invites", sa.String(16), nullable=False, server_default="everyone"))
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("wrote", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("added_by", sa.String(32), nullable=True))
    # What existing data already says: a member of a direct chat "wrote" if they sent a message in it, and the
    # direct chat was started by the sender of its first message.
    op.execute(
        """
        UPDATE members SET wrote = TRUE
        WHERE conversation_id IN (SELECT id FROM conversations WHERE kind = 'direct')
          AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = members.conversation_id
                      AND m.sender_id = members.user_id AND m.kind = 'user' AND m.withheld = FALSE)
        """
    )
    op.execute(
        """
        UPDATE conversations SET created_by = (
            SELECT m.sender_id FROM messages m WHERE m.conversation_id = conversations.id ORDER BY m.seq LIMIT 1)
        WHERE kind = 'direct' AND created_by IS NULL
        """
    )
    op.create_table(
        "discovery_counters",
        sa.Column("scope", sa.String(80), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("used", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("discovery_counters")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("added_by")
        batch.drop_column("wrote")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("group_invites")
        batch.drop_column("phone_privacy")
