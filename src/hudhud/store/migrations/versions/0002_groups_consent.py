"""Groups, consent to be added, invitations and links, blocking, reports, broadcast lists, abuse counters.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("group_add_privacy", sa.String(16), nullable=False, server_default="contacts"))
        b.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="active"))
        b.add_column(sa.Column("warnings", sa.Integer, nullable=False, server_default="0"))
        b.add_column(sa.Column("throttled_until", sa.Float, nullable=True))
    with op.batch_alter_table("conversations") as b:
        b.add_column(sa.Column("subject", sa.Text, nullable=False, server_default=""))
        b.add_column(sa.Column("description", sa.Text, nullable=False, server_default=""))
        b.add_column(sa.Column("created_by", sa.String(32), nullable=True))
        b.add_column(sa.Column("only_admins_send", sa.Boolean, nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("only_admins_edit", sa.Boolean, nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("approve_joins", sa.Boolean, nullable=False, server_default=sa.false()))
    with op.batch_alter_table("messages") as b:
        b.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="user"))
        b.add_column(sa.Column("forward_count", sa.Integer, nullable=False, server_default="0"))
        b.add_column(sa.Column("withheld", sa.Boolean, nullable=False, server_default=sa.false()))
        b.add_column(sa.Column("stranger", sa.Boolean, nullable=False, server_default=sa.false()))
    op.create_table(
        "blocks",
        sa.Column("blocker_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("blocked_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_blocks_blocked", "blocks", ["blocked_id", "created_at"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("inviter_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("invitee_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    )
    op.create_index("ix_invitations_invitee", "invitations", ["invitee_id", "status"])
    op.create_table(
        "invite_links",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("created_by", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=True),
        sa.Column("max_uses", sa.Integer, nullable=True),
        sa.Column("uses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_index("ix_invite_links_conversation_id", "invite_links", ["conversation_id"])
    op.create_table(
        "join_requests",
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("link_code", sa.String(32), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("reporter_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("target_user_id", sa.String(32), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("evidence", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    )
    op.create_index("ix_reports_target_user_id", "reports", ["target_user_id"])
    op.create_table(
        "broadcast_lists",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner_id", sa.String(32), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_broadcast_lists_owner_id", "broadcast_lists", ["owner_id"])
    op.create_table(
        "broadcast_members",
        sa.Column("list_id", sa.String(32), sa.ForeignKey("broadcast_lists.id"), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
    )
    op.create_table(
        "daily_counters",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "daily_counters",
        "broadcast_members",
        "broadcast_lists",
        "reports",
        "join_requests",
        "invite_links",
        "invitations",
        "blocks",
    ):
        op.drop_table(table)
    with op.batch_alter_table("messages") as b:
        for col in ("stranger", "withheld", "forward_count", "kind"):
            b.drop_column(col)
    with op.batch_alter_table("conversations") as b:
        for col in ("approve_joins", "only_admins_edit", "only_admins_send", "created_by", "description", "subject"):
            b.drop_column(col)
    with op.batch_alter_table("users") as b:
        for col in ("throttled_until", "warnings", "status", "group_add_privacy"):
            b.drop_column(col)
