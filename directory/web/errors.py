"""Error pages: bad parameters are a 400 naming the field; nothing user-caused is a 500."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from directory.web.params import ParamError


def human_bytes(n: int) -> str:
    """``20971520`` -> ``"20 MB"``, ``2048`` -> ``"2 KB"`` (binary multiples)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


def database_problem(error: Exception) -> str:
    """A plain message for a database failure: busy (another import holds the write lock),
    read-only, disk full, a value the database refused, or unreachable."""
    text = str(getattr(error, "orig", error)).lower()
    if "database is locked" in text or "lock timeout" in text or "deadlock" in text:
        return ("Another import (or a long change) is writing to the directory right now. "
                "Nothing was changed; run this again when it has finished.")
    if any(word in text for word in ("constraint", "violates", "not null", "value too long",
                                     "out of range", "invalid input", "nul")):
        first = str(getattr(error, "orig", error)).strip().splitlines()[0][:200]
        return (f"The database refused a value ({first}). Nothing was changed; fix the "
                f"data and try again.")
    if "readonly" in text or "read-only" in text or "read only" in text:
        return ("The directory's database is read-only right now, so nothing can be saved. "
                "Nothing was changed; try again later.")
    if "disk is full" in text or "no space" in text or "disk full" in text:
        return ("The directory's database has no disk space left, so nothing can be saved. "
                "Nothing was changed; try again later.")
    return "The directory's database is not reachable right now. Please try again in a minute."


def register_error_handlers(app) -> None:
    """Render HTML error pages for HTTP errors, :class:`ParamError` (400), CSRF failures
    (400, with a way back to the form) and uploads over ``MAX_CONTENT_LENGTH`` (413)."""

    @app.errorhandler(ParamError)
    def bad_param(error: ParamError):
        return render_template("errors/error.html", code=400, title="Bad request",
                               field=error.field, message=error.message), 400

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = (f"{error.description} The form was not saved. Open it again and "
                   f"resubmit; nothing was written.")
        retry = request.path if request.method == "POST" else None
        return render_template("errors/error.html", code=400, title="Form expired or invalid",
                               field=None, message=message, retry=retry), 400

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = (f"The file is too large: uploads are limited to {human_bytes(limit)}. "
                   f"Split the file or ask for a higher limit; nothing was written.")
        return render_template("errors/error.html", code=413, title="File too large",
                               field=None, message=message, retry=request.path), 413

    @app.errorhandler(DBAPIError)
    def database_unavailable(error: DBAPIError):
        """A lost or refused database connection is a 503 with Retry-After (the pool
        pre-pings, so the next request reconnects by itself); other database errors 500."""
        from directory.extensions import db

        db.session.rollback()
        if not (getattr(error, "connection_invalidated", False)
                or isinstance(error, OperationalError)):
            raise error
        current_app.logger.warning("database unavailable: %s", error.__class__.__name__)
        message = database_problem(error)
        if request.path.startswith("/api/"):
            from directory.web.api import error_response

            response = error_response(503, message)
        else:
            response = current_app.make_response((render_template(
                "errors/error.html", code=503, title="Temporarily unavailable", field=None,
                message=message), 503))
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_template("errors/error.html", code=error.code, title=error.name,
                               field=None, message=error.description), error.code
