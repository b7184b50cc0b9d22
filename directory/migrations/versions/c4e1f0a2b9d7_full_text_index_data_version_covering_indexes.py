"""full-text index for q, data version for the search cache, covering indexes

SQLite: an FTS5 table over ``center.search_text`` (external content, kept by triggers).
PostgreSQL: a GIN index on the tsvector of ``search_text`` with punctuation turned into
spaces (the expression ``directory.search`` queries). Both dialects: a one-row
``data_version`` table bumped by triggers on ``center`` and ``center_designation`` (row
triggers on SQLite, statement triggers on PostgreSQL), and covering indexes for the radius,
country and name-ordered searches.

Revision ID: c4e1f0a2b9d7
Revises: 87d17bf1565b
Create Date: 2026-11-29 19:05:00

"""
import secrets

from alembic import op
import sqlalchemy as sa


revision = 'c4e1f0a2b9d7'
down_revision = '87d17bf1565b'
branch_labels = None
depends_on = None

# Keep in step with directory.search.PG_TSVECTOR.
PG_TSVECTOR = ("to_tsvector('simple'::regconfig, "
               "regexp_replace(search_text, '[^[:alnum:]]+', ' ', 'g'))")
VERSIONED = ("center", "center_designation")


def upgrade():
    op.create_table(
        'data_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_data_version')))
    # A random start: app processes cache search counts by (database URL, version), so a
    # database dropped and re-created at the same URL must not repeat the old versions.
    op.execute(f"INSERT INTO data_version (id, version) VALUES (1, {secrets.randbelow(2**48)})")

    with op.batch_alter_table('center', schema=None) as batch_op:
        batch_op.drop_index('ix_center_lat_lon')
        batch_op.drop_index('ix_center_country_name_status_mask')
        batch_op.drop_index('ix_center_name_folded')
        batch_op.create_index('ix_center_lat_lon_cover', ['latitude', 'longitude', 'status',
                              'modality_mask', 'country', 'name_folded', 'id'], unique=False)
        batch_op.create_index('ix_center_country_name_cover', ['country', 'name_folded', 'id',
                              'status', 'modality_mask'], unique=False)
        batch_op.create_index('ix_center_name_cover', ['name_folded', 'id', 'status',
                              'modality_mask'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_center_search_tsv ON center USING gin ({PG_TSVECTOR})")
        op.execute("""
            CREATE OR REPLACE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE data_version SET version = version + 1 WHERE id = 1;
                RETURN NULL;
            END $$""")
        for table in VERSIONED:
            op.execute(f"CREATE TRIGGER {table}_data_version AFTER INSERT OR UPDATE OR DELETE "
                       f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION bump_data_version()")
    else:
        op.execute("CREATE VIRTUAL TABLE center_fts USING fts5(search_text, content='center', "
                   "content_rowid='id', tokenize='unicode61 remove_diacritics 2')")
        op.execute("INSERT INTO center_fts(center_fts) VALUES ('rebuild')")
        op.execute("""CREATE TRIGGER center_fts_insert AFTER INSERT ON center BEGIN
            INSERT INTO center_fts(rowid, search_text) VALUES (new.id, new.search_text);
            END""")
        op.execute("""CREATE TRIGGER center_fts_delete AFTER DELETE ON center BEGIN
            INSERT INTO center_fts(center_fts, rowid, search_text)
                VALUES ('delete', old.id, old.search_text);
            END""")
        op.execute("""CREATE TRIGGER center_fts_update AFTER UPDATE OF search_text ON center
            BEGIN
            INSERT INTO center_fts(center_fts, rowid, search_text)
                VALUES ('delete', old.id, old.search_text);
            INSERT INTO center_fts(rowid, search_text) VALUES (new.id, new.search_text);
            END""")
        for table in VERSIONED:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_data_version_{event.lower()} AFTER {event} "
                           f"ON {table} BEGIN UPDATE data_version SET version = version + 1 "
                           f"WHERE id = 1; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in VERSIONED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_data_version()")
        op.execute("DROP INDEX IF EXISTS ix_center_search_tsv")
    else:
        for table in VERSIONED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_data_version_{event}")
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS center_fts_{name}")
        op.execute("DROP TABLE IF EXISTS center_fts")

    with op.batch_alter_table('center', schema=None) as batch_op:
        batch_op.drop_index('ix_center_name_cover')
        batch_op.drop_index('ix_center_country_name_cover')
        batch_op.drop_index('ix_center_lat_lon_cover')
        batch_op.create_index('ix_center_name_folded', ['name_folded'], unique=False)
        batch_op.create_index('ix_center_country_name_status_mask', ['country', 'name_folded',
                              'status', 'modality_mask'], unique=False)
        batch_op.create_index('ix_center_lat_lon', ['latitude', 'longitude'], unique=False)
    op.drop_table('data_version')
