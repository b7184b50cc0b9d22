"""Migrations that compute data: run down and up again over rows, on a SQLite file of
their own (the suite's database is migrated once, empty)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from directory import create_app
from directory.catalog import sync_vocabulary
from directory.extensions import db
from directory.models import Center, CenterModality, DataSource, Modality
from directory.vocabulary import load_vocabulary


def test_reported_mask_is_backfilled_from_the_reported_claims(tmp_path):
    """Revision 6b2d8e4f1a7c adds ``center.reported_mask`` and fills it from the claims of
    provenance ``reported`` (ancestors' bits included), as the flush hook would; inferred
    claims set no bit. Down and up again gives the hook's values back."""
    from flask_migrate import downgrade, upgrade

    app = create_app({"TESTING": True, "SECRET_KEY": "test",
                      "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/m.sqlite"})
    with app.app_context():
        upgrade()
        sync_vocabulary(db.session)
        db.session.add(DataSource(slug="t", name="t"))
        modality = {m.slug: m for m in db.session.scalars(sa.select(Modality))}
        day = dt.date(2026, 1, 1)
        wanted = {}
        for name, claims in (("Reported SBRT", [("sbrt", "reported")]),
                             ("Inferred chemo", [("chemotherapy", "inferred")]),
                             ("Both", [("chemotherapy", "reported"),
                                       ("immunotherapy", "inferred")]),
                             ("None", [])):
            center = Center(name=name, source="t", natural_key=name, city="X", country="US")
            center.modalities = [CenterModality(modality=modality[slug], provenance=p,
                                                source="t", verified_on=day)
                                 for slug, p in claims]
            db.session.add(center)
            db.session.flush()
            wanted[name] = center.reported_mask
        db.session.commit()
        vocabulary = load_vocabulary()
        assert wanted["Reported SBRT"] == vocabulary.mask(["sbrt"])
        assert wanted["Reported SBRT"] & vocabulary.bit("radiation-therapy")  # the parent's
        assert wanted["Inferred chemo"] == 0 and wanted["None"] == 0
        assert wanted["Both"] == vocabulary.mask(["chemotherapy"])
        db.session.remove()
        triggers_before = _center_triggers()

        downgrade(revision="5e7c1a9b3d42")
        with db.engine.connect() as conn:
            assert "reported_mask" not in {c["name"] for c in sa.inspect(conn)
                                           .get_columns("center")}
        upgrade()
        got = dict(db.session.execute(sa.select(Center.name, Center.reported_mask)).all())
        assert got == wanted
        assert _center_triggers() == triggers_before  # they survive (no table copy)
        assert triggers_before
        db.session.remove()
        db.engine.dispose()


def _center_triggers() -> list[str]:
    with db.engine.connect() as conn:
        return sorted(conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'center'"
        ).scalars())
