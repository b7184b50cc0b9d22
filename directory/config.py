"""Configuration: defaults in code, overrides from the environment, tests pass a mapping.

Environment variables read here and nowhere else:

- ``DATABASE_URL``: SQLAlchemy URL; default SQLite file ``instance/directory.sqlite``.
  ``postgres://`` is rewritten to ``postgresql+psycopg://`` (psycopg 3).
- ``SECRET_KEY``: session signing key; else the key in ``instance/secret_key`` (``make run``
  writes one). Outside debug and testing the app refuses to start without a key.
- ``SESSION_COOKIE_SECURE``: ``0`` to send the session cookie over plain http (default: https
  only, outside debug and testing).
- ``GEOCODER``: ``offline`` (default, packaged data) or ``nominatim`` (opt-in, online).
- ``GEOCODER_USER_AGENT``: the User-Agent sent to online geocoders.
- ``GAZETTEER_PATH``: where the offline gazetteer index lives; default under ``instance/``.
- ``API_RATE_LIMIT``: requests per client address to ``/api`` (default ``600 per minute``).
- ``MAP_TILE_URL``, ``MAP_TILE_ATTRIBUTION``: the map's tile server (default OpenStreetMap's;
  an empty URL draws markers without tiles).
- ``LANGUAGES``: the public pages' languages, comma-separated, the default (unprefixed URLs)
  first (default ``en,es``); each needs ``translations/<lang>`` and may have
  ``seeds/guide/<lang>`` (see :mod:`directory.web.i18n`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

GAZETTEER_FILE = "gazetteer.sqlite"


def normalise_database_url(url: str) -> str:
    """Return ``url`` with the psycopg 3 driver for PostgreSQL URLs.

    ``postgres://h/db`` and ``postgresql://h/db`` both become ``postgresql+psycopg://h/db``;
    other URLs are returned unchanged.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


SECRET_FILE = "secret_key"


def _secret_from_file(instance_path: str) -> str | None:
    """The key in ``instance/secret_key`` (written by ``make run``), or ``None``."""
    path = Path(instance_path) / SECRET_FILE
    try:
        key = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return key or None


def write_secret_file(instance_path: str) -> Path:
    """Create ``instance/secret_key`` with a random 256-bit key (mode 600) unless it exists."""
    path = Path(instance_path) / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    return path


def default_config(instance_path: str) -> dict:
    """Build the configuration mapping from defaults and the process environment."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or (
        "sqlite:///" + os.path.join(instance_path, "directory.sqlite"))
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or _secret_from_file(instance_path),
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "GEOCODER": os.environ.get("GEOCODER", "offline"),
        "GEOCODER_USER_AGENT": os.environ.get(
            "GEOCODER_USER_AGENT", "oncology-center-directory/0.1 (admin import geocoding)"),
        "GAZETTEER_PATH": os.environ.get("GAZETTEER_PATH")
        or os.path.join(instance_path, GAZETTEER_FILE),
        # Search bounds (documented in README and on the search page).
        "SEARCH_PER_PAGE_DEFAULT": 20,
        "SEARCH_PER_PAGE_MAX": 100,
        "SEARCH_DEFAULT_RADIUS_KM": 100.0,
        "SEARCH_MAX_RADIUS_KM": 20000.0,
        "SEARCH_MAX_TEXT": 200,
        "WTF_CSRF_TIME_LIMIT": 3600,
        "MAX_CONTENT_LENGTH": int(os.environ.get("MAX_UPLOAD_BYTES", 20 * 1024 * 1024)),
        "LOGIN_RATE_LIMIT": "5 per minute",
        "API_RATE_LIMIT": os.environ.get("API_RATE_LIMIT", "600 per minute"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "1") not in ("0", ""),
        "REMEMBER_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "1") not in ("0", ""),
        "MAP_TILE_URL": os.environ.get("MAP_TILE_URL"),
        "MAP_TILE_ATTRIBUTION": os.environ.get("MAP_TILE_ATTRIBUTION"),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "LANGUAGES": tuple(code.strip() for code in os.environ.get("LANGUAGES", "en,es")
                           .split(",") if code.strip()),
    }
