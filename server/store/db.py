"""Opening the database and migrating its schema: a SQLite file, or PostgreSQL by URL.

A database is named by a path (SQLite, the default: ``HOME/nextpaper.db``) or by a
``postgresql://`` URL (``DATABASE_URL``; :mod:`server.store.postgres`). This module owns the
connection settings every process uses with SQLite (WAL, full fsync on commit, busy timeout)
and SQLite's ordered list of schema migrations (PostgreSQL's, of the same names, are beside its
connection code). Nothing else in the project creates tables.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

DB_FILENAME = "nextpaper.db"
BUSY_TIMEOUT_MS = 10_000

migrations = Migrations("nextpaper")
_known: list[str] = []


def _migration(name: str, transactional: bool = True):
    """Register a migration and remember its name, to recognise a newer database."""
    _known.append(name)
    return migrations(name=name, transactional=transactional)


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer NextPaper than this one."""


@_migration("0001_initial")
def _initial(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE users (
            user_id TEXT PRIMARY KEY,
            is_admin INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE tokens (
            token_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(user_id),
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )"""
    )
    db.execute("CREATE INDEX tokens_user_id ON tokens(user_id)")
    db.execute(
        """
        CREATE TABLE papers (
            paper_id TEXT PRIMARY KEY,
            title TEXT,
            abstract TEXT,
            authors TEXT,
            url TEXT,
            doi TEXT,
            arxiv_id TEXT,
            published TEXT,
            first_seen TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX papers_published ON papers(published)")
    db.execute("CREATE INDEX papers_first_seen ON papers(first_seen)")
    db.execute(
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(user_id),
            event_id TEXT NOT NULL,
            type TEXT NOT NULL,
            ts TEXT NOT NULL,
            paper_id TEXT NOT NULL REFERENCES papers(paper_id),
            dwell_ms INTEGER,
            received_at TEXT NOT NULL,
            UNIQUE (user_id, event_id)
        )"""
    )
    db.execute("CREATE INDEX events_user_seq ON events(user_id, seq)")
    db.execute("CREATE INDEX events_paper_id ON events(paper_id)")


@_migration("0002_wal", transactional=False)
def _wal(db: sqlite_utils.Database) -> None:
    db.enable_wal()


@_migration("0003_history_index")
def _history_index(db: sqlite_utils.Database) -> None:
    # A user's history is read on every recommendation: cover it with one index, and drop the
    # per-paper index, which only the (cached) reader count used and every insert paid for.
    db.execute("DROP INDEX events_user_seq")
    db.execute("DROP INDEX events_paper_id")
    db.execute("CREATE INDEX events_user_history ON events(user_id, seq, paper_id, type, dwell_ms)")


@_migration("0004_catalog_version")
def _catalog_version(db: sqlite_utils.Database) -> None:
    # A number that moves on every change to a paper row, whichever process makes it: kept
    # response bodies name the catalog they were rendered from (server/serving/caches.py).
    db.execute("CREATE TABLE catalog_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO catalog_version (version) VALUES (0)")
    for action in ("INSERT", "UPDATE", "DELETE"):
        db.execute(
            f"""CREATE TRIGGER papers_{action.lower()}_moves_catalog_version
                AFTER {action} ON papers
                BEGIN UPDATE catalog_version SET version = version + 1; END"""
        )


@_migration("0005_leaner_paper_inserts")
def _leaner_paper_inserts(db: sqlite_utils.Database) -> None:
    # Each new paper paid for an update of catalog_version and an entry in both date indexes,
    # half of what inserting the row itself costs. An addition always raises the newest rowid
    # (storage.catalog_version reads it), so only changes and removals need the trigger. Every
    # query by date reads dated papers by ``published`` and undated ones by ``first_seen``, so
    # each index holds only its own half.
    db.execute("DROP TRIGGER papers_insert_moves_catalog_version")
    db.execute("DROP INDEX papers_published")
    db.execute("CREATE INDEX papers_published ON papers(published) WHERE published IS NOT NULL")
    db.execute("DROP INDEX papers_first_seen")
    db.execute("CREATE INDEX papers_first_seen ON papers(first_seen) WHERE published IS NULL")


@_migration("0006_erasures")
def _erasures(db: sqlite_utils.Database) -> None:
    # How many histories were erased: a model trained before an erasure still holds the
    # erased reading, so the retrain scheduler compares this with the model's (cheaper than
    # counting events).
    db.execute("CREATE TABLE erasures (count INTEGER NOT NULL)")
    db.execute("INSERT INTO erasures (count) VALUES (0)")


def is_postgres(target: object) -> bool:
    """Whether ``target`` (a path or URL) names a PostgreSQL database."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def dialect(db: Any) -> str:
    """``"sqlite"`` or ``"postgresql"``: which engine a connection speaks to."""
    return getattr(db, "dialect", "sqlite")


def database_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a failing database raises, whichever engine it is."""
    try:
        import psycopg
    except ImportError:
        return (sqlite3.Error,)
    return (sqlite3.Error, psycopg.Error)


def connect(path: str | Path) -> sqlite_utils.Database:
    """Open the database with the settings every NextPaper process uses (a ``postgresql://``
    URL opens a :class:`~server.store.postgres.PostgresDatabase` instead).

    ``synchronous=FULL`` makes a commit durable before it returns, so an event is only
    acknowledged once it would survive a crash of the process or the machine.
    """
    if is_postgres(path):
        from .postgres import PostgresDatabase

        return PostgresDatabase(str(path))
    conn = sqlite3.connect(
        str(path),
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
        isolation_level=None,  # no implicit transactions: storage begins and commits its own
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return sqlite_utils.Database(conn)


def migrate(db: sqlite_utils.Database) -> None:
    """Bring the schema up to date; refuse a database migrated by a newer release."""
    if dialect(db) == "postgresql":
        from . import postgres

        known = [name for name, _ in postgres.MIGRATIONS]
        applied = set(postgres.applied_migrations(db))
    else:
        known = _known
        applied = {m.name for m in migrations.applied(db)}
    unknown = sorted(applied - set(known))
    if unknown:
        raise SchemaTooNew(
            f"the database has schema migrations this version does not know "
            f"({', '.join(unknown)}): upgrade NextPaper before opening it"
        )
    if dialect(db) == "postgresql":
        postgres.migrate(db)
    else:
        migrations.apply(db)


def open_database(path: str | Path) -> sqlite_utils.Database:
    """Connect and migrate: what every command and the server call on start."""
    if not is_postgres(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = connect(path)
    try:
        migrate(db)
    except BaseException:
        db.close()
        raise
    return db


class Connections:
    """One connection per server thread, kept from request to request.

    Opening a connection and setting its pragmas costs as much as the rest of a one-event
    POST; waitress's threads live as long as the server, so each keeps its own. A
    request that ends inside a transaction (an error mid-write) has it rolled back.
    """

    def __init__(self, path: str | Path):
        self.path = path
        self._local = threading.local()
        self._opened: list[sqlite_utils.Database] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = connect(self.path)
            with self._lock:
                self._opened.append(db)
        return db

    def release(self, db: sqlite_utils.Database) -> None:
        if db.conn.in_transaction:
            db.conn.rollback()

    def close(self) -> None:
        """Close every connection opened (when the app is done: tests, a stopping worker)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()


def get_db() -> sqlite_utils.Database:
    """This thread's connection (see :class:`Connections`), for the current request."""
    from flask import current_app, g

    if "db" not in g:
        g.db = current_app.extensions["nextpaper"].connections.get()
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    from flask import current_app, g

    db = g.pop("db", None)
    if db is not None:
        current_app.extensions["nextpaper"].connections.release(db)


@_migration("0007_arxiv_sync")
def _arxiv_sync(db: sqlite_utils.Database) -> None:
    # A paper's arXiv categories (a JSON list of strings, like ``authors``), and where each
    # harvest of arXiv's OAI-PMH interface resumes (server/jobs/sync.py).
    db.execute("ALTER TABLE papers ADD COLUMN categories TEXT")
    db.execute("CREATE TABLE sync_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)")


@_migration("0008_digests")
def _digests(db: sqlite_utils.Database) -> None:
    # A user's email digest settings; their Atom feed's secret, kept as its SHA-256 (the URL is
    # checked against it, a leaked database does not give the feeds away) beside the random
    # nonce the secret is derived from with the home's key (server/signing.py), so that
    # `nextpaper users feed-url` can print the same URL again; and the log of digests claimed
    # and sent, one row per user and period (`daily:2026-12-07`, `weekly:2026-W50`), which
    # makes a second run, or a restarted one, send nobody a second copy (server/jobs/digest.py).
    db.execute("ALTER TABLE users ADD COLUMN email TEXT")
    db.execute(
        "ALTER TABLE users ADD COLUMN digest TEXT NOT NULL DEFAULT 'off' "
        "CHECK (digest IN ('off', 'daily', 'weekly'))"
    )
    db.execute("ALTER TABLE users ADD COLUMN feed_nonce TEXT")
    db.execute("ALTER TABLE users ADD COLUMN feed_secret_hash TEXT")
    db.execute("CREATE UNIQUE INDEX users_feed_secret_hash ON users(feed_secret_hash)")
    db.execute(
        """
        CREATE TABLE digest_sends (
            user_id TEXT NOT NULL REFERENCES users(user_id),
            period TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('sending', 'sent')),
            claimed_at TEXT NOT NULL,
            sent_at TEXT,
            paper_ids TEXT,
            PRIMARY KEY (user_id, period)
        )"""
    )
    db.execute("CREATE INDEX digest_sends_claimed_at ON digest_sends(claimed_at)")


@_migration("0009_web_sessions")
def _web_sessions(db: sqlite_utils.Database) -> None:
    # The web app's sign-ins (server/web/): each session's SHA-256 (the cookie carries the
    # random session id, so a leaked database signs nobody in), ended by signing out or by
    # revoking the user's tokens; and the one-time sign-in links already used, by the SHA-256
    # of their nonce, so that a link works once (kept a day, longer than a link lives).
    db.execute(
        """
        CREATE TABLE web_sessions (
            session_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(user_id),
            created_at TEXT NOT NULL,
            ended_at TEXT
        )"""
    )
    db.execute("CREATE INDEX web_sessions_user_id ON web_sessions(user_id)")
    db.execute(
        """
        CREATE TABLE login_links_used (
            nonce_hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(user_id),
            used_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX login_links_used_at ON login_links_used(used_at)")
