"""The OpenAPI document matches the data and the app (issue 15, item 10): its enums hold
every value the database holds (kinds, statuses, precisions, modalities, designations), its
bounds are the ones the app enforces (``radius`` from 0.1), and schemathesis finds nothing
against a database seeded from the real sources' excerpts, including the check that a
schema-valid value of a fully described parameter is never refused."""

from __future__ import annotations

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from directory import create_app
from directory.catalog import sync_vocabulary
from directory.extensions import db, limiter
from directory.geo import KM_PER_MILE
from directory.importer import run_import
from directory.models import (
    Center,
    CenterDesignation,
    CenterModality,
    Designation,
    Modality,
)
from directory.web.forms import RADIUS_MAX, RADIUS_MIN
from directory.web.openapi import openapi_document
from tests.conftest import DATA, GAZETTEER_PATH, empty_database

EXCERPTS = [("cms_hgi_excerpt.csv", "cms-hgi"), ("cms_pos_excerpt.csv", "cms-pos"),
            ("cms_measures_excerpt.csv", "cms-oqr"), ("nci_excerpt.csv", "nci"),
            ("nhs_excerpt.csv", "nhs"), ("hifld_excerpt.csv", "hifld"),
            ("hifld_quirks.csv", "hifld")]
# Kinds and statuses the excerpts lack, in the project's own template.
OWN_LIST = (b"name,kind,status,city,region,country,latitude,longitude\n"
            b"Example Emergency Center,emergency,active,Denver,CO,US,39.74,-104.99\n"
            b"Example Clinic,clinic,temporarily closed,Boston,MA,US,,\n"
            b"Example Long-Term Care,long-term-care,active,Austin,TX,US,30.27,-97.74\n")
# Parameters whose schema says everything the app checks: a schema-valid value of one of
# these must never be refused (free text such as `near` or `country` must also resolve).
CLOSED = {"radius", "unit", "page", "per_page", "format", "include", "kind", "sort",
          "designation", "limit"}


@pytest.fixture(scope="module")
def seeded(_migrated, database_url, geocoder):
    """A small seeded database: every real source's excerpt plus a list of our own."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                      "GAZETTEER_PATH": str(GAZETTEER_PATH), "SECRET_KEY": "test",
                      "API_RATE_LIMIT": "100000 per minute",
                      "EXPORT_RATE_LIMIT": "100000 per minute"})
    app.extensions["geocoder"] = geocoder
    with app.app_context():
        empty_database()
        sync_vocabulary(db.session)
        for name, fmt in EXCERPTS:
            run_import(db.session, (DATA / "excerpts" / name).read_bytes(), filename=name,
                       format=fmt, geocoder=geocoder)
            db.session.commit()
        run_import(db.session, OWN_LIST, filename="own.csv", source="own", geocoder=geocoder)
        db.session.commit()
        yield app
        empty_database()
        db.session.remove()


def _values(column) -> set:
    return set(db.session.scalars(sa.select(column).distinct())) - {None}


def test_the_enums_hold_every_value_in_the_data(seeded):
    with seeded.app_context():
        spec = seeded.test_client().get("/api/v1/openapi.json").get_json()
        schemas = spec["components"]["schemas"]
        item = schemas["CenterItem"]["properties"] if "CenterItem" in schemas else next(
            s["properties"] for s in schemas.values() if "geocode_precision" in
            s.get("properties", {}))
        params = {p["name"]: p["schema"] for p in spec["paths"]["/centers"]["get"]["parameters"]}
        claim = next(s["properties"] for s in schemas.values()
                     if "provenance" in s.get("properties", {}))
        kinds = _values(Center.kind)
        assert {"childrens", "psychiatric", "emergency", "long-term-care"} <= kinds
        assert kinds <= set(item["kind"]["enum"])
        assert kinds <= set(params["kind"]["items"]["enum"])
        assert _values(Center.status) <= set(item["status"]["enum"])
        assert _values(Center.geocode_precision) <= set(item["geocode_precision"]["enum"])
        assert _values(CenterModality.provenance) <= set(claim["provenance"]["enum"])
        assert _values(Modality.slug) <= set(claim["slug"]["enum"])
        held = db.session.scalars(sa.select(Designation.slug).join(
            CenterDesignation, CenterDesignation.designation_id == Designation.id)).all()
        assert set(held) <= set(params["designation"]["enum"])


def test_documented_bounds_are_the_apps(seeded):
    radius = {p["name"]: p["schema"] for p in openapi_document()["paths"]["/centers"]["get"]
              ["parameters"]}["radius"]
    assert (radius["minimum"], radius["maximum"]) == (RADIUS_MIN, RADIUS_MAX)
    assert "exclusiveMinimum" not in radius
    client = seeded.test_client()
    for value, unit, status in [(RADIUS_MIN, "km", 200), (RADIUS_MAX, "km", 200),
                                (RADIUS_MIN, "mi", 200), (0.09, "km", 400),
                                (RADIUS_MAX + 1, "km", 400)]:
        response = client.get(f"/api/v1/centers?near=Boston,+MA&radius={value}&unit={unit}")
        assert response.status_code == status, (value, unit, response.get_json())


def test_the_document_is_valid_run_alone():
    """No request and no form made before it (the check once relied on one)."""
    from openapi_spec_validator import validate

    validate(openapi_document())


@schemathesis.check
def closed_parameters_are_accepted(ctx, response, case):
    """A 400 must not name a parameter whose documented schema the value satisfied, except
    for the documented rules across parameters."""
    if response.status_code != 400 or not case.query:
        return None
    field = response.json().get("field")
    query = case.query
    if field not in CLOSED or field not in query:
        return None
    if field == "sort" and query.get("sort") == "distance" and not query.get("near"):
        return None  # documented: distance needs near
    if field == "radius" and query.get("unit") == "mi" and \
            float(query["radius"]) * KM_PER_MILE > RADIUS_MAX:
        return None  # documented: at most 20,000 km, in miles too
    if field == "kind" and "all" in query.get("kind", []) and len(query["kind"]) > 1:
        return None  # documented: all, or the kinds you want
    raise AssertionError(f"schema-valid {field}={query[field]!r} refused: "
                         f"{response.json().get('message')}")


def _operations() -> list[str]:
    return [f"{method.upper()} {path}" for path, ops in openapi_document()["paths"].items()
            for method in ops]


@pytest.mark.parametrize("label", _operations())
def test_schemathesis_finds_nothing_on_seeded_data(seeded, label):
    """Every operation, 50 examples: no 5xx; documented status codes, content types,
    headers and bodies (``additionalProperties: false``: an undocumented field or a value
    outside an enum fails); plus :func:`closed_parameters_are_accepted`. The generic
    ``positive_data_acceptance`` is left out: a schema-valid place or country that does not
    exist is a documented 400."""
    limiter.reset()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", seeded)
    method, path = label.split(" ", 1)
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=50, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def run(case):
        case.call_and_validate(additional_checks=[closed_parameters_are_accepted],
                               excluded_checks=[positive_data_acceptance])

    with seeded.app_context():
        run()
