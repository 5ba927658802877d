"""Protections every response gets: security headers, CORS for the extension, rate limits,
and a refusal of URLs that hold a NUL character.

CORS answers only the extension's own origins (``chrome-extension://…``, ``moz-extension://…``)
and the origins listed in the ``CORS_ORIGINS`` setting. Rate limits are a token bucket per API
token, kept in memory (per server process: with ``serve --workers N`` a token may make N times
the rate). A NUL character (``%00``) in a URL's path or query names nothing stored (stored text
holds none, and PostgreSQL cannot even compare with it): such a request is a 400 before any
route sees it.
"""

from __future__ import annotations

import re
import threading
import time

from flask import Flask, request
from werkzeug.exceptions import BadRequest

from .errors import ApiError

# Matched with fullmatch: ``$`` would also accept a trailing newline, which then breaks the header.
EXTENSION_ORIGIN = re.compile(
    r"chrome-extension://[a-p]{32}"
    r"|moz-extension://[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
CORS_METHODS = "GET, POST, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type"


class RateLimiter:
    """A token bucket per API token: ``rate`` requests a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Count one request for ``key``; raise a 429 ApiError when over the limit."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        with self._lock:
            tokens, stamp = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - stamp) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                retry = max(1, int((1.0 - tokens) / self.rate + 0.999))
                raise ApiError(
                    "rate_limited",
                    f"Too many requests with this token; retry in {retry} s.",
                    429,
                    {"Retry-After": str(retry)},
                )
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle tokens rather than grow forever
                self._buckets.clear()


def configured_origins(value) -> frozenset[str]:
    """The ``CORS_ORIGINS`` setting as a set of exact origins.

    A list is taken as is; a string (``NEXTPAPER_CORS_ORIGINS=https://a.example`` is not JSON, so
    it stays a string) is split on commas and spaces. Never a substring test: with a string,
    ``origin in configured`` would let ``https://a.exam`` through.
    """
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return frozenset(
        str(origin).strip().rstrip("/") for origin in value or () if str(origin).strip()
    )


def allowed_origin(origin: str, configured) -> bool:
    if EXTENSION_ORIGIN.fullmatch(origin):
        return True
    if not isinstance(configured, frozenset):
        configured = configured_origins(configured)
    return origin in configured


def rate_limiter(config) -> RateLimiter:
    """The per-token rate limiter the settings ask for."""
    return RateLimiter(float(config["RATE_LIMIT_PER_SECOND"]), int(config["RATE_LIMIT_BURST"]))


def install(app: Flask) -> None:
    """Register the request and response hooks on ``app``."""

    @app.before_request
    def _no_nul():
        if "\x00" in request.path or b"%00" in request.query_string:
            raise BadRequest("The URL holds a NUL character (%00).")

    @app.after_request
    def _headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if origin and allowed_origin(origin, app.config["CORS_ORIGINS"]):
            response.headers["Access-Control-Allow-Origin"] = origin
            if request.method == "OPTIONS":
                response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
                response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
                response.headers["Access-Control-Max-Age"] = "600"
        return response
