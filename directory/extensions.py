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
