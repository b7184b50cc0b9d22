"""initials in the search text: a center named "M.D. Anderson" (folded "m d anderson") is
also found by "MD Anderson", and the other way round (search_text gains the joined word)

Recomputes center.search_text where the new rule changes it (names with runs of single
letters); the full-text indexes follow (SQLite triggers, PostgreSQL's expression index).
The downgrade leaves the extra words: the old code's search still works with them.

Revision ID: c9d0e1f2a3b4
Revises: b8c9d0e1f2a3
Create Date: 2026-12-06 07:10:00

"""
import sqlalchemy as sa
from alembic import op

from directory.models.hooks import search_text_of

revision = 'c9d0e1f2a3b4'
down_revision = 'b8c9d0e1f2a3'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT c.id, c.name, c.alternate_names, o.name, c.search_text FROM center c "
        "LEFT JOIN organization o ON o.id = c.organization_id")).all()
    changed = [{"id": cid, "text": wanted} for cid, name, alternate, organization, current
               in rows
               if (wanted := search_text_of(name, alternate, organization)) != current]
    if changed:
        bind.execute(sa.text("UPDATE center SET search_text = :text WHERE id = :id"), changed)


def downgrade():
    pass
