"""designated flag for relevance ranking

``center.designated`` is true while the center holds at least one designation. Triggers on
``center_designation`` keep it (insert, delete, a row moved to another center), whatever
writes: the ORM, the bulk importer or plain SQL. Relevance ranking puts designated centers
first, so the first page of a text search can be found among them (plus exact name
matches) without ranking every match; PostgreSQL gets a partial GIN index of their
search text for that. Plain ALTER TABLE, not a batch migration: re-creating ``center`` on
SQLite would drop its full-text and data-version triggers.

Revision ID: e5f2a9c1d3b4
Revises: d7a3c5e8f1b2
Create Date: 2026-11-29 21:50:00

"""
from alembic import op


revision = 'e5f2a9c1d3b4'
down_revision = 'd7a3c5e8f1b2'
branch_labels = None
depends_on = None

# Keep in step with directory.search.PG_TSVECTOR.
PG_TSVECTOR = ("to_tsvector('simple'::regconfig, "
               "regexp_replace(search_text, '[^[:alnum:]]+', ' ', 'g'))")
HOLDS = "EXISTS (SELECT 1 FROM center_designation cd WHERE cd.center_id = {0})"


def upgrade():
    dialect = op.get_bind().dialect.name
    op.execute("ALTER TABLE center ADD COLUMN designated BOOLEAN NOT NULL DEFAULT false")
    op.execute(f"UPDATE center SET designated = true WHERE {HOLDS.format('center.id')}")
    if dialect == "postgresql":
        # Each branch locks the center row first, then recomputes in a new statement: in
        # READ COMMITTED (the app's isolation) that statement takes a fresh snapshot, so
        # two transactions writing the same center's designations at once (an import and
        # a merge) wait for each other and the second sees what the first committed.
        op.execute(f"""
            CREATE OR REPLACE FUNCTION center_designated_sync() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP IN ('INSERT', 'UPDATE') THEN
                    PERFORM 1 FROM center WHERE id = NEW.center_id FOR NO KEY UPDATE;
                    UPDATE center SET designated = true
                    WHERE id = NEW.center_id AND NOT designated;
                END IF;
                IF TG_OP IN ('DELETE', 'UPDATE') THEN
                    PERFORM 1 FROM center WHERE id = OLD.center_id FOR NO KEY UPDATE;
                    UPDATE center SET designated = {HOLDS.format('OLD.center_id')}
                    WHERE id = OLD.center_id;
                END IF;
                RETURN NULL;
            END $$""")
        op.execute("CREATE TRIGGER center_designation_designated AFTER INSERT OR DELETE OR "
                   "UPDATE OF center_id ON center_designation FOR EACH ROW "
                   "EXECUTE FUNCTION center_designated_sync()")
        op.execute(f"CREATE INDEX ix_center_search_tsv_designated ON center USING gin "
                   f"({PG_TSVECTOR}) WHERE designated")
    else:
        op.execute("""CREATE TRIGGER center_designation_designated_insert AFTER INSERT ON
            center_designation BEGIN
            UPDATE center SET designated = 1 WHERE id = new.center_id AND NOT designated;
            END""")
        op.execute(f"""CREATE TRIGGER center_designation_designated_delete AFTER DELETE ON
            center_designation BEGIN
            UPDATE center SET designated = {HOLDS.format('old.center_id')}
            WHERE id = old.center_id;
            END""")
        op.execute(f"""CREATE TRIGGER center_designation_designated_update AFTER UPDATE OF
            center_id ON center_designation BEGIN
            UPDATE center SET designated = 1 WHERE id = new.center_id AND NOT designated;
            UPDATE center SET designated = {HOLDS.format('old.center_id')}
            WHERE id = old.center_id;
            END""")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_center_search_tsv_designated")
        op.execute("DROP TRIGGER IF EXISTS center_designation_designated ON center_designation")
        op.execute("DROP FUNCTION IF EXISTS center_designated_sync()")
    else:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS center_designation_designated_{event}")
    op.execute("ALTER TABLE center DROP COLUMN designated")
