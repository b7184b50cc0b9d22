"""suggested updates: what visitors say about a center (no account), one row per
suggestion and one per proposed change, waiting for an editor's review

Revision ID: 753a3a4b0094
Revises: d0e1f2a3b4c5
Create Date: 2026-12-06 09:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '753a3a4b0094'
down_revision = 'd0e1f2a3b4c5'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "suggestion",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("center_name", sa.String(300), nullable=False),
        sa.Column("reporter_role", sa.String(16), nullable=False),
        sa.Column("email", sa.String(254)),
        sa.Column("comment", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(254)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("reviewed_on", sa.Date()),
        sa.Column("reason", sa.Text()),
        sa.UniqueConstraint("token", name="uq_suggestion_token"),
    )
    op.create_index("ix_suggestion_center_id", "suggestion", ["center_id"])
    op.create_index("ix_suggestion_status", "suggestion", ["status"])
    op.create_table(
        "suggestion_item",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("suggestion_id", sa.Integer(),
                  sa.ForeignKey("suggestion.id", ondelete="CASCADE",
                                name="fk_suggestion_item_suggestion_id_suggestion"),
                  nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("link", sa.String(500)),
        sa.Column("outcome", sa.String(16)),
        sa.Column("accepted_value", sa.Text()),
    )
    op.create_index("ix_suggestion_item_suggestion_id", "suggestion_item", ["suggestion_id"])


def downgrade():
    op.drop_table("suggestion_item")
    op.drop_table("suggestion")
