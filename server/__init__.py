"""NextPaper's backend: the Flask app factory.

``create_app()`` reads settings (defaults, then ``config.py`` in the home folder, then
``NEXTPAPER_*`` environment variables, or a test mapping), migrates the database, and wires the
API blueprint, the error shape, security and timing hooks, the served model and the trainer.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

DEFAULT_HOME = "instance"


def home_from_env() -> Path:
    return Path(os.environ.get("NEXTPAPER_HOME", DEFAULT_HOME)).resolve()


def create_app(test_config: dict | None = None) -> Flask:
    from .http import api, errors, security, timing
    from .jobs.training import Trainer
    from .model_versions import ModelStore
    from .serving.holder import ModelHolder
    from .serving.recommendations import ModelAnswers, PopularPapers, RecentPapers, ResponseBodies
    from .store.db import DB_FILENAME, Connections, close_db, open_database
    from .store.writer import EventWriter

    home = Path((test_config or {}).get("HOME") or home_from_env()).resolve()
    app = Flask(__name__, instance_path=str(home), instance_relative_config=True)
    app.config.from_mapping(
        HOME=str(home),
        DATABASE=str(home / DB_FILENAME),
        MODELS=str(home / "models"),
        MAX_CONTENT_LENGTH=1024 * 1024,
        MAX_BATCH_EVENTS=1000,
        RATE_LIMIT_PER_SECOND=500,
        RATE_LIMIT_BURST=1000,
        CORS_ORIGINS=[],
        RETRAIN_EVENTS=1000,
        RETRAIN_MINUTES=60,
        MODEL_CHECK_SECONDS=0.5,
        JSON_SORT_KEYS=False,
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("NEXTPAPER")
    else:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False
    app.json.ensure_ascii = False

    home.mkdir(parents=True, exist_ok=True)
    open_database(app.config["DATABASE"]).close()

    store = ModelStore(app.config["MODELS"])
    app.extensions["nextpaper.models"] = ModelHolder(
        store, _load_model, check_seconds=float(app.config["MODEL_CHECK_SECONDS"])
    )
    app.extensions["nextpaper.trainer"] = Trainer(home)
    app.extensions["nextpaper.popular"] = PopularPapers()
    app.extensions["nextpaper.recent"] = RecentPapers()
    app.extensions["nextpaper.answers"] = ModelAnswers()
    app.extensions["nextpaper.bodies"] = ResponseBodies()
    app.extensions["nextpaper.writer"] = EventWriter(app.config["DATABASE"])
    app.extensions["nextpaper.connections"] = Connections(app.config["DATABASE"])

    errors.register_error_handlers(app)
    timing.install(app)  # first: after_request hooks run last-registered first
    security.install(app)
    app.teardown_appcontext(close_db)
    app.register_blueprint(api.bp)
    return app


def _load_model(folder: Path):
    from recommender import HybridRecommender

    return HybridRecommender.load(folder)
