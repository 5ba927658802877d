"""Settings: one place that knows every setting's default and where overrides come from.

Defaults below, then ``config.py`` in the home folder, then ``NEXTPAPER_*`` environment
variables (JSON values parsed as Flask's ``from_prefixed_env`` does); tests pass a mapping
instead of the last two. The app factory and every CLI command read settings through
:func:`load`, so a command and the server it runs beside always agree.

The home folder itself is found by :func:`resolve_home`, also for both, so that a command run
from any folder reaches the database the server uses.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Config

from .store.db import DB_FILENAME

DEFAULTS: dict = {
    # storage: a PostgreSQL URL (postgresql://user:password@host/db), else HOME/nextpaper.db
    "DATABASE_URL": None,
    # HTTP
    "MAX_CONTENT_LENGTH": 1024 * 1024,
    "MAX_BATCH_EVENTS": 1000,
    "RATE_LIMIT_PER_SECOND": 500,
    "RATE_LIMIT_BURST": 1000,
    "CORS_ORIGINS": [],
    "JSON_SORT_KEYS": False,
    # training and serving
    "RETRAIN_EVENTS": 1000,
    "RETRAIN_MINUTES": 60,
    "MODEL_CHECK_SECONDS": 0.5,
    # the catalog's arXiv sync
    "ARXIV_CATEGORIES": [],
    "ARXIV_OAI_URL": "https://oaipmh.arxiv.org/oai",
    "ARXIV_REQUEST_INTERVAL": 3.0,
    "SYNC_TIME": "06:00",
    "SYNC_BACKFILL_DAYS": 7,
    # trending, digests and feeds
    "TRENDING_MIN_READERS": 2,
    "SMTP_HOST": "localhost",
    "SMTP_PORT": 25,
    "SMTP_STARTTLS": False,
    "SMTP_SSL": False,
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "MAIL_FROM": "NextPaper <nextpaper@localhost>",
    "PUBLIC_URL": "http://127.0.0.1:5000",
}


def resolve_home(explicit: str | os.PathLike | None = None) -> Path:
    """The home folder: ``explicit`` (``--home``), else ``NEXTPAPER_HOME``, else the per-user
    data folder (``~/.local/share/nextpaper`` on Linux), as an absolute path.

    Never the current folder: a command run from elsewhere would find (or make) another
    database than the server's. platformdirs knows each system's per-user data folder (XDG on
    Linux, ``Application Support`` on macOS, ``AppData`` on Windows), so we need not.
    """
    if not explicit:
        explicit = os.environ.get("NEXTPAPER_HOME") or None  # empty counts as unset
    if not explicit:
        import platformdirs

        explicit = platformdirs.user_data_dir("nextpaper", appauthor=False)
    return Path(explicit).expanduser().resolve()


def load(home: Path, overrides: dict | None = None) -> Config:
    """Settings for ``home``: defaults, then ``config.py`` and ``NEXTPAPER_*``, or ``overrides``.

    ``overrides`` (tests) replaces the file and the environment, so a test never reads the
    machine's own configuration.
    """
    home = Path(home).resolve()
    config = Config(str(home))
    config.from_mapping(DEFAULTS)
    config.from_mapping(
        HOME=str(home), DATABASE=str(home / DB_FILENAME), MODELS=str(home / "models")
    )
    if overrides is None:
        config.from_pyfile("config.py", silent=True)
        config.from_prefixed_env("NEXTPAPER")
    else:
        config.from_mapping(overrides)
    if config.get("DATABASE_URL"):
        from .store.db import is_postgres

        if not is_postgres(config["DATABASE_URL"]):
            raise ValueError(
                f"DATABASE_URL must be a postgresql:// URL, not {config['DATABASE_URL']!r}"
            )
        config["DATABASE"] = config["DATABASE_URL"]  # what every part opens
    return config
