"""Flask extensions, created unbound; ``create_app`` binds them with ``init_app``."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from directory.models import Base

db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
# Storage comes from RATELIMIT_STORAGE_URI (memory:// by default; use Redis when several
# app processes must share the counts).
limiter = Limiter(get_remote_address, default_limits=[])

#: Default of ``EXPORT_RATE_LIMIT``: exports per client address (CSV / NDJSON downloads of
#: a search, the admin's whole-directory exports), counted together.
DEFAULT_EXPORT_RATE_LIMIT = "10 per minute"


def _export_rate_limit() -> str:
    from flask import current_app

    return current_app.config.get("EXPORT_RATE_LIMIT") or DEFAULT_EXPORT_RATE_LIMIT


def _not_an_export() -> bool:
    """``/api/v1/centers`` is an export only with ``format=csv`` or ``ndjson``."""
    from flask import request

    return request.endpoint == "api.centers" and \
        request.args.get("format", "json").strip().lower() in ("", "json")


#: Decorator of every export view: one shared budget (scope ``export``) per client address,
#: on top of the API's own limit; over it, a 429 with ``Retry-After``.
export_limit = limiter.shared_limit(
    _export_rate_limit, scope="export", exempt_when=_not_an_export, override_defaults=False,
    error_message="Too many downloads from your address; wait a minute and try again.")
