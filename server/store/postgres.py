"""PostgreSQL behind the storage interface: ``NEXTPAPER_DATABASE_URL=postgresql://…``.

:mod:`server.store.storage` speaks one SQL, written for both engines: ``?`` parameters, ``INSERT
… ON CONFLICT``, ``IS DISTINCT FROM``, window functions, and a ``rowid`` column where a table's
arrival order is read (SQLite's own rowid; here an identity column of that name). What a storage
function needs of a connection is small (``execute``, the transaction state, savepoints), and
:class:`PostgresDatabase` gives exactly that over a psycopg 3 connection, in the shape of the
``sqlite_utils.Database`` that SQLite deployments use: the same calls run on both.

Transactions behave as SQLite's do. The connection runs in autocommit mode and storage begins
and commits its own transactions. A write transaction takes one advisory lock for the whole
database at its start (``pg_advisory_xact_lock``), as SQLite's ``BEGIN IMMEDIATE`` takes its
write lock: writers queue instead of failing on each other's reads, and every read-then-write
in storage stays as safe as it is on SQLite; reads never wait. A read snapshot is ``REPEATABLE
READ``. A statement that fails inside a transaction spoils it in PostgreSQL, so storage puts
each unit that may fail alone in a savepoint (:meth:`PostgresDatabase.atomic`).

The schema is this module's :data:`MIGRATIONS`, named as SQLite's migrations are, so that a
database migrated by a newer NextPaper is refused the same way; every text column uses the
``C`` collation, so ids and stored times sort by their bytes, as in SQLite.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import pq

DIALECT = "postgresql"
MAX_PARAMETERS = 65_535  # PostgreSQL's limit on one statement's parameters
WRITE_LOCK = 0x4E5850  # the advisory lock key of write transactions ("NXP")
_STREAMS = itertools.count()  # names of server-side cursors


# ``?`` → ``%s`` outside quoted text, and a literal ``%`` doubled (psycopg's placeholders).
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"[^\"]*\"|\?|%")


@functools.lru_cache(maxsize=1024)
def _to_psycopg(sql: str) -> str:
    def swap(match: re.Match) -> str:
        token = match.group(0)
        return "%s" if token == "?" else "%%" if token == "%" else token

    return _TOKENS.sub(swap, sql)


class _Connection:
    """What storage uses of a ``sqlite3.Connection`` (``db.conn``), over psycopg."""

    def __init__(self, raw: psycopg.Connection):
        self.raw = raw
        self._savepoints = 0

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor:
        if params:
            return self.raw.execute(_to_psycopg(sql), params, prepare=False)
        return self.raw.execute(_to_psycopg(sql), prepare=False)

    def commit(self) -> None:
        if self.in_transaction:
            self.raw.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.raw.execute("ROLLBACK")


class PostgresDatabase:
    """One connection to a PostgreSQL database, used as storage uses a SQLite one."""

    dialect = DIALECT

    def __init__(self, url: str):
        self.url = url
        raw = psycopg.connect(url, autocommit=True)
        self.conn = _Connection(raw)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor:
        return self.conn.execute(sql, params)

    def stream(self, sql: str, params: Sequence[Any] | None = None) -> Iterator[tuple]:
        """The rows of a large query a batch at a time (a server-side cursor: a training reads
        millions of events without holding them all); inside a transaction only."""
        with self.conn.raw.cursor(name=f"nextpaper_stream_{next(_STREAMS)}") as cursor:
            cursor.itersize = 10_000
            cursor.execute(_to_psycopg(sql), params or None)
            yield from cursor

    def begin_write(self) -> None:
        """Begin a write transaction: one writer at a time (see the module docstring)."""
        self.conn.execute("BEGIN")
        self.conn.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")

    def begin_snapshot(self) -> None:
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """A savepoint inside the open transaction: undone alone if the block raises."""
        self.conn._savepoints += 1
        name = f"nextpaper_{self.conn._savepoints}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                self.conn.execute(f"RELEASE SAVEPOINT {name}")
            raise
        else:
            self.conn.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self.conn._savepoints -= 1

    def close(self) -> None:
        self.conn.raw.close()


# --- the schema -------------------------------------------------------------------------------

T = 'TEXT COLLATE "C"'

MIGRATIONS: list[tuple[str, list[str]]] = [
    (
        "0001_initial",
        [
            f"""CREATE TABLE users (
                user_id {T} PRIMARY KEY,
                is_admin INTEGER NOT NULL DEFAULT 0,
                created_at {T} NOT NULL)""",
            f"""CREATE TABLE tokens (
                rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                token_hash {T} PRIMARY KEY,
                user_id {T} NOT NULL REFERENCES users(user_id),
                created_at {T} NOT NULL,
                revoked_at {T})""",
            "CREATE INDEX tokens_user_id ON tokens(user_id)",
            f"""CREATE TABLE papers (
                rowid BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
                paper_id {T} PRIMARY KEY,
                title {T},
                abstract {T},
                authors {T},
                url {T},
                doi {T},
                arxiv_id {T},
                published {T},
                first_seen {T} NOT NULL)""",
            f"""CREATE TABLE events (
                seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                user_id {T} NOT NULL REFERENCES users(user_id),
                event_id {T} NOT NULL,
                type {T} NOT NULL,
                ts {T} NOT NULL,
                paper_id {T} NOT NULL REFERENCES papers(paper_id),
                dwell_ms BIGINT,
                received_at {T} NOT NULL,
                UNIQUE (user_id, event_id))""",
        ],
    ),
    ("0002_wal", []),  # SQLite's journal mode: nothing to do here
    (
        "0003_history_index",
        ["CREATE INDEX events_user_history ON events(user_id, seq, paper_id, type, dwell_ms)"],
    ),
    (
        "0004_catalog_version",
        [
            "CREATE TABLE catalog_version (version BIGINT NOT NULL)",
            "INSERT INTO catalog_version (version) VALUES (0)",
            """CREATE FUNCTION papers_move_catalog_version() RETURNS trigger AS $$
               BEGIN UPDATE catalog_version SET version = version + 1; RETURN NULL; END
               $$ LANGUAGE plpgsql""",
            """CREATE TRIGGER papers_update_moves_catalog_version AFTER UPDATE ON papers
               FOR EACH ROW EXECUTE FUNCTION papers_move_catalog_version()""",
            """CREATE TRIGGER papers_delete_moves_catalog_version AFTER DELETE ON papers
               FOR EACH ROW EXECUTE FUNCTION papers_move_catalog_version()""",
        ],
    ),
    (
        "0005_leaner_paper_inserts",
        [
            "CREATE INDEX papers_published ON papers(published) WHERE published IS NOT NULL",
            "CREATE INDEX papers_first_seen ON papers(first_seen) WHERE published IS NULL",
        ],
    ),
    (
        "0006_erasures",
        [
            "CREATE TABLE erasures (count BIGINT NOT NULL)",
            "INSERT INTO erasures (count) VALUES (0)",
        ],
    ),
    (
        "0007_arxiv_sync",
        [
            f"ALTER TABLE papers ADD COLUMN categories {T}",
            f"CREATE TABLE sync_state (name {T} PRIMARY KEY, value {T} NOT NULL)",
        ],
    ),
    (
        "0008_digests",
        [
            f"ALTER TABLE users ADD COLUMN email {T}",
            f"""ALTER TABLE users ADD COLUMN digest {T} NOT NULL DEFAULT 'off'
                CHECK (digest IN ('off', 'daily', 'weekly'))""",
            f"ALTER TABLE users ADD COLUMN feed_nonce {T}",
            f"ALTER TABLE users ADD COLUMN feed_secret_hash {T}",
            "CREATE UNIQUE INDEX users_feed_secret_hash ON users(feed_secret_hash)",
            f"""CREATE TABLE digest_sends (
                user_id {T} NOT NULL REFERENCES users(user_id),
                period {T} NOT NULL,
                status {T} NOT NULL CHECK (status IN ('sending', 'sent')),
                claimed_at {T} NOT NULL,
                sent_at {T},
                paper_ids {T},
                PRIMARY KEY (user_id, period))""",
            "CREATE INDEX digest_sends_claimed_at ON digest_sends(claimed_at)",
        ],
    ),
    (
        "0009_web_sessions",
        [
            f"""CREATE TABLE web_sessions (
                session_hash {T} PRIMARY KEY,
                user_id {T} NOT NULL REFERENCES users(user_id),
                created_at {T} NOT NULL,
                ended_at {T})""",
            "CREATE INDEX web_sessions_user_id ON web_sessions(user_id)",
            f"""CREATE TABLE login_links_used (
                nonce_hash {T} PRIMARY KEY,
                user_id {T} NOT NULL REFERENCES users(user_id),
                used_at {T} NOT NULL)""",
            "CREATE INDEX login_links_used_at ON login_links_used(used_at)",
        ],
    ),
]


def applied_migrations(db: PostgresDatabase) -> list[str]:
    db.execute(
        f"""CREATE TABLE IF NOT EXISTS _nextpaper_migrations (
            name {T} PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
    )
    return [row[0] for row in db.execute("SELECT name FROM _nextpaper_migrations")]


def migrate(db: PostgresDatabase) -> None:
    """Apply the migrations not applied yet, each in its own transaction, one process at a
    time (a session advisory lock: two servers starting at once do not race)."""
    db.execute(f"SELECT pg_advisory_lock({WRITE_LOCK} + 1)")
    try:
        done = set(applied_migrations(db))
        for name, statements in MIGRATIONS:
            if name in done:
                continue
            db.conn.execute("BEGIN")
            try:
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO _nextpaper_migrations (name) VALUES (?)", [name])
                db.conn.execute("COMMIT")
            except BaseException:
                db.conn.rollback()
                raise
    finally:
        db.execute(f"SELECT pg_advisory_unlock({WRITE_LOCK} + 1)")
