"""the dataset date of a record before an import changed its values, in that change's audit
record (change_record.before_date): a revert of the import gives it back with the values

Changes recorded before this revision have none; a revert of one of them leaves the
record's date as it is (as it always did).

Revision ID: b8c9d0e1f2a3
Revises: a7b8c9d0e1f2
Create Date: 2026-12-06 07:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'b8c9d0e1f2a3'
down_revision = 'a7b8c9d0e1f2'
branch_labels = None
depends_on = None


def upgrade():
    # A plain ADD COLUMN on both dialects (no batch: a "move and copy" of change_record is
    # not needed for a nullable column).
    op.add_column("change_record", sa.Column("before_date", sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table("change_record", schema=None) as batch_op:
        batch_op.drop_column("before_date")
