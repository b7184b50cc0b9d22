"""Web security: headers, secret key policy, CSRF on every admin form, escaping, 503 when
the database is down."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from directory import ConfigurationError, create_app
from directory.extensions import db, limiter
from directory.web.auth import upsert_user

PASSWORD = "correct horse battery"


def test_security_headers_on_every_kind_of_response(client):
    for url in ("/", "/centers?radius=-1", "/nope", "/api/v1", "/static/site.css"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_no_inline_scripts_in_pages(client, make_center):
    center = make_center("Somewhere", 42.0, -71.0, city="Boston")
    for url in ("/", "/centers?near=Boston", f"/centers/{center.id}", "/guide/",
                "/guide/chemotherapy", "/about", "/admin/login"):
        html = client.get(url).get_data(as_text=True)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or 'type="application/json"' in tag, (url, tag)
        assert not re.search(r"\son(click|load|error|submit)=", html), url


def test_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "k" * 32})
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"


@pytest.fixture
def csrf_admin(app, client):
    limiter.reset()
    upsert_user(db.session, "admin@example.org", PASSWORD, "admin")
    db.session.commit()
    client.post("/admin/login", data={"email": "admin@example.org", "password": PASSWORD})
    app.config["WTF_CSRF_ENABLED"] = True
    return client


def test_every_admin_post_without_a_token_is_400(csrf_admin, make_center):
    center = make_center("Somewhere", 1, 1)
    posts = ["/admin/logout", "/admin/imports/new", "/admin/imports/1/revert",
             "/admin/duplicates/merge", f"/admin/centers/{center.id}/edit", "/admin/users",
             "/admin/users/1/deactivate", "/admin/users/1/reactivate",
             "/admin/imports/preview/x", "/admin/jobs/x/retry"]
    for url in posts:
        response = csrf_admin.post(url, data={"name": "x"})
        assert response.status_code == 400, url
        assert "CSRF" in response.get_data(as_text=True), url
    assert db.session.scalar(sa.select(sa.func.count()).select_from(
        sa.text("change_record"))) == 0


def test_login_without_token_is_rejected(app, client):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/admin/login", data={"email": "a@b.c", "password": "x"})
    assert response.status_code == 400


def test_imported_markup_and_scripts_render_as_text(client, import_file):
    data = (b'name,city,country,website\n'
            b'"<script>alert(1)</script> Clinic",Boston,US,javascript:alert(1)\n')
    import_file(data, filename="xss.csv")
    html = client.get("/centers?q=clinic").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_database_outage_is_a_503_and_recovers(app, client, make_center, monkeypatch):
    make_center("Somewhere", 1, 1)
    from sqlalchemy.exc import OperationalError

    import directory.web.public as public

    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(public, "find_centers", down)
    page = client.get("/centers")
    assert page.status_code == 503 and page.headers["Retry-After"] == "30"
    assert "not reachable right now" in page.get_data(as_text=True)
    monkeypatch.undo()
    assert client.get("/centers").status_code == 200
