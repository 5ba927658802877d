"""``Server-Timing`` on every response: the time the app spent on it, for clients that measure.

A client sees its request's whole latency: the network, the WSGI server's queue and the app's
work together. Each response says how much of that was the app's, from the request reaching
Flask to its response being ready (``Server-Timing: app;dur=<ms>``, W3C Server Timing), so a
load generator can tell the server's time from waiting: the fold-in budget is stated in server
time, and ``bench/serve.py`` reports it from this header.
"""

from __future__ import annotations

import time

from flask import Flask, g


def install(app: Flask) -> None:
    """Register the hooks that time each request on ``app`` (before any other response hook,
    so that the time includes theirs)."""

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _stamp(response):
        started = g.get("started")
        if started is not None:
            took = 1000 * (time.perf_counter() - started)
            response.headers["Server-Timing"] = f"app;dur={took:.2f}"
        return response
