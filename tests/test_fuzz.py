"""Property-based fuzzing (hypothesis) of the importer and the HTML search routes.

Properties: the importer never raises anything but ``FileError`` past its boundary; after a
file-level error the database is exactly as before; after a commit every valid row of the
file is present; no query string makes a page answer 5xx. ``make fuzz`` runs the long
profile (``HYPOTHESIS_PROFILE=fuzz``, 10,000+ cases); the default profile is short for CI.
"""

from __future__ import annotations

import hashlib
import os
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from directory.extensions import db
from directory.importer import FileError, run_import
from directory.models import Base, Center

settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.register_profile("fuzz", max_examples=2500, deadline=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                 HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

COLUMNS = ["name", "city", "state", "zip", "country", "latitude", "longitude", "phone",
           "website", "services", "Notes", " Name ", "id"]
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
CELL = st.one_of(TEXT, st.sampled_from(["", "Boston", "US", "02115", "2115", "42.36",
                                        "-71.06", "91", "Not Available", "N/A", "-999",
                                        "chemo; radiotherapy", "=1+1", "javascript:x",
                                        "Düsseldorf", "\x00", "\"", "\r\n", "9" * 300]))
ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "utf-16", "latin-1"]
DELIMITERS = [",", ";", "\t", "|", "¬"]


@st.composite
def csv_files(draw):
    """CSV-ish bytes: a header from real and odd column names, ragged rows of odd cells,
    in several encodings and delimiters, sometimes with binary garbage spliced in."""
    header = draw(st.lists(st.sampled_from(COLUMNS), min_size=0, max_size=8))
    delimiter = draw(st.sampled_from(DELIMITERS))
    rows = draw(st.lists(st.lists(CELL, max_size=10), max_size=8))
    quote_all = draw(st.booleans())

    def render(cells):
        if quote_all:
            return delimiter.join('"' + c.replace('"', '""') + '"' for c in cells)
        return delimiter.join(cells)

    text = "\n".join([render(header), *(render(r) for r in rows)])
    data = text.encode(draw(st.sampled_from(ENCODINGS)), errors="replace")
    if draw(st.integers(0, 9)) == 0:
        data = data + draw(st.binary(max_size=64))
    return data


def table_checksum() -> str:
    """A sha-256 over every row of every table, in a stable order."""
    digest = hashlib.sha256()
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            digest.update(repr((table.name, [tuple(map(str, r)) for r in rows])).encode())
    return digest.hexdigest()


@given(data=csv_files())
def test_importer_never_raises_past_its_boundary(app, geocoder, data):
    before = table_checksum()
    try:
        result = run_import(db.session, data, filename="fuzz.csv", geocoder=geocoder,
                            source="fuzz")
    except FileError as exc:
        db.session.rollback()
        assert str(exc)
        assert table_checksum() == before  # a rejected file leaves no trace
        return
    db.session.commit()
    added = {r.natural_key for r in result.plan.adds}
    stored = {c.natural_key for c in db.session.scalars(
        sa.select(Center).where(Center.source == "fuzz"))}
    assert added <= stored  # every valid row is present after the commit
    # Clean up for the next example (same function-scoped database).
    db.session.execute(sa.delete(Center).where(Center.source == "fuzz"))
    db.session.commit()


PARAMS = ["q", "near", "radius", "unit", "city", "region", "country", "modality",
          "designation", "sort", "page", "per_page", "zzz"]
VALUES = st.one_of(TEXT, st.sampled_from(["-5", "0", "1e308", "nan", "abc", "km", "mi",
                                          "distance", "chemotherapy", "US", "Boston",
                                          "42.36,-71.06", "91,0", "%", "_", "\\", "<script>",
                                          "99999999999999999999", ""]))


@given(pairs=st.lists(st.tuples(st.sampled_from(PARAMS), VALUES), max_size=6))
def test_search_page_never_answers_5xx(client, pairs):
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in pairs)
    for path in ("/centers", "/api/v1/centers"):
        response = client.get(f"{path}?{query}")
        assert response.status_code < 500, (path, query, response.status_code)


@pytest.mark.parametrize("path", ["/centers/1", "/guide/x", "/centers.csv"])
@given(suffix=TEXT)
def test_other_routes_never_answer_5xx(app, client, path, suffix):
    app.config["EXPORT_RATE_LIMIT"] = "1000000 per minute"  # every example reaches the export
    response = client.get(path + "?" + quote(suffix, safe="=&"))
    assert response.status_code < 500 and response.status_code != 429
