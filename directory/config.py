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
- ``EXPORT_RATE_LIMIT``: exports per client address (``/centers.csv``, ``/api/v1/centers``
  with ``format=csv|ndjson``, the admin exports), counted together (default
  ``10 per minute``).
- ``SUGGEST_RATE_LIMIT``: suggested updates a client address can send (default
  ``10 per hour;30 per day``).
- ``MAP_TILE_URL``, ``MAP_TILE_ATTRIBUTION``: the map's tile server (default OpenStreetMap's;
  an empty URL draws markers without tiles).
- ``REDIS_URL``: the background job queue in Redis (``redis://host:6379/0``); default a
  SQLite file, ``instance/jobs.sqlite`` (see :mod:`directory.jobs`).
- ``JOBS_CONSUMER``: ``thread`` (a job consumer inside the serving process; the default of
  ``flask run``) or ``external`` (``flask jobs`` processes; the default otherwise).
- ``JOBS_WORKERS``: jobs run at once by one consumer (default 1).
- ``PUBLIC_BASE_URL``: scheme and host the site is reached at (``https://centers.example.org``);
  every absolute URL the app writes (API ``url``/``links``, the ``Link`` header, exports,
  share links) starts with it. Unset: the request's own (trusted) host.
- ``TRUSTED_HOSTS``: comma-separated host names the app answers (Flask's ``TRUSTED_HOSTS``;
  ``.example.org`` also allows its subdomains); any other ``Host`` header gets a 400.
  Default: ``localhost``, ``127.0.0.1`` and the host of ``PUBLIC_BASE_URL``;
  ``*`` answers every host (only behind a proxy that checks the host itself).
- ``PROXY_COUNT``: how many reverse proxies (load balancer, TLS terminator) stand in front
  of the app and append to ``X-Forwarded-For`` / set ``X-Forwarded-Proto`` (default 0:
  the headers are ignored, as a client could forge them). With 1 or more the client's
  address (rate limits) and scheme come from those headers (Werkzeug's ``ProxyFix``).
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


#: The hosts of a local run (``make run``, the test client, browser tests).
LOCAL_HOSTS = ("localhost", "127.0.0.1")


def public_base_url(value: str | None) -> str | None:
    """``PUBLIC_BASE_URL`` checked: ``scheme://host[:port]`` without a trailing slash, or
    ``None`` when unset.

    :raises ValueError: not an http(s) URL, or one with a path, query or fragment.
    """
    from urllib.parse import urlsplit

    if not value or not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or \
            parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"PUBLIC_BASE_URL must be http(s)://host[:port], not {value!r}")
    return f"{parts.scheme}://{parts.netloc}"


def trusted_hosts(value: str | None, base_url: str | None) -> list[str] | None:
    """Flask's ``TRUSTED_HOSTS`` from the ``TRUSTED_HOSTS`` variable (comma-separated;
    ``*``: ``None``, every host) or, unset, :data:`LOCAL_HOSTS` plus the host of
    ``base_url``."""
    from urllib.parse import urlsplit

    if value is not None and value.strip():
        hosts = [h.strip().lower() for h in value.split(",") if h.strip()]
        return None if "*" in hosts else hosts
    hosts = list(LOCAL_HOSTS)
    if base_url and urlsplit(base_url).hostname not in hosts:
        hosts.append(urlsplit(base_url).hostname)
    return hosts


def proxy_count(value: str | int | None) -> int:
    """``PROXY_COUNT`` checked: a whole number from 0 to 10 (0 when unset).

    :raises ValueError: anything else."""
    text = str(value if value is not None else "0").strip() or "0"
    if not (text.isascii() and text.isdigit()) or int(text) > 10:
        raise ValueError(f"PROXY_COUNT must be a whole number of proxies from 0 to 10, "
                         f"not {value!r}")
    return int(text)


def default_config(instance_path: str) -> dict:
    """Build the configuration mapping from defaults and the process environment."""
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or (
        "sqlite:///" + os.path.join(instance_path, "directory.sqlite"))
    base_url = public_base_url(os.environ.get("PUBLIC_BASE_URL"))
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY") or _secret_from_file(instance_path),
        "PUBLIC_BASE_URL": base_url,
        "TRUSTED_HOSTS": trusted_hosts(os.environ.get("TRUSTED_HOSTS"), base_url),
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
        "SUGGEST_RATE_LIMIT": os.environ.get("SUGGEST_RATE_LIMIT", "10 per hour;30 per day"),
        "EXPORT_RATE_LIMIT": os.environ.get("EXPORT_RATE_LIMIT", "10 per minute"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "1") not in ("0", ""),
        "REMEMBER_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "1") not in ("0", ""),
        "MAP_TILE_URL": os.environ.get("MAP_TILE_URL"),
        "MAP_TILE_ATTRIBUTION": os.environ.get("MAP_TILE_ATTRIBUTION"),
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "JOBS_CONSUMER": os.environ.get("JOBS_CONSUMER") or None,
        "JOBS_WORKERS": int(os.environ.get("JOBS_WORKERS") or 1),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "PROXY_COUNT": os.environ.get("PROXY_COUNT"),  # checked by create_app
        "LANGUAGES": tuple(code.strip() for code in os.environ.get("LANGUAGES", "en,es")
                           .split(",") if code.strip()),
    }
