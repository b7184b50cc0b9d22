"""grid cell for radius searches

A generated ``center.geo_cell`` (the 1-degree grid cell of the coordinates, see
directory.geo.grid_cell) and a covering index led by it, replacing the
latitude-led one: a radius search reads the cells its bounding box touches instead of a
band of latitude round the world (at 1M centers, New York's 100 km band held ~60k rows).
Plain ALTER TABLE, not a batch migration: re-creating ``center`` on SQLite would drop its
full-text and data-version triggers.

Revision ID: d7a3c5e8f1b2
Revises: c4e1f0a2b9d7
Create Date: 2026-11-29 19:25:00

"""
from alembic import op


revision = 'd7a3c5e8f1b2'
down_revision = 'c4e1f0a2b9d7'
branch_labels = None
depends_on = None

# Copied from directory.geo.GRID_CELL_SQL (migrations do not import the app).
GRID_CELL_SQL = {
    "sqlite": "CAST(latitude + 90 AS INTEGER) * 361 + CAST(longitude + 180 AS INTEGER)",
    "postgresql": "CAST(floor(latitude + 90) * 361 + floor(longitude + 180) AS INTEGER)",
}
COVER = "geo_cell, latitude, longitude, status, modality_mask, country, name_folded, id"


def upgrade():
    dialect = op.get_bind().dialect.name
    stored = "STORED" if dialect == "postgresql" else "VIRTUAL"  # SQLite adds only VIRTUAL
    op.execute(f"ALTER TABLE center ADD COLUMN geo_cell INTEGER GENERATED ALWAYS AS "
               f"({GRID_CELL_SQL[dialect]}) {stored}")
    op.execute(f"CREATE INDEX ix_center_geo_cell_cover ON center ({COVER})")
    op.execute("DROP INDEX ix_center_lat_lon_cover")


def downgrade():
    op.execute("CREATE INDEX ix_center_lat_lon_cover ON center (latitude, longitude, status, "
               "modality_mask, country, name_folded, id)")
    op.execute("DROP INDEX ix_center_geo_cell_cover")
    op.execute("ALTER TABLE center DROP COLUMN geo_cell")
