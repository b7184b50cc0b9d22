"""Error pages: bad parameters are a 400 naming the field; nothing user-caused is a 500."""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from directory.text import N_
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
        return N_("Another import (or a long change) is writing to the directory right now. "
                  "Nothing was changed; run this again when it has finished.")
    if any(word in text for word in ("constraint", "violates", "not null", "value too long",
                                     "out of range", "invalid input", "nul")):
        first = str(getattr(error, "orig", error)).strip().splitlines()[0][:200]
        return (f"The database refused a value ({first}). Nothing was changed; fix the "
                f"data and try again.")
    if "readonly" in text or "read-only" in text or "read only" in text:
        return N_("The directory's database is read-only right now, so nothing can be saved. "
                  "Nothing was changed; try again later.")
    if "disk is full" in text or "no space" in text or "disk full" in text:
        return N_("The directory's database has no disk space left, so nothing can be saved. "
                  "Nothing was changed; try again later.")
    return N_("The directory's database is not reachable right now. Please try again in a "
              "minute.")


#: Titles and plain explanations of the HTTP errors a visitor may meet, in their language
#: (werkzeug's own descriptions are English and technical).
TITLES = {400: _l("Bad request"), 403: _l("Forbidden"), 404: _l("Page not found"),
          405: _l("Method not allowed"), 413: _l("File too large"),
          429: _l("Too many requests"), 500: _l("Something went wrong"),
          503: _l("Temporarily unavailable")}
EXPLANATIONS = {
    403: _l("You do not have permission to see this page."),
    404: _l("There is no page at this address. It may have moved, or the link may be "
            "mistyped."),
    405: _l("This address does not accept that kind of request."),
    429: _l("Too many requests came from your connection in a short time. Wait a minute "
            "and try again."),
    500: _l("Something went wrong on our side. Please try again in a minute."),
}


def error_page(code: int, message, *, field: str | None = None, retry: str | None = None,
               title=None):
    """The HTML error page: ``title`` defaults to :data:`TITLES`; ``field`` (a search
    parameter) is named by its form label in the page's language."""
    label = None
    if field:
        from directory.web.forms import SearchForm

        unbound = getattr(SearchForm, field, None)
        label = str(unbound.args[0]) if unbound is not None and unbound.args else None
    return render_template("errors/error.html", code=code, title=title or TITLES.get(code),
                           field=field, field_label=label, message=message,
                           retry=retry), code


def register_error_handlers(app) -> None:
    """Render HTML error pages for HTTP errors, :class:`ParamError` (400), CSRF failures
    (400, with a way back to the form) and uploads over ``MAX_CONTENT_LENGTH`` (413)."""

    @app.errorhandler(ParamError)
    def bad_param(error: ParamError):
        return error_page(400, error.message, field=error.field)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        message = _("%(reason)s The form was not saved. Open it again and resubmit; nothing "
                    "was written.", reason=error.description)
        retry = request.path if request.method == "POST" else None
        return error_page(400, message, retry=retry, title=_("Form expired or invalid"))

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
        message = _("The file is too large: uploads are limited to %(limit)s. Split the file "
                    "or ask for a higher limit; nothing was written.",
                    limit=human_bytes(limit))
        return error_page(413, message, retry=request.path)

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
            response = current_app.make_response(error_page(503, _(message)))
        response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        default = type(error).description  # werkzeug's own text: ours instead
        message = error.description
        if message == default or not message:
            message = EXPLANATIONS.get(error.code, message)
        return error_page(error.code, message, title=TITLES.get(error.code, error.name))
