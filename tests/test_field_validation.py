"""One validation for every write path (issue 15, item 7): the editor form refuses what
the importer refuses (``javascript:`` links, addresses that are not emails, unknown
countries, unreadable phones), both clean accepted values the same way, and the API and
pages never hand out a stored unsafe link, whatever wrote it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from directory.curation.edit import FieldError, form_values
from directory.extensions import db, limiter
from directory.models import Center
from directory.web.auth import upsert_user
from directory.web.forms import CenterForm

PASSWORD = "correct horse battery"
BASE = {"name": "Lakeside Hospital", "kind": "hospital", "status": "active",
        "city": "Boston", "country": "US"}
# (field, value) pairs every write path refuses.
REFUSED = [
    ("website", "javascript:alert(document.domain)"), ("website", "JavaScript:alert(1)"),
    ("website", "data:text/html,<script>alert(1)</script>"), ("website", "http://exa mple.org"),
    ("email", "not-an-email<>"), ("email", "a<script>@example.org"),
    ("email", "someone@example"), ("email", "x@example.org\"onmouseover=\"alert(1)"),
    ("phone", "call us"), ("country", "ZZ"),
    ("website", "https://good.org@evil.example/"),          # goes to evil.example
    ("website", 'https://a.example/"onmouseover="alert(1)'),
]
# (field, typed, stored): accepted, and cleaned the same way by the importer and the editor.
CLEANED = [("website", "example.org", "https://example.org"),
           ("email", "mailto:info@example.org", "info@example.org"),
           ("phone", "(617) 555-0100", "+16175550100"), ("postal_code", "2115", "02115")]


@pytest.fixture
def editor(app, client):
    limiter.reset()
    upsert_user(db.session, "editor@example.org", PASSWORD, "editor")
    db.session.commit()
    client.post("/admin/login", data={"email": "editor@example.org", "password": PASSWORD})
    return client


def _import_row(import_file, field, value):
    import csv
    import io

    row = {**BASE, "region": "MA", field: value}
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(row))
    writer.writeheader()
    writer.writerow(row)
    return import_file(out.getvalue().encode(), filename="list.csv", source="list")


@pytest.mark.parametrize("field, value", REFUSED)
def test_the_editor_form_refuses_what_the_importer_refuses(editor, make_center, import_file,
                                                           field, value):
    result = _import_row(import_file, field, value)
    imported = db.session.scalar(sa.select(Center).where(Center.source == "list"))
    assert any(i.column == field for i in result.issues), [str(i) for i in result.issues]
    assert imported is None or getattr(imported, field) in (None, "US")
    center = make_center("Lakeside Hospital", 42.3, -71.1, city="Boston", website=None)
    response = editor.post(f"/admin/centers/{center.id}/edit", data={**BASE, field: value})
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:300]
    assert 'class="error"' in page
    db.session.expire_all()
    assert getattr(db.session.get(Center, center.id), field) in (None, "US")


@pytest.mark.parametrize("field, typed, stored", CLEANED)
def test_accepted_values_are_cleaned_alike(editor, make_center, import_file,
                                           field, typed, stored):
    _import_row(import_file, field, typed)
    imported = db.session.scalar(sa.select(Center).where(Center.source == "list"))
    assert getattr(imported, field) == stored
    center = make_center("Other Hospital", 42.3, -71.1, city="Boston")
    response = editor.post(f"/admin/centers/{center.id}/edit",
                           data={**BASE, "name": "Other Hospital", field: typed})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    db.session.expire_all()
    assert getattr(db.session.get(Center, center.id), field) == stored


def test_other_callers_of_the_edit_cannot_skip_the_validation(app, make_center):
    center = make_center("Lakeside Hospital", 42.3, -71.1, city="Boston")
    with app.test_request_context(method="POST", data={
            **BASE, "website": "javascript:alert(1)", "email": "not-an-email<>"}):
        form = CenterForm()
        with pytest.raises(FieldError) as raised:
            form_values(center, form)
    assert set(raised.value.errors) == {"website", "email"}


def test_stored_unsafe_links_are_not_handed_out(client, make_center):
    """A value written before this check (or by hand in the database) is not a link."""
    bad = make_center("Old Row Hospital", 42.3, -71.1, city="Boston",
                      website="javascript:alert(document.domain)", email="not-an-email<>")
    good = make_center("Good Row Hospital", 42.31, -71.1, city="Boston",
                       website="example.org", email="info@example.org")
    detail = client.get(f"/api/v1/centers/{bad.id}").get_json()
    assert detail["website"] is None and detail["email"] is None
    listed = {i["id"]: i for i in client.get("/api/v1/centers?city=Boston").get_json()["items"]}
    assert listed[bad.id]["website"] is None
    assert listed[good.id]["website"] == "https://example.org"
    assert client.get(f"/api/v1/centers/{good.id}").get_json()["email"] == "info@example.org"
    page = client.get(f"/centers/{bad.id}").get_data(as_text=True)
    assert 'href="javascript:' not in page


def test_a_record_with_an_unsafe_value_never_shows(app):
    """Whatever wrote a source record (an old import, a restored records package), the
    shown website and email pass the same validation: the newest valid one is shown."""
    import datetime as dt

    from directory.curation.resolve import RecordValues, resolve

    old = RecordValues(1, "cms-hgi", "A", {"name": "Lakeside Hospital",
                                           "website": "lakeside.example.org",
                                           "email": "info@lakeside.example.org"},
                       dt.date(2024, 1, 1))
    new = RecordValues(2, "list", "B", {"name": "Lakeside Hospital",
                                        "website": "javascript:alert(document.domain)",
                                        "email": "not-an-email<>"}, dt.date(2026, 1, 1))
    values, origin = resolve([old, new])
    assert values["website"] == "https://lakeside.example.org"
    assert values["email"] == "info@lakeside.example.org"
    assert origin["website"] is old and origin["email"] is old
    values, _ = resolve([new])
    assert values["website"] is None and values["email"] is None


@pytest.mark.parametrize("zip_code", ["ABCDE-XYZ", "1", "💥"])
def test_the_editor_form_refuses_a_postal_code_that_is_no_us_zip(editor, make_center, zip_code):
    # A file's row keeps such a code with a warning; a person typing it gets the error.
    center = make_center("Lakeside Hospital", 42.3, -71.1, city="Boston", postal_code="02115")
    response = editor.post(f"/admin/centers/{center.id}/edit",
                           data={**BASE, "postal_code": zip_code})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "not a valid US ZIP code" in page, page[:300]
    db.session.expire_all()
    assert db.session.get(Center, center.id).postal_code == "02115"
    ok = editor.post(f"/admin/centers/{center.id}/edit", data={**BASE, "postal_code": "2116"})
    assert ok.status_code == 302                               # a lost zero is repaired
    db.session.expire_all()
    assert db.session.get(Center, center.id).postal_code == "02116"
