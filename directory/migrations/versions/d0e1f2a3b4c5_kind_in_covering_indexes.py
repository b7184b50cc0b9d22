"""kind (and, for radius searches, designated and source) in the covering indexes: since
searches leave out the kinds that do not treat cancer by default and place searches are
ordered by best match, every search reads kind, and a radius search designated and source
too; without them in the index each candidate row was read from the table (the 1M-center
PostgreSQL radius and deep-page searches became 3-5 times slower)

Revision ID: d0e1f2a3b4c5
Revises: c9d0e1f2a3b4
Create Date: 2026-12-06 07:30:00

"""
from alembic import op

revision = 'd0e1f2a3b4c5'
down_revision = 'c9d0e1f2a3b4'
branch_labels = None
depends_on = None

NEW = {
    "ix_center_geo_cell_cover": "geo_cell, latitude, longitude, status, kind, modality_mask, "
                                "designated, country, name_folded, source, id",
    "ix_center_country_name_cover": "country, name_folded, id, status, kind, modality_mask",
    "ix_center_name_cover": "name_folded, id, status, kind, modality_mask",
}
OLD = {
    "ix_center_geo_cell_cover": "geo_cell, latitude, longitude, status, modality_mask, "
                                "country, name_folded, id",
    "ix_center_country_name_cover": "country, name_folded, id, status, modality_mask",
    "ix_center_name_cover": "name_folded, id, status, modality_mask",
}


def _replace(columns: dict[str, str]) -> None:
    for name, cover in columns.items():
        op.execute(f"DROP INDEX {name}")
        op.execute(f"CREATE INDEX {name} ON center ({cover})")


def upgrade():
    _replace(NEW)


def downgrade():
    _replace(OLD)
