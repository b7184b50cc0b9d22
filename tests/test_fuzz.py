"""Property-based fuzzing (hypothesis) of the importer and the HTML search routes.

Properties: the importer never raises anything but ``FileError`` past its boundary, for CSV
bytes, Open Referral HSDS zips and Excel workbooks; after a file-level error the database is
exactly as before; after a commit every valid row of the file is present; the admin upload
and preview of such files never answer 5xx and a rejected one writes nothing; no query
string makes a page answer 5xx. ``make fuzz`` runs the long
profile (``HYPOTHESIS_PROFILE=fuzz``, 10,000+ cases); the default profile is short for CI.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
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


def table_checksum(skip: tuple[str, ...] = ()) -> str:
    """A sha-256 over every row of every table (but ``skip``), in a stable order."""
    digest = hashlib.sha256()
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
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


HSDS_TABLES = {
    "locations.csv": ["id", "name", "latitude", "longitude", "location_type",
                      "organization_id", "url", "external_identifier"],
    "addresses.csv": ["id", "location_id", "address_1", "city", "state_province",
                      "postal_code", "country", "address_type"],
    "services.csv": ["id", "name", "status", "organization_id"],
    "service_at_location.csv": ["id", "service_id", "location_id"],
    "attributes.csv": ["id", "link_id", "taxonomy_term_id", "value"],
    "taxonomy_terms.csv": ["id", "code", "name", "taxonomy"],
    "phones.csv": ["id", "location_id", "number"],
    "organizations.csv": ["id", "name"],
}
IDS = st.sampled_from(["l1", "l2", "s1", "t1", "o1", "", "unknown"])
JSON_DESCRIPTORS = st.one_of(
    st.sampled_from(["{not json", "[1, 2]", "null", '{"resources": 5}',
                     '{"resources": [{"name": "location", "path": 5}]}',
                     '{"resources": [{"name": "location", "path": "locations.csv"}]}',
                     '{"resources": [3]}', '{"resources": [{"path": "../x.csv"}]}',
                     "\ufeff{}", '{"resources": [{"name": 1, "path": "a.csv"}]}']),
    st.recursive(st.none() | st.booleans() | st.integers() | TEXT,
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(["resources", "name", "path"]), inner,
                                   max_size=3), max_leaves=8).map(json.dumps))


@st.composite
def hsds_zips(draw):
    """HSDS-like zips: some tables with some of their columns (or none), odd cells and
    ids that may or may not join, a datapackage.json valid or not, sometimes bytes
    that are not UTF-8 or a zip cut short."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        if draw(st.booleans()):
            zf.writestr("datapackage.json", draw(JSON_DESCRIPTORS))
        for name in draw(st.lists(st.sampled_from(sorted(HSDS_TABLES)), max_size=5,
                                  unique=True)):
            header = draw(st.lists(st.sampled_from(HSDS_TABLES[name]), max_size=6))
            rows = draw(st.lists(st.lists(st.one_of(IDS, CELL), max_size=8), max_size=5))
            text = "\n".join(",".join(cells) for cells in [header, *rows])
            zf.writestr(draw(st.sampled_from([name, "data/" + name])),
                        text.encode("utf-8") if draw(st.integers(0, 9)) else
                        text.encode("utf-16"))
    data = buffer.getvalue()
    if draw(st.integers(0, 14)) == 0:
        data = data[:int(len(data) * draw(st.floats(0, 1)))]  # a fraction: the zip's
        # bytes hold the time it was written, so its length is not the same every run
    elif draw(st.integers(0, 14)) == 0 and len(data) > 40:  # damaged compressed bytes
        start = 30 + int((len(data) - 40) * draw(st.floats(0, 1)))
        data = data[:start] + bytes(b ^ 0xFF for b in data[start:start + 8]) + \
            data[start + 8:]
    return data


XLSX_VALUES = st.one_of(st.none(), TEXT.map(lambda t: t.replace("\x00", "")),
                        st.integers(-10**12, 10**12), st.floats(allow_nan=False),
                        st.booleans(), st.dates(min_value=dt.date(1900, 3, 1)),
                        st.sampled_from(["Boston", "US", "02115", "=1+1", "42.36", "-71.06"]))


@st.composite
def xlsx_files(draw):
    """Workbooks written by openpyxl: several sheets (some empty), a header from real and
    odd column names, rows of typed cells, number formats with leading zeros; sometimes
    cut short (a damaged file)."""
    from openpyxl import Workbook
    from openpyxl.utils.exceptions import IllegalCharacterError

    wb = Workbook()
    for index in range(draw(st.integers(0, 2))):
        wb.create_sheet(f"Sheet {index + 2}")
    for ws in wb.worksheets:
        if draw(st.booleans()):
            continue
        for row in [draw(st.lists(st.sampled_from(COLUMNS), max_size=8)),
                    *draw(st.lists(st.lists(XLSX_VALUES, max_size=9), max_size=5))]:
            try:
                ws.append(row)
            except (IllegalCharacterError, ValueError):
                ws.append(["?"])
        if draw(st.booleans()):
            ws["D2"].number_format = draw(st.sampled_from(["00000", "00000\\-0000",
                                                           "0.00", "yyyy-mm-dd"]))
    buffer = io.BytesIO()
    wb.save(buffer)
    data = buffer.getvalue()
    if draw(st.integers(0, 14)) == 0:
        data = data[:int(len(data) * draw(st.floats(0, 1)))]  # a fraction: the zip's
        # bytes hold the time it was written, so its length is not the same every run
    return data


def _import_or_file_error(geocoder, data: bytes, filename: str) -> None:
    before = table_checksum()
    try:
        result = run_import(db.session, data, filename=filename, geocoder=geocoder,
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
    assert added <= stored
    db.session.execute(sa.delete(Center).where(Center.source == "fuzz"))
    db.session.commit()


@given(data=hsds_zips())
def test_importer_reads_hsds_zips_or_raises_file_error(app, geocoder, data):
    _import_or_file_error(geocoder, data, "fuzz.zip")


@given(data=xlsx_files())
def test_importer_reads_workbooks_or_raises_file_error(app, geocoder, data):
    _import_or_file_error(geocoder, data, "fuzz.csv")  # the name does not matter


@given(data=st.one_of(hsds_zips(), xlsx_files()), filename=st.sampled_from(
    ["f.csv", "f.zip", "f.xlsx"]))
def test_admin_preview_of_zips_and_workbooks_never_answers_5xx(client, data, filename):
    """Upload, preview and confirm through the admin pages: no 5xx; a file the preview
    rejects (400) writes nothing when confirmed anyway (but the bookkeeping of the upload
    and of its failed confirm job)."""
    _admin_login(client)
    response = client.post("/admin/imports/new", data={
        "file": (io.BytesIO(data), filename), "format": "auto", "source": "fuzz"},
        content_type="multipart/form-data")
    assert response.status_code in (302, 303), response.status_code
    preview = response.headers["Location"]
    assert "/imports/preview/" in preview, preview  # signed in, the upload kept
    before = table_checksum(skip=("pending_import", "import_job"))
    response = client.get(preview)
    assert response.status_code < 500, response.status_code
    if response.status_code == 400:
        response = client.post(preview, data={"action": "confirm"})
        assert response.status_code < 500
        assert table_checksum(skip=("pending_import", "import_job")) == before
    client.post(preview, data={"action": "cancel"})
    db.session.execute(sa.delete(Center).where(Center.source == "fuzz"))
    db.session.commit()


def _admin_login(client) -> None:
    """Sign in once per test client (hypothesis reuses it across examples)."""
    from directory.models import User
    from directory.web.auth import upsert_user

    if getattr(client, "fuzz_signed_in", False):
        return
    client.fuzz_signed_in = True
    if db.session.scalar(sa.select(User).where(User.email == "fuzz@example.org")) is None:
        upsert_user(db.session, "fuzz@example.org", "fuzzing password 1", "admin")
        db.session.commit()
    client.post("/admin/login", data={"email": "fuzz@example.org",
                                      "password": "fuzzing password 1"})


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
