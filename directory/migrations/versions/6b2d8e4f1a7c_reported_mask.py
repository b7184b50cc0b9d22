"""center.reported_mask: the modality bits of the claims a source reports (provenance
"reported"), ancestors included, beside modality_mask (every claim); in the covering
indexes. The best-match order of a treatment search puts the centers a source reports the
treatment for before those it is only inferred for; it used to ask a subquery of
center_modality for every candidate row (15 of the 19 ms of the 1M-center radius search).

Revision ID: 6b2d8e4f1a7c
Revises: 5e7c1a9b3d42
Create Date: 2026-12-06 13:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '6b2d8e4f1a7c'
down_revision = '5e7c1a9b3d42'
branch_labels = None
depends_on = None

NEW = {
    "ix_center_geo_cell_cover": "geo_cell, latitude, longitude, status, kind, modality_mask, "
                                "reported_mask, designated, country, name_folded, source, id",
    "ix_center_country_name_cover": "country, name_folded, id, status, kind, modality_mask, "
                                    "reported_mask",
    "ix_center_name_cover": "name_folded, id, status, kind, modality_mask, reported_mask",
}
OLD = {
    "ix_center_geo_cell_cover": "geo_cell, latitude, longitude, status, kind, modality_mask, "
                                "designated, country, name_folded, source, id",
    "ix_center_country_name_cover": "country, name_folded, id, status, kind, modality_mask",
    "ix_center_name_cover": "name_folded, id, status, kind, modality_mask",
}


def _create(columns: dict[str, str]) -> None:
    for name, cover in columns.items():
        op.execute(f"CREATE INDEX {name} ON center ({cover})")


def _drop(columns: dict[str, str]) -> None:
    for name in columns:
        op.execute(f"DROP INDEX {name}")


def _modality_masks(conn) -> dict[int, int]:
    """Modality id -> its bit (1 << position, as directory.vocabulary.Vocabulary.bit) OR
    its ancestors' bits, from the modality table alone (not the app's vocabulary module,
    which may have moved on since this revision)."""
    rows = {mid: (position, parent) for mid, position, parent in conn.execute(
        sa.text("SELECT id, position, parent_id FROM modality"))}
    masks = {}
    for mid in rows:
        mask, current, seen = 0, mid, set()
        while current is not None and current in rows and current not in seen:
            seen.add(current)
            position, parent = rows[current]
            mask |= 1 << position
            current = parent
        masks[mid] = mask
    return masks


def upgrade():
    # Plain ALTER TABLE on both dialects (no batch copy of the table on SQLite, which would
    # drop its triggers: full-text index, data version, designated flag).
    op.add_column('center', sa.Column('reported_mask', sa.BigInteger(), server_default='0',
                                      nullable=False))
    _drop(OLD)  # before the update: three fewer indexes to write for each center
    conn = op.get_bind()
    # One statement per modality (a dozen): each reported claim's bits OR-ed in.
    for modality_id, mask in _modality_masks(conn).items():
        conn.execute(sa.text(
            "UPDATE center SET reported_mask = reported_mask | :mask WHERE id IN "
            "(SELECT center_id FROM center_modality WHERE modality_id = :modality_id "
            "AND provenance = 'reported')"), {"mask": mask, "modality_id": modality_id})
    _create(NEW)


def downgrade():
    _drop(NEW)
    _create(OLD)
    op.execute("ALTER TABLE center DROP COLUMN reported_mask")  # SQLite >= 3.35 too
