"""HTML error pages for everything a browser opens, the API's JSON error shape for the rest.

The API (``/api/…``), the Atom feeds (``/feeds/…``, read by feed readers) and the digests'
one-click links (``/l/…``, which choose a page or JSON themselves) keep the one JSON error
shape of :mod:`server.http.errors` for routing errors and crashes: :func:`install` wraps the
handlers registered there and hands them those paths. Every other path (the pages, a mistyped
address, a form that failed its CSRF check) gets a page in the site's look with a link home.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from . import apply_page_headers

log = logging.getLogger(__name__)

JSON_PREFIXES = ("/api/", "/feeds/", "/l/")
TITLES = {
    400: "That request was not right",
    403: "That form cannot be sent",
    404: "Page not found",
    405: "Not allowed here",
    410: "That link no longer works",
    413: "That upload is too large",
    500: "Something went wrong",
}
CSRF_MESSAGE = (
    "The form was missing its security token, or it came from another site or an old session. "
    "Go back, reload the page and try again."
)


def _wants_page() -> bool:
    path = request.path
    return not (path.startswith(JSON_PREFIXES) or f"{path}/" in JSON_PREFIXES)


def page(status: int, message: str, headers: dict[str, str] | None = None):
    """An error page: the status, what went wrong in words, and a way home."""
    body = render_template(
        "error.html",
        status=status,
        title=TITLES.get(status, "Something went wrong" if status >= 500 else "Not possible"),
        message=message,
    )
    # the reader is shown only when already known: an error page queries nothing
    response = apply_page_headers(
        current_app.response_class(body, status=status, mimetype="text/html")
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def install(app: Flask) -> None:
    """Wrap the app's JSON error handlers (:func:`server.http.errors.register_error_handlers`
    runs first) so that page paths get HTML."""
    handlers = app.error_handler_spec[None][None]
    json_http_error = handlers[HTTPException]
    json_crash = handlers[Exception]

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return page(403, CSRF_MESSAGE)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if not _wants_page():
            return json_http_error(error)
        status = error.code or 500
        headers = {}
        if status == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return page(status, error.description or error.name, headers)

    @app.errorhandler(Exception)
    def _crash(error: Exception):
        if not _wants_page():
            return json_crash(error)
        log.exception("unhandled error on a page")
        return page(500, "The server failed while making this page; its log says why.")
