"""Error pages: bad parameters are a 400 naming the field; nothing user-caused is a 500."""

from __future__ import annotations

from flask import render_template
from werkzeug.exceptions import HTTPException

from directory.params import ParamError


def register_error_handlers(app) -> None:
    """Render HTML error pages for HTTP errors and :class:`ParamError` (400)."""

    @app.errorhandler(ParamError)
    def bad_param(error: ParamError):
        return render_template("errors/error.html", code=400, title="Bad request",
                               field=error.field, message=error.message), 400

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return render_template("errors/error.html", code=error.code, title=error.name,
                               field=None, message=error.description), error.code
