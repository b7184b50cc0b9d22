"""source records: one center, many sources

``source_record`` keeps every imported row of every source (its values as read, the
dataset's date, the import run) linked into the center it describes; ``center.field_sources``
says which record each shown field came from when it is not the center's first one;
``change_record.record_id`` names the record an import created or changed (what a revert
restores). Existing centers get one record each, holding their current values, from their
``source`` and ``external_id``: ids, and so URLs, stay. Plain ALTER TABLE (a batch
re-creation of ``center`` on SQLite would drop its full-text and data-version triggers).

Revision ID: f1a2b3c4d5e6
Revises: e5f2a9c1d3b4
Create Date: 2026-12-06 03:00:00

"""
import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

revision = 'f1a2b3c4d5e6'
down_revision = 'e5f2a9c1d3b4'
branch_labels = None
depends_on = None

# The fields a record holds (directory.curation.resolve.RECORD_FIELDS at this revision).
FIELDS = ("name", "kind", "address", "city", "region", "postal_code", "country", "latitude",
          "longitude", "geocode_precision", "phone", "website", "email", "status",
          "description", "alternate_names")


def _dataset_date(as_of, fallback):
    """``"2024-11-06"``, ``"2014-11"`` or ``"2025"`` as a date (the first day of a month or
    year given alone); else ``fallback``."""
    text = (as_of or "").strip()
    for fmt, size in (("%Y-%m-%d", 10), ("%Y-%m", 7), ("%Y", 4)):
        try:
            return dt.datetime.strptime(text[:size], fmt).date()
        except ValueError:
            continue
    return fallback


def upgrade():
    op.create_table(
        "source_record",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("center_id", sa.Integer(), sa.ForeignKey(
            "center.id", name="fk_source_record_center_id_center", ondelete="CASCADE"),
            nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(128)),
        sa.Column("natural_key", sa.String(400), nullable=False),
        sa.Column("values", sa.Text(), nullable=False),
        sa.Column("dataset_date", sa.Date()),
        sa.Column("import_run_id", sa.Integer()),
        sa.Column("link_rule", sa.String(40), nullable=False),
        sa.Column("link_score", sa.Float()),
        sa.Column("link_reason", sa.Text()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("source", "external_id", name="uq_source_record_source"),
    )
    op.create_index("ix_source_record_center_id", "source_record", ["center_id"])
    op.create_index("ix_source_record_source_natural_key", "source_record",
                    ["source", "natural_key"])
    op.execute("ALTER TABLE center ADD COLUMN field_sources TEXT")
    op.execute("ALTER TABLE change_record ADD COLUMN record_id INTEGER")
    op.create_index("ix_change_record_record_id", "change_record", ["record_id"])

    bind = op.get_bind()
    as_of = dict(bind.execute(sa.text("SELECT slug, as_of FROM data_source")).all())
    record = sa.table("source_record", *(sa.column(c) for c in (
        "center_id", "source", "external_id", "natural_key", "values", "dataset_date",
        "import_run_id", "link_rule", "updated_at")))
    columns = ", ".join(f"c.{f}" for f in FIELDS)
    result = bind.execute(sa.text(
        f"SELECT c.id, c.source, c.external_id, c.natural_key, c.updated_at, o.name, "
        f"{columns} FROM center c LEFT JOIN organization o ON o.id = c.organization_id "
        f"ORDER BY c.id"))
    now = dt.datetime.now(dt.UTC)
    while True:
        rows = result.fetchmany(5000)
        if not rows:
            break
        batch = []
        for cid, source, external_id, natural_key, updated_at, organization, *values in rows:
            data = {f: v for f, v in zip(FIELDS, values) if v is not None}
            if organization:
                data["organization"] = organization
            updated = updated_at if isinstance(updated_at, dt.datetime) else None
            batch.append({"center_id": cid, "source": source, "external_id": external_id,
                          "natural_key": natural_key,
                          "values": json.dumps(data, sort_keys=True, ensure_ascii=False),
                          "dataset_date": _dataset_date(as_of.get(source),
                                                        updated.date() if updated else None),
                          "import_run_id": None, "link_rule": "first", "updated_at": now})
        op.bulk_insert(record, batch)


def downgrade():
    op.drop_index("ix_change_record_record_id", table_name="change_record")
    with op.batch_alter_table("change_record") as batch:
        batch.drop_column("record_id")
    op.execute("ALTER TABLE center DROP COLUMN field_sources")
    op.drop_table("source_record")
