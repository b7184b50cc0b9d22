"""A session token per admin account (Flask-Login's alternative id): replaced at sign-out,
password change and deactivation, so sessions made before stop working (issue 15 item 6)

Revision ID: 5e7c1a9b3d42
Revises: db32a5af3e0c
Create Date: 2026-12-06 09:30:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '5e7c1a9b3d42'
down_revision = 'db32a5af3e0c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(sa.Column("session_token", sa.String(64), nullable=True))
    conn = op.get_bind()
    users = sa.table("app_user", sa.column("id", sa.Integer),
                     sa.column("session_token", sa.String))
    for (user_id,) in conn.execute(sa.select(users.c.id)).all():
        conn.execute(users.update().where(users.c.id == user_id)
                     .values(session_token=secrets.token_hex(32)))
    with op.batch_alter_table("app_user") as batch:
        batch.alter_column("session_token", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_app_user_session_token", ["session_token"])


def downgrade():
    with op.batch_alter_table("app_user") as batch:
        batch.drop_constraint("uq_app_user_session_token", type_="unique")
        batch.drop_column("session_token")
