"""NextPaper's backend: the Flask app factory.

``create_app()`` finds its home and reads settings (:mod:`server.settings`, the same way as
every CLI command), migrates the database, builds the app's long-lived parts once
(:class:`Parts`: serving, the event writer, the trainer, the connections, the rate limiter)
and wires the API blueprint, the web app (:mod:`server.web`), the
error shape, and the security and timing hooks. Code that runs in a request reaches the parts
through :func:`parts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from .http.security import RateLimiter
    from .jobs.training import Trainer
    from .serving.service import Serving
    from .store.db import Connections
    from .store.writer import EventWriter


@dataclass
class Parts:
    """The objects an app keeps for its whole life, built once by :func:`create_app`."""

    serving: Serving
    writer: EventWriter
    trainer: Trainer
    connections: Connections
    rate_limiter: RateLimiter


def parts() -> Parts:
    """The current app's :class:`Parts`."""
    return current_app.extensions["nextpaper"]


def create_app(test_config: dict | None = None) -> Flask:
    from . import settings, web
    from .http import api, errors, feeds, links, security, timing
    from .jobs.training import Trainer
    from .serving.service import Serving
    from .store.db import Connections, close_db, open_database
    from .store.writer import EventWriter

    home = settings.resolve_home((test_config or {}).get("HOME"))
    app = Flask(__name__, instance_path=str(home), instance_relative_config=True)
    app.config.update(settings.load(home, test_config))
    app.json.sort_keys = False
    app.json.ensure_ascii = False

    home.mkdir(parents=True, exist_ok=True)
    open_database(app.config["DATABASE"]).close()

    app.extensions["nextpaper"] = Parts(
        serving=Serving(
            app.config["MODELS"],
            float(app.config["MODEL_CHECK_SECONDS"]),
            trending_min_readers=int(app.config["TRENDING_MIN_READERS"]),
        ),
        writer=EventWriter(app.config["DATABASE"]),
        trainer=Trainer(home, app.config["MODELS"]),
        connections=Connections(app.config["DATABASE"]),
        rate_limiter=security.rate_limiter(app.config),
    )
    errors.register_error_handlers(app)
    timing.install(app)  # first: after_request hooks run last-registered first
    security.install(app)
    app.teardown_appcontext(close_db)
    app.register_blueprint(api.bp)
    app.register_blueprint(feeds.bp)  # /feeds/<secret>.atom
    app.register_blueprint(links.bp)  # /l/<signed>: digests' one-click links
    web.install(app)  # the pages at /: session key and cookie, CSRF, HTML error pages
    return app
