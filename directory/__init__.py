"""Oncology center directory: a Flask app factory.

``create_app(config)`` loads defaults and the environment (see :mod:`directory.config`),
applies ``config`` (tests pass a mapping), binds extensions, registers blueprints, error
handlers and CLI commands. Nothing runs at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from directory.web.i18n import LocalizedFlask

ROOT = Path(__file__).resolve().parent.parent


UNTRUSTED_HOST = ("This site does not answer to the host name this request was sent to "
                  "(its Host header). Use the site's own address.")
_UNTRUSTED = "directory.untrusted_host"


class DirectoryFlask(LocalizedFlask):
    """Flask whose links keep a page's language (:class:`~directory.web.i18n.LocalizedFlask`)
    and whose absolute URLs start with ``PUBLIC_BASE_URL`` when it is set (never with
    whatever ``Host`` a request sent; the host is also checked against ``TRUSTED_HOSTS``)."""

    def wsgi_app(self, environ, start_response):
        """Flask's, with the ``Host`` header lower-cased first: host names are not case
        sensitive (RFC 3986), but the ``TRUSTED_HOSTS`` check compares them as written
        (``Host: LOCALHOST`` got the untrusted-host 400)."""
        host = environ.get("HTTP_HOST")
        if host and host != host.lower():
            environ["HTTP_HOST"] = host.lower()
        return super().wsgi_app(environ, start_response)

    def url_for(self, endpoint: str, /, *, _external: bool | None = None, **values) -> str:
        base = self.config.get("PUBLIC_BASE_URL")
        if base and _external:
            values.pop("_scheme", None)
            return base + super().url_for(endpoint, _external=False, **values)
        return super().url_for(endpoint, _external=_external, **values)

    def create_url_adapter(self, request):
        """Flask's, except for a ``Host`` outside ``TRUSTED_HOSTS``: the request gets the
        400 (:class:`~werkzeug.exceptions.SecurityError`) as its routing error, and URLs
        are built for a trusted host, so the 400 page (and ``/api``'s JSON 400) can be
        rendered and still never names the untrusted host."""
        from urllib.parse import urlsplit

        from werkzeug.exceptions import SecurityError

        try:
            return super().create_url_adapter(request)
        except SecurityError:
            if request is None:
                raise
            error = SecurityError(UNTRUSTED_HOST)
            request.environ[_UNTRUSTED] = error
            base = self.config.get("PUBLIC_BASE_URL")
            hosts = [h.lstrip(".") for h in self.config.get("TRUSTED_HOSTS") or ()]
            host = urlsplit(base).netloc if base else (hosts[0] if hosts else "localhost")
            request.routing_exception = error
            return self.url_map.bind(host, script_name=request.root_path or "/",
                                     url_scheme=urlsplit(base).scheme if base
                                     else request.scheme, path_info=request.path,
                                     default_method=request.method,
                                     query_args=request.query_string.decode("latin-1"))

    def raise_routing_exception(self, request):
        """An untrusted host's 400 before the router's 404 or 405 for the same request."""
        if _UNTRUSTED in request.environ:
            raise request.environ[_UNTRUSTED]
        super().raise_routing_exception(request)


def create_app(config: dict | None = None) -> Flask:
    """Build the application. ``config`` overrides any setting (e.g. in tests)."""
    app = DirectoryFlask(__name__, template_folder=str(ROOT / "templates"),
                instance_path=os.environ.get("INSTANCE_PATH") or str(ROOT / "instance"),
                instance_relative_config=True)
    from directory.config import default_config

    app.config.from_mapping(default_config(app.instance_path))
    from directory.web.routing import IdConverter

    app.url_map.converters["id"] = IdConverter
    if config:
        app.config.from_mapping(config)
    check_hosts(app)
    check_secret_key(app)
    check_proxies(app)
    register_extensions(app)
    register_jobs(app)
    from directory.web import i18n

    i18n.init_app(app)
    register_security_headers(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app


class ConfigurationError(RuntimeError):
    """The app cannot start with this configuration; the message says what to set."""


def check_proxies(app: Flask) -> None:
    """``PROXY_COUNT`` checked (:func:`directory.config.proxy_count`); with 1 or more, the
    client's address (rate limits) and scheme come from ``X-Forwarded-For`` and
    ``X-Forwarded-Proto`` as that many proxies set them (Werkzeug's ``ProxyFix``)."""
    from directory.config import proxy_count

    try:
        hops = app.config["PROXY_COUNT"] = proxy_count(app.config.get("PROXY_COUNT"))
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


def check_hosts(app: Flask) -> None:
    """``PUBLIC_BASE_URL`` checked and normalised (:func:`directory.config.public_base_url`);
    its host trusted too when ``TRUSTED_HOSTS`` is a list that lacks it."""
    from urllib.parse import urlsplit

    from directory.config import public_base_url

    try:
        base = public_base_url(app.config.get("PUBLIC_BASE_URL"))
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None
    app.config["PUBLIC_BASE_URL"] = base
    hosts = app.config.get("TRUSTED_HOSTS")
    if base and hosts is not None and urlsplit(base).hostname not in hosts:
        app.config["TRUSTED_HOSTS"] = [*hosts, urlsplit(base).hostname]


def check_secret_key(app: Flask) -> None:
    """Refuse to start without a secret key outside debug and testing (sessions and CSRF
    tokens would be forgeable, or differ per process behind a load balancer). In debug and
    testing a random per-process key is used. Cookies are https-only outside those modes."""
    if app.debug or app.testing:
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = False
        if not app.config.get("SECRET_KEY"):
            import secrets

            app.config["SECRET_KEY"] = secrets.token_hex(32)
    if app.config.get("SECRET_KEY"):
        return
    if _flask_command() not in (None, "run"):  # seed, import-centers...: no sessions signed
        import secrets

        app.config["SECRET_KEY"] = secrets.token_hex(32)
        return
    raise ConfigurationError(
        "SECRET_KEY is not set. Set the SECRET_KEY environment variable (the same value on "
        "every app process), or run `make run`, which writes instance/secret_key.")


def register_security_headers(app: Flask) -> None:
    """Content-Security-Policy (no inline or third-party script), no framing, no MIME
    sniffing, a strict referrer policy, on every response."""
    from urllib.parse import urlsplit

    tiles = app.config.get("MAP_TILE_URL")
    tile_host = urlsplit(tiles if tiles is not None else
                         "https://tile.openstreetmap.org/").netloc
    img_src = "'self' data:" + (f" https://{tile_host}" if tile_host else "")
    policy = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
              f"img-src {img_src}; connect-src 'self'; font-src 'self'; object-src 'none'; "
              "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        return response


def register_extensions(app: Flask) -> None:
    """Bind SQLAlchemy, Alembic (Flask-Migrate), CSRF protection, Flask-Login and the rate
    limiter to ``app``."""
    from directory.extensions import csrf, db, limiter, login_manager

    db.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    if _wants_migrations(app):
        from flask_migrate import Migrate  # imports Alembic: ~0.5 s, so only where needed

        Migrate(app, db, directory=str(Path(__file__).parent / "migrations"),
                render_as_batch=True)
    csrf.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            _configure_sqlite(db.engine)
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        with app.app_context():
            _configure_postgresql(db.engine)


def register_jobs(app: Flask) -> None:
    """The background job queue (:mod:`directory.jobs`); ``flask run`` consumes it in a
    thread of its own process unless ``JOBS_CONSUMER`` says otherwise."""
    from directory.jobs import init_app

    if not app.config.get("JOBS_CONSUMER"):
        app.config["JOBS_CONSUMER"] = "thread" if _flask_command() == "run" else "external"
    init_app(app)


def _flask_command() -> str | None:
    """The subcommand of the ``flask`` command line running this process (``"seed"``,
    ``"run"``...), or ``None`` outside it (a WSGI server, the tests)."""
    import sys

    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    if program.name not in ("flask", "flask.exe") and \
            program.parts[-2:] != ("flask", "__main__.py"):
        return None
    args = sys.argv[1:]
    while args and args[0].startswith("-"):  # --app directory, --debug ...
        args = args[2:] if args[0] in ("--app", "-A", "--env-file", "-e") else args[1:]
    return args[0] if args else ""


def _wants_migrations(app: Flask) -> bool:
    """Flask-Migrate (Alembic) is needed by the ``flask`` command line and the tests, not
    by a web worker; set ``MIGRATIONS=1`` to force it."""
    import sys

    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path()
    return bool(app.testing or os.environ.get("MIGRATIONS") == "1"
                or program.name in ("flask", "flask.exe")
                or program.parts[-2:] == ("flask", "__main__.py"))


def _configure_sqlite(engine) -> None:
    """WAL journal, a 10 s busy timeout and foreign keys on every SQLite connection."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


def _configure_postgresql(engine) -> None:
    """No parallel query plans on the app's connections: a search touches a few thousand
    rows at most, and starting parallel workers for each costs more than it saves when
    requests already keep the CPUs busy (bench: text search at 1M centers, in-process p50
    81 -> 43 ms). Batch work (imports, exports) runs on the same setting."""
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET max_parallel_workers_per_gather = 0")
        dbapi_connection.commit()


def register_blueprints(app: Flask) -> None:
    """Public pages; the JSON API (``/api/v1``, with CORS and JSON errors) and its docs."""
    from directory.web import api, display, treatments
    from directory.web.admin import bp as admin_bp
    from directory.web.auth import bp as auth_bp
    from directory.web.i18n import register_localized
    from directory.web.jobs import bp as jobs_bp
    from directory.web.public import bp as public_bp
    from directory.web.review import bp as review_bp
    from directory.web.suggest import bp as suggest_bp

    display.register(app)
    treatments.register(app)
    register_localized(app, public_bp)  # also /es/...: directory.web.i18n
    app.register_blueprint(auth_bp)
    app.register_blueprint(admin_bp)
    register_localized(app, suggest_bp)  # the public "suggest an update" form
    app.register_blueprint(review_bp)
    app.register_blueprint(jobs_bp)
    api.init_app(app)


def register_error_handlers(app: Flask) -> None:
    """HTML error pages (400 names the bad field)."""
    from directory.web.errors import register_error_handlers as register

    register(app)


def register_commands(app: Flask) -> None:
    """``flask seed``, ``import-centers``, ``geocode``."""
    from directory.cli import register

    register(app)
