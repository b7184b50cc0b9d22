"""One formula neutralisation for every CSV the app writes (issue 15, item 4): every route
that answers with CSV (or a zip of CSVs) is found by walking the URL map, and none of its
cells would run as a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest

from directory.exchange.cells import neutralise
from directory.extensions import db, limiter
from directory.web.auth import upsert_user
from tests.conftest import CASES

PASSWORD = "correct horse battery"
PAYLOADS = ("+cmd|' /C calc'!A0", "-2+3+cmd", "=HYPERLINK(\"http://example.invalid\")",
            "@SUM(1;1)")
# Rows the importer rejects (no name), their other cells holding formulas.
REJECTED = (b"name,city,country,website,notes\n"
            b",\"+cmd|' /C calc'!A0\",US,,-2+3+cmd\n"
            b",Boston,US,\"=HYPERLINK(\"\"http://example.invalid\"\")\",@SUM(1;1)\n"
            b"Good Clinic,Boston,US,,\n")
# Every endpoint known to write CSV; a new one must neutralise too (the walk finds it).
CSV_ENDPOINTS = {"public.centers_csv", "public_l.centers_csv", "api.centers",
                 "admin.export_csv", "admin.export_hsds", "admin.preview_rejected_csv",
                 "admin.import_rejected_csv"}


def _upload(client, data: bytes) -> str:
    response = client.post("/admin/imports/new", content_type="multipart/form-data",
                           data={"file": (io.BytesIO(data), "list.csv")})
    return re.search(r"/admin/imports/preview/([\w-]+)", response.headers["Location"]).group(1)


def _csv_tables(response) -> list[list[list[str]]]:
    """The CSV tables of a response: itself when it is CSV, its ``.csv`` members when a zip."""
    kind = response.headers.get("Content-Type", "")
    if kind.startswith("text/csv"):
        return [list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))]
    if kind.startswith(("application/zip", "application/x-zip")):
        with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
            return [list(csv.reader(io.StringIO(archive.read(n).decode("utf-8-sig"))))
                    for n in archive.namelist() if n.endswith(".csv")]
    return []


@pytest.fixture
def world(app, client, import_file):
    """An admin signed in; centers whose names are formulas (case 14); a committed import
    and a pending one, both with rejected rows full of formulas."""
    limiter.reset()
    user, _ = upsert_user(db.session, "admin@example.org", PASSWORD, "admin")
    db.session.commit()
    client.post("/admin/login", data={"email": "admin@example.org", "password": PASSWORD})
    import_file(CASES / "14_formula_injection.csv")
    committed = _upload(client, REJECTED)
    run = client.post(f"/admin/imports/preview/{committed}", data={"action": "confirm"})
    run_id = int(run.headers["Location"].rsplit("/", 1)[1])
    pending = _upload(client, REJECTED)
    from directory.models import Center

    center_id = db.session.scalar(db.select(Center.id).limit(1))
    return {"center_id": center_id, "run_id": run_id, "token": pending,
            "review_id": 1, "user_id": user.id, "slug": "treatments", "lang": "es",
            "suggestion_id": 1}


def test_every_csv_the_app_writes_is_neutralised(app, client, world):
    found: dict[str, list[list[list[str]]]] = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        url = rule.build({k: world[k] for k in rule.arguments}, append_unknown=False)[1]
        for query in ("", "?format=csv&city=Boston"):
            tables = _csv_tables(client.get(url + query))
            if tables:
                found.setdefault(rule.endpoint, []).extend(tables)
    assert set(found) == CSV_ENDPOINTS
    for endpoint, tables in found.items():
        cells = [cell for table in tables for row in table for cell in row]
        unsafe = [c for c in cells if neutralise(c) != c]
        assert not unsafe, (endpoint, unsafe[:5])
    rejected = {c for e in ("admin.preview_rejected_csv", "admin.import_rejected_csv")
                for t in found[e] for row in t for c in row}
    for payload in PAYLOADS:  # written, as text
        assert "'" + payload in rejected
    names = {row[1] for t in found["public.centers_csv"] for row in t[1:]}
    assert "'-2+3 Example Clinic" in names and "'@SUM(1;1) Example Clinic" in names


def test_a_corrected_rejected_rows_file_imports_back_unchanged(client, world, import_file):
    text = client.get(f"/admin/imports/{world['run_id']}/rejected.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    header, fixed = rows[0][:-2], [["Fixed " + str(i), *r[1:-2]] for i, r in enumerate(rows[1:])]
    out = io.StringIO()
    csv.writer(out).writerows([header, *fixed])
    result = import_file(out.getvalue().encode(), filename="fixed.csv", source="fixed")
    assert result.rejected == 0
    from directory.models import Center

    cities = set(db.session.scalars(db.select(Center.city).where(Center.source == "fixed")))
    assert "+cmd|' /C calc'!A0" in cities
