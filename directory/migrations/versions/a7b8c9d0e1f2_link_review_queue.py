"""link review queue: pairs of centers the linker scored between its review and link
thresholds, waiting for a person (open, merged or rejected)

Revision ID: a7b8c9d0e1f2
Revises: f1a2b3c4d5e6
Create Date: 2026-12-06 03:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'a7b8c9d0e1f2'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "link_review",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("other_center_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("import_run_id", sa.Integer()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(254)),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("center_id", "other_center_id", name="uq_link_review_center_id"),
    )
    op.create_index("ix_link_review_center_id", "link_review", ["center_id"])
    op.create_index("ix_link_review_other_center_id", "link_review", ["other_center_id"])
    op.create_index("ix_link_review_status", "link_review", ["status"])


def downgrade():
    op.drop_table("link_review")
