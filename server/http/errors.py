"""The one error shape of the HTTP API, and the handlers that give every error that shape.

``{"error": {"code": "<stable_snake_case>", "message": "<for people>", "status": <int>}}`` —
for errors raised by views (:class:`ApiError`), routing 404/405, oversize bodies and crashes.
"""

from __future__ import annotations

import json
import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# Stable codes for werkzeug's own HTTP errors (routing, body size, methods).
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "rate_limited",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
}


class ApiError(Exception):
    """An error a view reports to the client: a stable ``code``, a message and a status."""

    def __init__(self, code: str, message: str, status: int = 400, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.headers = headers or {}


def error_response(code: str, message: str, status: int, headers=None):
    response = jsonify({"error": {"code": code, "message": message, "status": status}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def server_error(status: int, reason: str, detail: str = "") -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body, in the API's error shape, of an error the WSGI server answers by
    itself (the request never reached the app)."""
    from .security import SECURITY_HEADERS

    code = _HTTP_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    message = f"{reason}: {detail}" if detail else reason
    body = json.dumps({"error": {"code": code, "message": message, "status": status}})
    return [("Content-Type", "application/json"), *SECURITY_HEADERS.items()], body.encode()


def install_waitress_error_shape() -> None:
    """Give the errors waitress answers by itself the API's shape and security headers.

    Waitress refuses some requests before the app sees them (a malformed request line, a bad
    ``Content-Length`` or chunk size, headers over its limit) with a plain-text page. This makes
    those answers ``{"error": {...}}`` too. Idempotent; does nothing without waitress.
    """
    try:
        from waitress import utilities
    except ImportError:  # pragma: no cover - waitress is a dependency
        return
    if getattr(utilities.Error.to_response, "nextpaper", False):
        return

    def to_response(self, ident=None):
        status = int(self.code)
        headers, body = server_error(status, self.reason, self.body)
        return f"{status} {self.reason}", headers, body

    to_response.nextpaper = True  # type: ignore[attr-defined]
    utilities.Error.to_response = to_response


def register_error_handlers(app: Flask) -> None:
    install_waitress_error_shape()

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.code, error.message, error.status, error.headers)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        status = error.code or 500
        headers = {}
        if status == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        return error_response(
            _HTTP_CODES.get(status, "http_error"), error.description or error.name, status, headers
        )

    @app.errorhandler(Exception)
    def _crash(error: Exception):
        log.exception("unhandled error")
        return error_response("internal_error", "The server failed; see its log.", 500)
