"""Shared fixtures: one database per test session (SQLite file, or PostgreSQL when
``TEST_DATABASE_URL`` is set), migrated with Alembic once and emptied before each test;
one offline gazetteer shared by every test and the app."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from directory import create_app
from directory.catalog import sync_vocabulary
from directory.config import normalise_database_url
from directory.extensions import db as _db
from directory.geo import OfflineGeocoder
from directory.models import Base

ROOT = Path(__file__).resolve().parent.parent
GAZETTEER_PATH = ROOT / "instance" / "gazetteer.sqlite"
CASES = ROOT / "tests" / "data" / "cases"
DATA = ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def database_url():
    """The test database: ``TEST_DATABASE_URL`` or a fresh SQLite file."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield normalise_database_url(url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/test.sqlite"


@pytest.fixture(scope="session")
def geocoder():
    """The offline geocoder (gazetteer built on first use, ~15 s, then reused)."""
    g = OfflineGeocoder(GAZETTEER_PATH)
    yield g
    g.close()


@pytest.fixture(scope="session")
def _migrated(database_url, geocoder):
    """Drop everything in the test database, then run the Alembic migrations."""
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                      "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test"})
    with app.app_context():
        engine = _db.engine
        with engine.begin() as conn:  # every table there, including ones dropped since
            existing = sa.MetaData()
            existing.reflect(conn)
            existing.drop_all(conn)
        upgrade()
        _db.session.remove()
    return app


@pytest.fixture
def app(_migrated, database_url, geocoder):
    """An app on the migrated test database, emptied, with the vocabulary loaded."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                      "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test",
                      "WTF_CSRF_ENABLED": False})
    app.extensions["geocoder"] = geocoder
    with app.app_context():
        empty_database()
        sync_vocabulary(_db.session)
        _db.session.commit()
        yield app
        _db.session.remove()


def empty_database() -> None:
    """Delete every row (children first) and commit; the one ``data_version`` row stays
    (the triggers bump it, so cached search counts of the deleted rows are never reused)."""
    with _db.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name != "data_version":
                conn.execute(table.delete())


def seeded_app(database_url, geocoder):
    """A context manager: an app on the test database holding the real starter data
    (``flask seed``), yielding ``(app, seed output)``; empties the database after."""
    import contextlib

    @contextlib.contextmanager
    def _seeded():
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                          "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test"})
        app.extensions["geocoder"] = geocoder
        with app.app_context():
            empty_database()
            result = app.test_cli_runner().invoke(args=["seed"])
            assert result.exit_code == 0, result.output
            yield app, result.output
            empty_database()
            _db.session.remove()

    return _seeded()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    return _db.session


@pytest.fixture
def import_file(app, geocoder):
    """Import a file (path or bytes) through the pipeline and commit; returns the result."""
    from directory.importer import run_import

    def _import(path_or_bytes, *, filename=None, commit=True, **kwargs):
        data = path_or_bytes if isinstance(path_or_bytes, bytes) else \
            Path(path_or_bytes).read_bytes()
        name = filename or (Path(path_or_bytes).name if not isinstance(path_or_bytes, bytes)
                            else "upload.csv")
        kwargs.setdefault("geocoder", geocoder)
        result = run_import(_db.session, data, filename=name, **kwargs)
        if commit and not kwargs.get("dry_run"):
            _db.session.commit()
        else:
            _db.session.rollback()
        return result

    return _import


@pytest.fixture
def make_center(app):
    """Create a center directly (callable factory): ``make_center(name, lat, lon, **fields)``;
    ``modalities=[slug, ...]`` adds reported claims."""
    import datetime as dt

    from directory.curation.records import dumps
    from directory.curation.resolve import RECORD_FIELDS
    from directory.importer.fields import natural_key
    from directory.importer.write import ensure_source
    from directory.models import Center, CenterModality, Modality, SourceRecord
    from directory.text import fold

    def _make(name, latitude=None, longitude=None, *, modalities=(), source="test", **fields):
        ensure_source(_db.session, source)
        fields.setdefault("country", "US")
        center = Center(name=name, name_folded=fold(name), search_text=fold(name),
                        latitude=latitude, longitude=longitude, source=source,
                        natural_key=natural_key(name, fields.get("postal_code"),
                                                fields.get("country")),
                        geocode_precision="rooftop" if latitude is not None else "none",
                        city_folded=fold(fields.get("city")), **fields)
        for slug in modalities:
            modality = _db.session.scalar(sa.select(Modality).where(Modality.slug == slug))
            center.modalities.append(CenterModality(modality=modality, source=source,
                                                    provenance="reported",
                                                    verified_on=dt.date(2026, 1, 1)))
        # Its source record, as an import would write it (the values it gave).
        values = {k: v for k, v in fields.items() if k in RECORD_FIELDS}
        values.update(name=name, latitude=latitude, longitude=longitude,
                      geocode_precision=center.geocode_precision)
        center.records.append(SourceRecord(
            source=source, external_id=fields.get("external_id"),
            natural_key=center.natural_key, values=dumps(values),
            dataset_date=dt.date(2026, 1, 1), link_rule="first"))
        _db.session.add(center)
        _db.session.commit()
        return center

    return _make
