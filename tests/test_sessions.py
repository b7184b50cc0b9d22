"""Sessions end for good (issue 15, item 6): a session cookie saved before sign-out,
a password change or deactivation no longer signs anyone in, and re-saving a deactivated
account does not bring it, or its old sessions, back."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from directory.extensions import db, limiter
from directory.models import User
from directory.web.auth import upsert_user

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another long passphrase"


class OwnContextClient(FlaskClient):
    """Each request in an app context of its own, as in production: the ``app`` fixture
    keeps one context open, whose ``g`` would otherwise carry the signed-in user from one
    request to the next."""

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    limiter.reset()
    app.test_client_class = OwnContextClient


def user(email):
    return db.session.scalar(sa.select(User).where(User.email == email))


def signed_in(app, email, password=PASSWORD):
    """A new browser signed in as ``email``."""
    browser = app.test_client()
    response = browser.post("/admin/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert browser.get("/admin/").status_code == 200
    return browser


def saved_cookie(browser) -> str:
    return browser.get_cookie("session").value


def replay(app, cookie: str, path="/admin/"):
    """A request from another browser carrying a copy of a saved session cookie."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief.get(path)


@pytest.fixture
def accounts(app):
    upsert_user(db.session, "admin@example.org", PASSWORD, "admin")
    upsert_user(db.session, "editor@example.org", PASSWORD, "editor")
    db.session.commit()


def test_the_session_holds_a_token_not_the_user_id(app, accounts):
    browser = signed_in(app, "editor@example.org")
    with browser.session_transaction() as session:
        assert session["_user_id"] == user("editor@example.org").session_token
        assert len(session["_user_id"]) == 64


def test_a_cookie_saved_before_logout_is_signed_out_after(app, accounts):
    browser = signed_in(app, "editor@example.org")
    cookie = saved_cookie(browser)
    assert replay(app, cookie).status_code == 200
    assert browser.post("/admin/logout").status_code == 302
    response = replay(app, cookie)
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_other_browsers_are_signed_out_at_logout_too(app, accounts):
    laptop, phone = signed_in(app, "editor@example.org"), signed_in(app, "editor@example.org")
    phone.post("/admin/logout")
    assert laptop.get("/admin/").status_code == 302


def test_a_password_change_ends_old_sessions(app, accounts):
    editor = signed_in(app, "editor@example.org")
    admin = signed_in(app, "admin@example.org")
    response = admin.post("/admin/users", data={"email": "editor@example.org",
                                                "password": NEW_PASSWORD, "role": "editor"})
    assert response.status_code == 302
    assert editor.get("/admin/").status_code == 302
    assert admin.get("/admin/").status_code == 200  # the admin's own session is untouched
    signed_in(app, "editor@example.org", NEW_PASSWORD)


def test_changing_your_own_password_keeps_you_signed_in_here_only(app, accounts):
    here, elsewhere = signed_in(app, "admin@example.org"), signed_in(app, "admin@example.org")
    here.post("/admin/users", data={"email": "admin@example.org", "password": NEW_PASSWORD,
                                    "role": "admin"})
    assert here.get("/admin/").status_code == 200
    assert elsewhere.get("/admin/").status_code == 302


def test_deactivation_ends_sessions_and_resaving_does_not_reactivate(app, accounts):
    editor = signed_in(app, "editor@example.org")
    cookie = saved_cookie(editor)
    admin = signed_in(app, "admin@example.org")
    editor_id = user("editor@example.org").id
    assert admin.post(f"/admin/users/{editor_id}/deactivate").status_code == 302
    assert replay(app, cookie).status_code == 302
    # The admin re-saves the account (same password): still deactivated, cookie still dead.
    page = admin.post("/admin/users", data={"email": "editor@example.org",
                                            "password": PASSWORD, "role": "editor"},
                      follow_redirects=True).get_data(as_text=True)
    assert "stays deactivated" in page
    db.session.expire_all()
    assert user("editor@example.org").active is False
    assert replay(app, cookie).status_code == 302
    assert app.test_client().post("/admin/login", data={
        "email": "editor@example.org", "password": PASSWORD}).status_code == 200  # refused
    # Reactivating lets the password in again; the old cookie stays dead.
    assert admin.post(f"/admin/users/{editor_id}/reactivate").status_code == 302
    assert replay(app, cookie).status_code == 302
    signed_in(app, "editor@example.org")


def test_a_cookie_with_a_user_id_is_not_a_session(app, accounts):
    """Sessions signed before this change held the numeric id; they sign nobody in."""
    browser = app.test_client()
    with browser.session_transaction() as session:
        session["_user_id"] = str(user("admin@example.org").id)
        session["_fresh"] = True
    assert browser.get("/admin/").status_code == 302


def test_create_admin_command_reactivates(app, runner, accounts):
    account = user("editor@example.org")
    account.active = False
    db.session.commit()
    result = runner.invoke(args=["create-admin", "editor@example.org", "--role", "editor",
                                 "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert user("editor@example.org").active is True
