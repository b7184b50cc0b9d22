"""Exports have limits (issue 15, item 9): a per-address rate limit shared by every export
(``EXPORT_RATE_LIMIT``), and a cost that does not grow statement by statement with the
rows (ids in one ordered query, rows read in batches of 1,000 while the body streams).
Speed itself is measured in ``bench/export_bench.py`` (bench/NOTES.md), not here."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import event

from directory.extensions import db, limiter
from directory.web.auth import upsert_user

PASSWORD = "correct horse battery"
EXPORTS = ["/centers.csv?city=Boston", "/api/v1/centers?format=csv&city=Boston",
           "/api/v1/centers?format=ndjson&city=Boston"]


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    limiter.reset()
    yield
    limiter.reset()


def test_exports_share_one_rate_limit_per_address(app, client, make_center):
    make_center("Lakeside Hospital", 42.3, -71.1, city="Boston")
    app.config["EXPORT_RATE_LIMIT"] = "3 per minute"
    for url in EXPORTS:
        assert client.get(url).status_code == 200, url
    for url in EXPORTS:  # the fourth export of any kind is over
        response = client.get(url)
        assert response.status_code == 429, url
        assert int(response.headers["Retry-After"]) > 0
    api = client.get("/api/v1/centers?format=csv&city=Boston")
    assert api.get_json()["error"] == "too many requests"
    # Searching is not exporting: pages and JSON results still answer.
    assert client.get("/api/v1/centers?city=Boston").status_code == 200
    assert client.get("/centers?city=Boston").status_code == 200
    # Another address has its own budget.
    other = client.get(EXPORTS[0], environ_overrides={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 200


def test_admin_exports_count_too(app, client, make_center):
    make_center("Lakeside Hospital", 42.3, -71.1, city="Boston")
    upsert_user(db.session, "admin@example.org", PASSWORD, "admin")
    db.session.commit()
    client.post("/admin/login", data={"email": "admin@example.org", "password": PASSWORD})
    app.config["EXPORT_RATE_LIMIT"] = "2 per minute"
    assert client.get("/admin/export.csv").status_code == 200
    assert client.get("/admin/export-hsds.zip").status_code == 200
    assert client.get("/centers.csv").status_code == 429


def _statements(client, url) -> tuple[int, bytes]:
    count = [0]

    def counter(*_args, **_kwargs):
        count[0] += 1

    event.listen(db.engine, "before_cursor_execute", counter)
    try:
        body = client.get(url).get_data()
    finally:
        event.remove(db.engine, "before_cursor_execute", counter)
    return count[0], body


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_export_statements_do_not_grow_with_rows(app, client, import_file, fmt):
    header = "external_id,name,organization,city,region,country,services\n"
    rows = "".join(f"R{i},Riverside Clinic {i:04d},Riverside Health {i % 7},Boston,MA,US,"
                   f"chemotherapy; radiation therapy\n" for i in range(1500))
    import_file((header + rows).encode(), source="riverside")
    url = f"/api/v1/centers?format={fmt}&city=Boston&sort=name"
    client.get(url)  # counts and facets cached, as on any busy server
    app.config["EXPORT_MAX_ROWS"] = 10
    few, small = _statements(client, url)
    app.config["EXPORT_MAX_ROWS"] = 10_000
    many, big = _statements(client, url)
    if fmt == "csv":
        records = list(csv.DictReader(io.StringIO(big.decode("utf-8-sig"))))
        assert len(records) == 1500 and len(small.decode("utf-8-sig").splitlines()) == 11
        assert records[0]["name"] == "Riverside Clinic 0000"
        assert records[0]["modalities"] == "radiation-therapy; chemotherapy"  # vocabulary order
        assert records[0]["organization"] == "Riverside Health 0"
        assert [r["name"] for r in records] == sorted(r["name"] for r in records)
    else:
        assert len(big.splitlines()) == 1500 and len(small.splitlines()) == 10
    # 150 times the rows: one more batch of 1,000 (3 statements), nothing per row or page.
    assert many - few <= 3, (few, many)
