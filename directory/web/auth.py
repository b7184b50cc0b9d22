"""Admin accounts: Flask-Login sessions, scrypt password hashes, roles, rate-limited login.

Roles: ``admin`` manages imports and users; ``editor`` edits centers. Views use
:func:`role_required`; anonymous users are sent to the login page, a signed-in user without
the role gets 403. The ``next`` parameter only ever redirects to a path on this site.
"""

from __future__ import annotations

import datetime as dt
import functools
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.security import check_password_hash, generate_password_hash

from directory.extensions import db, limiter, login_manager
from directory.models import ROLES, User
from directory.web.forms import LoginForm

bp = Blueprint("auth", __name__, url_prefix="/admin")
MIN_PASSWORD = 12
_dummy_hash: str | None = None


def _dummy() -> str:
    """A hash to check against when the email is unknown, so both paths take the same time
    (made on first use: scrypt is deliberately slow and would delay every app start)."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = generate_password_hash("not-a-real-password", method="scrypt")
    return _dummy_hash


@login_manager.user_loader
def load_user(token: str) -> User | None:
    """Flask-Login hook: the active user whose current session token is ``token`` (what
    :meth:`User.get_id` put in the session), or ``None``: a session from before a sign-out,
    password change or deactivation no longer matches (the browser is sent to sign in)."""
    if not isinstance(token, str) or len(token) != 64:
        return None
    user = db.session.scalar(sa.select(User).where(User.session_token == token))
    return user if user is not None and user.active else None


def hash_password(password: str) -> str:
    """A werkzeug scrypt hash of ``password``."""
    return generate_password_hash(password, method="scrypt")


def upsert_user(session, email: str, password: str, role: str, *,
                reactivate: bool = False) -> tuple[User, bool]:
    """Create the user ``email`` or update its password and role; returns ``(user, created)``.

    Updating an account sets its password and ends its sessions (:meth:`User.revoke_sessions`).
    A deactivated account stays deactivated unless ``reactivate`` (``flask create-admin``;
    on the web, the explicit Reactivate button).

    :raises ValueError: for an invalid email or role.
    """
    email = email.strip().lower()
    if "@" not in email or len(email) > 254:
        raise ValueError(f"{email!r} is not an email address")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    user = session.scalar(sa.select(User).where(User.email == email))
    created = user is None
    if created:
        user = User(email=email)
        session.add(user)
    else:  # a password set (changed or reset) ends every session made with the old one
        user.revoke_sessions()
    user.password_hash, user.role = hash_password(password), role
    if created or reactivate:
        user.active = True
    session.flush()
    return user, created


def authenticate(session, email: str, password: str) -> User | None:
    """The active user whose email and password match, else ``None`` (constant work)."""
    user = session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active:
        check_password_hash(_dummy(), password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site (no scheme, no host, no ``//`` or ``\\``),
    else the admin home."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and \
                not target.startswith(("//", "/\\")) and "\\" not in target:
            return target
    return url_for("admin.home")


def role_required(*roles: str):
    """View decorator: sign-in required (redirect to login), and one of ``roles`` (403)."""
    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403, description="Your account's role does not allow this page.")
            return view(*args, **kwargs)
        return wrapped
    return decorator


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"],
               deduct_when=lambda response: response.status_code != 302,
               error_message="Too many sign-in attempts. Wait a minute and try again.")
def login():
    """Sign in. A failed attempt says only that the email or password is wrong."""
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            user.last_login_at = dt.datetime.now(dt.UTC)
            db.session.commit()
            return redirect(safe_next(request.args.get("next")))
        flash("The email or password is not right.", "error")
    return render_template("admin/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out (POST, with the CSRF token): every session of the account ends, so a copy
    of the session cookie saved before no longer signs anyone in."""
    current_user.revoke_sessions()
    db.session.commit()
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
