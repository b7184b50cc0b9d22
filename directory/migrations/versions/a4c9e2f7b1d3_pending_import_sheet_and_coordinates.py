"""Pending imports keep the workbook sheet chosen and whether the admin confirmed the
file's coordinates where they contradict the address (issue 15).

Revision ID: a4c9e2f7b1d3
Revises: 753a3a4b0094
"""

import sqlalchemy as sa
from alembic import op

revision = 'a4c9e2f7b1d3'
down_revision = '753a3a4b0094'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("pending_import") as batch:
        batch.add_column(sa.Column("sheet", sa.String(100), nullable=True))
        batch.add_column(sa.Column("keep_coordinates", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("pending_import") as batch:
        batch.drop_column("keep_coordinates")
        batch.drop_column("sheet")
