"""import jobs: previews and confirms of web imports run as background jobs (issue 15);
the preview of a pending import is kept with it (computed once)

Revision ID: db32a5af3e0c
Revises: a4c9e2f7b1d3
Create Date: 2026-12-06 09:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'db32a5af3e0c'
down_revision = 'a4c9e2f7b1d3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("pending_import") as batch:
        batch.add_column(sa.Column("preview", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("rejected_csv", sa.LargeBinary(), nullable=True))
    op.create_table(
        "import_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user", sa.String(254), nullable=False),
        sa.Column("pending_id", sa.Integer(),
                  sa.ForeignKey("pending_import.id", ondelete="SET NULL",
                                name="fk_import_job_pending_id_pending_import"),
                  nullable=True),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_import_job"),
        sa.UniqueConstraint("token", name="uq_import_job_token"),
    )
    op.create_index("ix_import_job_pending_id", "import_job", ["pending_id"])


def downgrade():
    op.drop_index("ix_import_job_pending_id", table_name="import_job")
    op.drop_table("import_job")
    with op.batch_alter_table("pending_import") as batch:
        batch.drop_column("rejected_csv")
        batch.drop_column("preview")
