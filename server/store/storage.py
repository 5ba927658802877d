"""Everything NextPaper stores, and the only module that speaks SQL.

Users and their hashed API tokens, the paper catalog (keyed by canonical ``paper_id``) and the
event log (unique per ``(user_id, event_id)``). Callers pass plain dicts and get plain dicts or
tuples back; no Flask here, so the CLI, the trainer and the API share it.

One SQL for SQLite and PostgreSQL (:mod:`server.store.postgres` says which constructs, and
how transactions match); the few places that differ ask :func:`~server.store.db.dialect`.
"""

from __future__ import annotations

import functools
import itertools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlite_utils

from .db import dialect


@contextmanager
def snapshot(db: sqlite_utils.Database) -> Iterator[None]:
    """A read transaction: every query inside sees the database as of its first read."""
    if db.conn.in_transaction:
        yield
        return
    if dialect(db) == "postgresql":
        db.begin_snapshot()
    else:
        db.conn.execute("BEGIN")
    try:
        yield
    finally:
        if db.conn.in_transaction:
            db.conn.execute("COMMIT")


@contextmanager
def write_transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """A transaction that takes the write lock at its start (``BEGIN IMMEDIATE``).

    A deferred transaction that reads and then writes fails at once with "database is locked"
    when another process wrote in between, whatever the busy timeout; taking the lock first
    makes it wait its turn instead.
    """
    if db.conn.in_transaction:
        with db.atomic():
            yield
        return
    if dialect(db) == "postgresql":
        db.begin_write()  # one writer at a time, as in SQLite (server/store/postgres.py)
    else:
        db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.conn.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise


# Each row count is its own statement, and the sqlite3 module keeps 128 compiled per
# connection: the paper upsert's statements for 1 to 100 rows hold ~7 MiB, for 373 to 500 ~53.
MAX_ROWS_PER_STATEMENT = 100


def _insert_values(db: sqlite_utils.Database, statement: str, rows: Sequence[tuple]) -> int:
    """Run an ``INSERT ... VALUES (?, ...) ...`` statement for every row; return the rows changed.

    The rows go in as few statements as can be: one multi-row ``VALUES`` per chunk of at most
    :data:`MAX_ROWS_PER_STATEMENT` rows and SQLite's limit on parameters, where
    ``executemany`` steps the statement once per row. The sqlite3 module holds no GIL while
    SQLite runs a step but takes it back after each one: stepping row by row, the event writer
    queued behind the request threads once per row. It is atomic: if a row fails, no row of
    the call stays written.
    """
    if not rows:
        return 0
    limit = _max_parameters(db)
    per = max(1, min(MAX_ROWS_PER_STATEMENT, limit // len(rows[0])))
    if len(rows) <= per:  # one statement, which SQLite undoes by itself when it fails
        return _insert_chunk(db, statement, rows)
    with write_transaction(db):  # several, undone together
        return sum(
            _insert_chunk(db, statement, rows[start : start + per])
            for start in range(0, len(rows), per)
        )


def _stream(db: sqlite_utils.Database, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple]:
    """The rows of a query that may be large, without all of them in memory at once (SQLite's
    cursor steps as it is read; PostgreSQL's needs a server-side cursor, in a transaction)."""
    if dialect(db) == "postgresql" and db.conn.in_transaction:
        yield from db.stream(sql, params)
    else:
        yield from db.execute(sql, params)


def _max_parameters(db: sqlite_utils.Database) -> int:
    """How many parameters one statement may bind."""
    if dialect(db) == "postgresql":
        from .postgres import MAX_PARAMETERS

        return MAX_PARAMETERS
    return db.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


def _insert_chunk(db: sqlite_utils.Database, statement: str, rows: Sequence[tuple]) -> int:
    params = list(itertools.chain.from_iterable(rows))
    return db.conn.execute(_many_rows(statement, len(rows)), params).rowcount


@functools.lru_cache(maxsize=512)
def _many_rows(statement: str, count: int) -> str:
    """``statement`` with its one ``VALUES (...)`` row repeated ``count`` times."""
    head, _, rest = statement.partition("VALUES (")
    row, _, tail = rest.partition(")")
    return f"{head}VALUES {', '.join([f'({row})'] * count)}{tail}"


PAPER_FIELDS = ("title", "abstract", "authors", "url", "doi", "arxiv_id", "published", "categories")
# The recommender's twin is recommender.interactions.EVENT_TYPES (a test keeps them equal).
EVENT_TYPES = ("open", "read", "like", "dismiss", "save", "unlike", "unsave", "undismiss")


class UserExists(ValueError):
    """A user with that ``user_id`` is already stored."""


# How times are stored: UTC to the microsecond, so that they sort as text.
STORED_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def stored_time(moment: datetime) -> str:
    """``moment`` (aware) as times are stored: ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC."""
    return moment.astimezone(UTC).strftime(STORED_TIME)


def now_iso() -> str:
    """The current time as times are stored."""
    return stored_time(datetime.now(UTC))


# --- users and tokens -------------------------------------------------------------------------


def create_user(db: sqlite_utils.Database, user_id: str, *, is_admin: bool = False) -> None:
    """Store a new user; raise :class:`UserExists` when the name is taken."""
    with write_transaction(db):
        if db.execute("SELECT 1 FROM users WHERE user_id = ?", [user_id]).fetchone():
            raise UserExists(f"user {user_id!r} already exists")
        db.execute(
            "INSERT INTO users (user_id, is_admin, created_at) VALUES (?, ?, ?)",
            [user_id, int(is_admin), now_iso()],
        )


def get_user(db: sqlite_utils.Database, user_id: str) -> dict[str, Any] | None:
    """The account (``user_id``, ``is_admin``, ``created_at``) and its settings (``email``,
    ``digest``); None for an unknown user."""
    row = db.execute(
        "SELECT user_id, is_admin, created_at, email, digest FROM users WHERE user_id = ?",
        [user_id],
    ).fetchone()
    if row is None:
        return None
    return {
        "user_id": row[0],
        "is_admin": bool(row[1]),
        "created_at": row[2],
        "email": row[3],
        "digest": row[4],
    }


def has_admin(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM users WHERE is_admin = 1 LIMIT 1").fetchone() is not None


def add_token(db: sqlite_utils.Database, user_id: str, token_hash: str) -> None:
    """Store the hash of a new API token for ``user_id`` (the token itself is never stored)."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO tokens (token_hash, user_id, created_at) VALUES (?, ?, ?)",
            [token_hash, user_id, now_iso()],
        )


def revoke_tokens(db: sqlite_utils.Database, user_id: str) -> int:
    """Revoke every live token of ``user_id`` and end their web sessions (however they signed
    in); return how many tokens were revoked."""
    with write_transaction(db):
        now = now_iso()
        cursor = db.execute(
            "UPDATE tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            [now, user_id],
        )
        db.execute(
            "UPDATE web_sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL",
            [now, user_id],
        )
        return cursor.rowcount


def user_for_token_hash(db: sqlite_utils.Database, token_hash: str) -> tuple[str, str, bool] | None:
    """``(stored token hash, user_id, is_admin)`` for a live token, else None."""
    row = db.execute(
        """SELECT tokens.token_hash, users.user_id, users.is_admin
           FROM tokens JOIN users ON users.user_id = tokens.user_id
           WHERE tokens.token_hash = ? AND tokens.revoked_at IS NULL""",
        [token_hash],
    ).fetchone()
    return None if row is None else (row[0], row[1], bool(row[2]))


# --- papers -----------------------------------------------------------------------------------

# A stored field is replaced only by something at least as rich: a non-empty title, a longer
# abstract or author list; identifiers, URL and date are filled in when still missing; arXiv
# categories are replaced by any non-empty list (arXiv reclassifies papers). The WHERE
# clause skips the update (and its write to disk) when it would change nothing, as for a paper
# opened again with the same metadata.
_UPSERT_PAPER = """
INSERT INTO papers
    (paper_id, title, abstract, authors, url, doi, arxiv_id, published, categories, first_seen)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (paper_id) DO UPDATE SET
    title = CASE WHEN length(coalesce(excluded.title, '')) > 0
                 THEN excluded.title ELSE papers.title END,
    abstract = CASE WHEN length(coalesce(excluded.abstract, ''))
                         > length(coalesce(papers.abstract, ''))
                    THEN excluded.abstract ELSE papers.abstract END,
    authors = CASE WHEN length(coalesce(excluded.authors, ''))
                        > length(coalesce(papers.authors, ''))
                   THEN excluded.authors ELSE papers.authors END,
    url = coalesce(papers.url, excluded.url),
    doi = coalesce(papers.doi, excluded.doi),
    arxiv_id = coalesce(papers.arxiv_id, excluded.arxiv_id),
    published = coalesce(papers.published, excluded.published),
    categories = coalesce(excluded.categories, papers.categories)
WHERE (length(coalesce(excluded.title, '')) > 0 AND excluded.title IS DISTINCT FROM papers.title)
   OR length(coalesce(excluded.abstract, '')) > length(coalesce(papers.abstract, ''))
   OR length(coalesce(excluded.authors, '')) > length(coalesce(papers.authors, ''))
   OR (papers.url IS NULL AND excluded.url IS NOT NULL)
   OR (papers.doi IS NULL AND excluded.doi IS NOT NULL)
   OR (papers.arxiv_id IS NULL AND excluded.arxiv_id IS NOT NULL)
   OR (papers.published IS NULL AND excluded.published IS NOT NULL)
   OR (excluded.categories IS NOT NULL AND excluded.categories IS DISTINCT FROM papers.categories)
"""


# json.dumps with an option builds a new encoder on every call; this one is built once.
authors_json = json.JSONEncoder(ensure_ascii=False).encode


def paper_row(paper: dict[str, Any]) -> tuple:
    """A paper dict → its row for :func:`record_event_rows`: ``(paper_id, title, abstract,
    authors as JSON, url, doi, arxiv_id, published, categories as JSON)``, with empty values as
    None."""
    authors = paper.get("authors")
    categories = paper.get("categories")
    return (
        paper["paper_id"],
        paper.get("title") or None,
        paper.get("abstract") or None,
        authors_json(authors) if authors else None,
        paper.get("url") or None,
        paper.get("doi") or None,
        paper.get("arxiv_id") or None,
        paper.get("published") or None,
        authors_json(categories) if categories else None,
    )


def _upsert_paper_rows(db: sqlite_utils.Database, rows: Iterable[tuple]) -> None:
    first_seen = now_iso()
    rows = [(*row, first_seen) for row in rows]
    if dialect(db) == "sqlite":
        _insert_values(db, _UPSERT_PAPER, rows)
        return
    # One PostgreSQL statement may not update a row twice: a paper given again (an open and
    # its read, each with the paper) goes to a later statement, in order.
    while rows:
        seen: set[str] = set()
        now, later = [], []
        for row in rows:
            (later if row[0] in seen else now).append(row)
            seen.add(row[0])
        _insert_values(db, _UPSERT_PAPER, now)
        rows = later


def _upsert_papers(db: sqlite_utils.Database, papers: Iterable[dict[str, Any]]) -> None:
    _upsert_paper_rows(db, (paper_row(p) for p in papers))


def upsert_papers(db: sqlite_utils.Database, papers: Iterable[dict[str, Any]]) -> None:
    """Insert papers or enrich the stored ones, in one transaction.

    Each paper is a dict with ``paper_id`` and any of :data:`PAPER_FIELDS`.
    """
    with write_transaction(db):
        _upsert_papers(db, papers)


_JSON_FIELDS = ("authors", "categories")  # lists of strings, stored as JSON text


def paper_from_row(row: Sequence[Any], fields: Sequence[str] = PAPER_FIELDS) -> dict[str, Any]:
    """The API's paper object from a ``papers`` row (``paper_id`` first, then ``fields``)."""
    paper: dict[str, Any] = {"id": row[0]}
    for name, value in zip(fields, row[1:], strict=True):
        if value is None:
            continue
        paper[name] = json.loads(value) if name in _JSON_FIELDS else value
    paper.setdefault("title", "")
    return paper


_PAPER_COLUMNS = "paper_id, " + ", ".join(PAPER_FIELDS)


def get_paper(db: sqlite_utils.Database, paper_id: str) -> dict[str, Any] | None:
    row = db.execute(
        f"SELECT {_PAPER_COLUMNS} FROM papers WHERE paper_id = ?", [paper_id]
    ).fetchone()
    return None if row is None else paper_from_row(row)


# What a list of papers by title needs (the title's link included): no abstract to read.
TITLE_FIELDS = ("title", "url", "doi", "arxiv_id")


# Lists of ids are bound in chunks: one statement takes only so many parameters.
_ID_CHUNK = 500


def _id_chunks(ids: Iterable[str]) -> Iterator[tuple[list[str], str]]:
    """The distinct ``ids``, in order, in chunks of at most ``_ID_CHUNK``, each with the
    placeholders of its ``IN (…)`` list."""
    distinct = list(dict.fromkeys(ids))
    for start in range(0, len(distinct), _ID_CHUNK):
        chunk = distinct[start : start + _ID_CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def get_papers(
    db: sqlite_utils.Database, paper_ids: Sequence[str], fields: Sequence[str] = PAPER_FIELDS
) -> dict[str, dict[str, Any]]:
    """Stored papers by id (ids not stored are simply absent), with ``fields`` of
    PAPER_FIELDS (e.g. TITLE_FIELDS: a list of fifty titles reads a fifth of the bytes)."""
    found: dict[str, dict[str, Any]] = {}
    columns = ", ".join(("paper_id", *fields))
    for chunk, marks in _id_chunks(paper_ids):
        for row in db.execute(f"SELECT {columns} FROM papers WHERE paper_id IN ({marks})", chunk):
            found[row[0]] = paper_from_row(row, fields)
    return found


_NEWEST_PAPER_ROWID = "SELECT coalesce(max(rowid), 0) FROM papers"


def database_path(db: sqlite_utils.Database) -> str:
    """The file (or PostgreSQL URL) behind a connection, for a worker thread that opens its
    own."""
    if dialect(db) == "postgresql":
        return db.url
    return db.execute("PRAGMA database_list").fetchone()[2]


def catalog_version(db: sqlite_utils.Database) -> tuple[int, int]:
    """A value that grows whenever any paper row is added, changed or removed, whichever
    process wrote it: ``(changes, catalog_mark)``. Triggers count changes and removals; an
    addition raises the newest rowid, and a rowid that a removal freed comes back only after
    the count moved."""
    return tuple(
        db.execute(f"SELECT version, ({_NEWEST_PAPER_ROWID}) FROM catalog_version").fetchone()
    )


def most_read_papers(db: sqlite_utils.Database, limit: int) -> list[tuple[str, int, str]]:
    """``(paper_id, readers, date)`` of the papers with the most distinct readers.

    ``date`` is the published date, or the day first seen when undated. This scans every
    event: callers cache it (see :class:`server.serving.popular.PopularPapers`).
    """
    return [
        tuple(row)
        for row in db.execute(
            """SELECT e.paper_id, count(DISTINCT e.user_id) AS readers,
                      coalesce(p.published, substr(p.first_seen, 1, 10))
               FROM events e JOIN papers p ON p.paper_id = e.paper_id
               WHERE e.type != 'dismiss'
               GROUP BY e.paper_id, p.published, p.first_seen
               ORDER BY readers DESC, 3 DESC, e.paper_id
               LIMIT ?""",
            [limit],
        )
    ]


def newest_papers(db: sqlite_utils.Database, limit: int, *, since: str | None = None) -> list[str]:
    """The most recently published papers (then undated ones by first seen), newest first."""
    floor = since or ""
    dated = [
        row[0]
        for row in db.execute(
            "SELECT paper_id FROM papers WHERE published >= ? "
            "ORDER BY published DESC, paper_id LIMIT ?",
            [floor, limit],
        )
    ]
    if len(dated) >= limit:
        return dated
    undated = db.execute(
        "SELECT paper_id FROM papers WHERE published IS NULL AND first_seen >= ? "
        "ORDER BY first_seen DESC, paper_id LIMIT ?",
        [floor, limit - len(dated)],
    )
    return dated + [row[0] for row in undated]


def count_papers(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM papers").fetchone()[0]


def iter_catalog(db: sqlite_utils.Database) -> Iterator[tuple[str, str, str, str | None]]:
    """``(paper_id, title, abstract, date)`` for every stored paper, in id order; ``date`` is
    the published date, or the day first seen when undated (what ``since`` filters on)."""
    yield from _stream(
        db,
        "SELECT paper_id, coalesce(title, ''), coalesce(abstract, ''), "
        "coalesce(published, substr(first_seen, 1, 10)) FROM papers ORDER BY paper_id",
    )


# --- events -----------------------------------------------------------------------------------


_INSERT_EVENT = """INSERT INTO events
    (user_id, event_id, type, ts, paper_id, dwell_ms, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT DO NOTHING"""


def event_row(event: dict[str, Any]) -> tuple:
    """An event dict → its row for :func:`record_event_rows`: ``(event_id, type, ts, paper_id,
    dwell_ms)``."""
    return (event["event_id"], event["type"], event["ts"], event["paper_id"], event["dwell_ms"])


def _insert_events(db: sqlite_utils.Database, events: Iterable[dict[str, Any]]) -> int:
    """Insert events each with its ``user_id``, skipping those stored already; return how many
    were new."""
    received_at = now_iso()
    rows = [(e["user_id"], *event_row(e), received_at) for e in events]
    return _insert_values(db, _INSERT_EVENT, rows)


def _insert_event_rows(db: sqlite_utils.Database, user_id: str, rows: Sequence[tuple]) -> int:
    """Insert one user's event rows, skipping those stored already; return how many were new."""
    received_at = now_iso()
    return _insert_values(db, _INSERT_EVENT, [(user_id, *row, received_at) for row in rows])


def record_events(
    db: sqlite_utils.Database,
    user_id: str,
    events: Sequence[dict[str, Any]],
    papers: Iterable[dict[str, Any]],
) -> int:
    """Store a user's validated events and the papers they point to, durably, in one transaction.

    ``events`` are dicts with ``event_id``, ``type``, ``ts``, ``paper_id`` and ``dwell_ms``.
    Events already stored (same user and ``event_id``) are skipped. Returns how many were new;
    when this returns, the new events are on disk.
    """
    return record_event_rows(
        db, user_id, [event_row(e) for e in events], [paper_row(p) for p in papers]
    )


def record_event_rows(
    db: sqlite_utils.Database,
    user_id: str,
    events: Sequence[tuple],
    papers: Iterable[tuple],
) -> int:
    """:func:`record_events` for rows (:func:`event_row`, :func:`paper_row`), as the API's
    validation makes them: what the event writer stores, without a dict per event.

    Inside a transaction it is atomic on its own: if it raises, nothing of it stays written and
    the transaction goes on (the event writer's other batches are kept).
    """
    papers = list(papers)
    if not papers and db.conn.in_transaction and dialect(db) == "sqlite":
        # the events alone are atomic (_insert_values): no savepoint, which would cost the
        # event writer two more statements per batch (PostgreSQL needs one: a failed statement
        # spoils its whole transaction)
        return _insert_event_rows(db, user_id, events)
    with write_transaction(db):
        _upsert_paper_rows(db, papers)
        return _insert_event_rows(db, user_id, events)


def import_events(db: sqlite_utils.Database, rows: Sequence[dict[str, Any]]) -> int:
    """Bulk-load events of many users, creating unknown users (without a token) and papers.

    ``rows`` are dicts with ``user_id`` and the keys :func:`record_events` takes. Returns how
    many events were new.
    """
    now = now_iso()
    with write_transaction(db):
        _insert_values(
            db,
            "INSERT INTO users (user_id, is_admin, created_at) VALUES (?, 0, ?) "
            "ON CONFLICT DO NOTHING",
            [(user_id, now) for user_id in {r["user_id"] for r in rows}],
        )
        _insert_values(
            db,
            "INSERT INTO papers (paper_id, first_seen) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(paper_id, now) for paper_id in {r["paper_id"] for r in rows}],
        )
        return _insert_events(db, rows)


def user_history(db: sqlite_utils.Database, user_id: str) -> list[tuple[str, str, int | None]]:
    """``(paper_id, type, dwell_ms)`` for every event of the user, oldest first."""
    return [
        tuple(row)
        for row in db.execute(
            "SELECT paper_id, type, dwell_ms FROM events WHERE user_id = ? ORDER BY seq",
            [user_id],
        )
    ]


_EVENT_COLUMNS = "event_id, type, ts, paper_id, dwell_ms"


def _event_from_row(row: Sequence[Any]) -> dict[str, Any]:
    event = {"id": row[0], "type": row[1], "ts": row[2], "paper_id": row[3]}
    if row[4] is not None:
        event["dwell_ms"] = row[4]
    return event


def list_events(
    db: sqlite_utils.Database, user_id: str, *, limit: int, offset: int = 0
) -> list[dict[str, Any]]:
    """The user's events, newest first, in the API's event shape."""
    return [
        _event_from_row(row)
        for row in db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE user_id = ? "
            "ORDER BY seq DESC LIMIT ? OFFSET ?",
            [user_id, limit, offset],
        )
    ]


def count_events(db: sqlite_utils.Database, user_id: str | None = None) -> int:
    if user_id is None:
        return db.execute("SELECT count(*) FROM events").fetchone()[0]
    return db.execute("SELECT count(*) FROM events WHERE user_id = ?", [user_id]).fetchone()[0]


def last_event_seq(db: sqlite_utils.Database) -> int:
    """The newest event's sequence number (0 for none): grows with every stored event."""
    return db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()[0]


def delete_history(db: sqlite_utils.Database, user_id: str) -> int:
    """Erase every event of the user (counted in :func:`erasures`); return how many."""
    with write_transaction(db):
        deleted = db.execute("DELETE FROM events WHERE user_id = ?", [user_id]).rowcount
        if deleted:
            db.execute("UPDATE erasures SET count = count + 1")
        return deleted


def erasures(db: sqlite_utils.Database) -> int:
    """How many histories were erased so far."""
    return db.execute("SELECT count FROM erasures").fetchone()[0]


_SAVED = """SELECT paper_id, type, ts, seq FROM (
        SELECT paper_id, type, ts, seq,
               row_number() OVER (PARTITION BY paper_id ORDER BY seq DESC) AS latest
        FROM events WHERE user_id = ? AND type IN ('save', 'unsave')
    ) AS marks WHERE latest = 1"""


def saved_papers(
    db: sqlite_utils.Database, user_id: str, *, limit: int, offset: int
) -> tuple[list[tuple[str, str]], int]:
    """The user's saved papers, newest save first, as ``(paper_id, saved_at)``, and how many
    there are. A paper counts while its latest save or unsave is a save."""
    rows = [
        (paper_id, ts, seq)
        for paper_id, type_, ts, seq in db.execute(_SAVED, [user_id])
        if type_ == "save"
    ]
    rows.sort(key=lambda row: -row[2])
    return [(paper_id, ts) for paper_id, ts, _ in rows[offset : offset + limit]], len(rows)


def saved_with_papers(
    db: sqlite_utils.Database, user_id: str, *, limit: int, offset: int
) -> tuple[list[tuple[dict[str, Any], str]], int]:
    """:func:`saved_papers` with each stored paper: ``(paper, saved_at)``, and how many."""
    page, total = saved_papers(db, user_id, limit=limit, offset=offset)
    papers = get_papers(db, [paper_id for paper_id, _ in page])
    return [(papers[p], saved_at) for p, saved_at in page if p in papers], total


def export_user(db: sqlite_utils.Database, user_id: str) -> dict[str, Any]:
    """Everything stored about a user: the account, every event, and the papers they point to."""
    user = get_user(db, user_id) or {"user_id": user_id}
    events = [
        _event_from_row(row)
        for row in db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE user_id = ? ORDER BY seq", [user_id]
        )
    ]
    papers = get_papers(db, [e["paper_id"] for e in events])
    return {
        "user": user,
        "events": events,
        "papers": [papers[pid] for pid in dict.fromkeys(e["paper_id"] for e in events)],
    }


def iter_interactions(
    db: sqlite_utils.Database, after: int = 0, upto: int | None = None
) -> Iterator[tuple[str, str, str, int | None]]:
    """``(user_id, paper_id, type, dwell_ms)`` of the events with ``after < seq <= upto``
    (default: every one after ``after``), in stored order: the trainer's input."""
    upto = (1 << 63) - 1 if upto is None else upto
    yield from _stream(
        db,
        "SELECT user_id, paper_id, type, dwell_ms FROM events "
        "WHERE seq > ? AND seq <= ? ORDER BY seq",
        [after, upto],
    )


def events_mark(db: sqlite_utils.Database, upto: int) -> list[Any]:
    """``[count, user_id, event_id]``: how many events have ``seq <= upto``, and which event
    holds ``upto`` (None, None if none does). Equal marks mean no event up to there was
    erased, since an event is never changed and a ``seq`` is only reused once the newest
    events are erased, which changes the event holding it or the count."""
    # all events less the few newer ones: counting a range of millions of rows reads the
    # table, counting all of them reads the smallest index (5x faster at 5M events)
    total = db.execute("SELECT count(*) FROM events").fetchone()[0]
    newer = db.execute("SELECT count(*) FROM events WHERE seq > ?", [upto]).fetchone()[0]
    row = db.execute("SELECT user_id, event_id FROM events WHERE seq = ?", [upto]).fetchone()
    return [total - newer, *(row or (None, None))]


# --- the arXiv sync's papers and resume points ------------------------------------------------


def sync_state(db: sqlite_utils.Database, name: str) -> str | None:
    """The value kept under ``name`` by :func:`store_harvest` (a resume datestamp), or None."""
    row = db.execute("SELECT value FROM sync_state WHERE name = ?", [name]).fetchone()
    return None if row is None else row[0]


def store_harvest(
    db: sqlite_utils.Database,
    papers: Sequence[dict[str, Any]],
    *,
    state: str | None = None,
    value: str | None = None,
) -> int:
    """Upsert one harvested page's papers and move the resume point ``state`` forward to
    ``value``, in one transaction, so a stored page and its resume point never part. The value
    only grows (ISO dates compare as text): a run over older dates never moves it back.

    Returns how many of the papers were new to the catalog.
    """
    new = 0
    with write_transaction(db):
        for chunk, marks in _id_chunks(p["paper_id"] for p in papers):
            known = f"SELECT count(*) FROM papers WHERE paper_id IN ({marks})"
            new += len(chunk) - db.execute(known, chunk).fetchone()[0]
        _upsert_papers(db, papers)
        if state is not None and value is not None:
            advance_sync_state(db, state, value)
        return new


def advance_sync_state(db: sqlite_utils.Database, name: str, value: str) -> None:
    """Keep ``value`` under ``name`` unless a later one (compared as text) is already kept."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO sync_state (name, value) VALUES (?, ?) ON CONFLICT (name) "
            "DO UPDATE SET value = CASE WHEN excluded.value > sync_state.value "
            "THEN excluded.value ELSE sync_state.value END",
            [name, value],
        )


# --- digests, feeds and trending: user settings, feed secrets, the digest log, recent reading --


def user_settings(db: sqlite_utils.Database, user_id: str) -> dict[str, Any] | None:
    """``{"email", "digest"}`` of a user (None for an unknown user)."""
    row = db.execute("SELECT email, digest FROM users WHERE user_id = ?", [user_id]).fetchone()
    return None if row is None else {"email": row[0], "digest": row[1]}


def set_user_settings(
    db: sqlite_utils.Database, user_id: str, *, email: str | None, digest: str
) -> None:
    """Store a user's checked settings (:mod:`server.store.user_settings`)."""
    with write_transaction(db):
        db.execute(
            "UPDATE users SET email = ?, digest = ? WHERE user_id = ?", [email, digest, user_id]
        )


def user_feed(db: sqlite_utils.Database, user_id: str) -> tuple[str, str] | None:
    """``(nonce, secret hash)`` of the user's feed (None: the user has no feed yet)."""
    row = db.execute(
        "SELECT feed_nonce, feed_secret_hash FROM users WHERE user_id = ?", [user_id]
    ).fetchone()
    return None if row is None or row[0] is None else (row[0], row[1])


def set_feed_secret(db: sqlite_utils.Database, user_id: str, nonce: str, secret_hash: str) -> None:
    """Give the user a feed secret (its nonce and hash), replacing the previous one."""
    with write_transaction(db):
        db.execute(
            "UPDATE users SET feed_nonce = ?, feed_secret_hash = ? WHERE user_id = ?",
            [nonce, secret_hash, user_id],
        )


def user_for_feed_hash(db: sqlite_utils.Database, secret_hash: str) -> str | None:
    """The user whose feed secret hashes to ``secret_hash``, else None."""
    row = db.execute(
        "SELECT user_id FROM users WHERE feed_secret_hash = ?", [secret_hash]
    ).fetchone()
    return None if row is None else row[0]


def due_digests(
    db: sqlite_utils.Database,
    *,
    daily: str,
    weekly: str,
    after: str = "",
    limit: int = 500,
    user_id: str | None = None,
) -> list[tuple[str, str, str]]:
    """``(user_id, email, digest)`` of up to ``limit`` users, in id order after ``after``, whose
    digest is on, who have an address, and who have no digest claimed or sent for the current
    period (``daily`` and ``weekly`` name it, e.g. ``daily:2026-12-07``, ``weekly:2026-W50``);
    with ``user_id``, that user only. Paging by id keeps a run's memory flat."""
    only = "AND u.user_id = ?" if user_id is not None else ""
    params: list[Any] = [after, daily, weekly]
    if user_id is not None:
        params.append(user_id)
    return [
        tuple(row)
        for row in db.execute(
            f"""SELECT u.user_id, u.email, u.digest FROM users u
                WHERE u.user_id > ? AND u.digest != 'off' AND u.email IS NOT NULL
                  AND NOT EXISTS (
                      SELECT 1 FROM digest_sends s WHERE s.user_id = u.user_id AND s.period =
                          CASE u.digest WHEN 'daily' THEN ? ELSE ? END)
                  {only}
                ORDER BY u.user_id LIMIT ?""",
            [*params, limit],
        )
    ]


def last_digest(db: sqlite_utils.Database, user_id: str) -> tuple[str, list[str]] | None:
    """``(sent_at, paper_ids)`` of the user's latest digest sent, else None."""
    row = db.execute(
        "SELECT sent_at, paper_ids FROM digest_sends WHERE user_id = ? AND status = 'sent' "
        "ORDER BY sent_at DESC LIMIT 1",
        [user_id],
    ).fetchone()
    return None if row is None else (row[0], json.loads(row[1] or "[]"))


def claim_digests(
    db: sqlite_utils.Database, claims: Sequence[tuple[str, str]], *, at: str | None = None
) -> list[bool]:
    """Claim ``(user_id, period)`` pairs for sending (status ``sending``, at ``at``, by default
    now), in one transaction; for each, whether this call claimed it (False: another run
    already claimed or sent it)."""
    now = at or now_iso()
    with write_transaction(db):
        return [
            db.execute(
                "INSERT INTO digest_sends (user_id, period, status, claimed_at) "
                "VALUES (?, ?, 'sending', ?) ON CONFLICT DO NOTHING",
                [user_id, period, now],
            ).rowcount
            == 1
            for user_id, period in claims
        ]


def finish_digests(
    db: sqlite_utils.Database,
    sent: Sequence[tuple[str, str, Sequence[str]]],
    released: Sequence[tuple[str, str]] = (),
    *,
    at: str | None = None,
) -> None:
    """Mark claimed digests ``(user_id, period, paper_ids)`` sent (at ``at``, by default now),
    and drop the claims of ``released`` ones (not sent: the next run may send them), in one
    transaction."""
    now = at or now_iso()
    with write_transaction(db):
        for user_id, period, paper_ids in sent:
            db.execute(
                "UPDATE digest_sends SET status = 'sent', sent_at = ?, paper_ids = ? "
                "WHERE user_id = ? AND period = ?",
                [now, json.dumps(list(paper_ids)), user_id, period],
            )
            # only the latest digest's papers are read again (last_digest)
            db.execute(
                "UPDATE digest_sends SET paper_ids = NULL "
                "WHERE user_id = ? AND period != ? AND paper_ids IS NOT NULL",
                [user_id, period],
            )
        for user_id, period in released:
            db.execute(
                "DELETE FROM digest_sends WHERE user_id = ? AND period = ? AND status = 'sending'",
                [user_id, period],
            )


def prune_digest_log(db: sqlite_utils.Database, before: str) -> int:
    """Forget the digests claimed before ``before`` (ISO, as stored), but each user's latest
    one sent; return how many. A period is at most a week, so a log of the last eight days
    still names every period's digest."""
    with write_transaction(db):
        return db.execute(
            """DELETE FROM digest_sends WHERE claimed_at < ? AND NOT (
                   status = 'sent' AND sent_at = (
                       SELECT max(s.sent_at) FROM digest_sends s
                       WHERE s.user_id = digest_sends.user_id AND s.status = 'sent'))""",
            [before],
        ).rowcount


def digest_log(db: sqlite_utils.Database, user_id: str | None = None) -> list[dict[str, Any]]:
    """Every digest claimed or sent (of one user), oldest claim first."""
    where, params = ("WHERE user_id = ?", [user_id]) if user_id is not None else ("", [])
    return [
        {
            "user_id": row[0],
            "period": row[1],
            "status": row[2],
            "claimed_at": row[3],
            "sent_at": row[4],
            "paper_ids": json.loads(row[5] or "[]"),
        }
        for row in db.execute(
            "SELECT user_id, period, status, claimed_at, sent_at, paper_ids FROM digest_sends "
            f"{where} ORDER BY claimed_at, user_id",
            params,
        )
    ]


# Reading, for trending: what a reader does with a paper they read (not a dismissal, nor an
# undo).
READING_TYPES = ("open", "read", "like", "save")
# The event ids of the saves a library import records (server.library.importer): a library is
# past reading, dated from the file where it can be and at the import where not, so it never
# makes a paper trending.
IMPORTED_EVENT_PREFIX = "library:"


def first_seq_received_since(db: sqlite_utils.Database, moment: str) -> int:
    """The ``seq`` from which on every event was received at ``moment`` (ISO, as stored) or
    later: a binary search over the rowid, as ``received_at`` grows with ``seq`` (but for a
    few seconds between writers), so the events of a recent window are read without scanning
    the whole log or an index that every insert would pay for."""
    return _first_rowid_since(db, "events", moment, *_rowid_bounds(db, "events"))


# The tables whose rows arrive in time order, each with its row id (SQLite's rowid; ``seq`` is
# the events' own) and the column that says when: a row's id grows with it, as rows are
# appended as they come (an id given again, after the newest row was deleted, goes to a row
# that is newer still).
ARRIVALS = {"events": ("seq", "received_at"), "papers": ("rowid", "first_seen")}


def _rowid_bounds(db: sqlite_utils.Database, table: str) -> tuple[int, int]:
    """The first row id of ``table`` and one past its last. Two statements: SQLite reads a
    lone ``min(rowid)`` or ``max(rowid)`` from the edge of the table's tree, but both in one
    statement scan the whole table."""
    rowid, _ = ARRIVALS[table]
    first = db.execute(f"SELECT min({rowid}) FROM {table}").fetchone()[0]
    last = db.execute(f"SELECT max({rowid}) FROM {table}").fetchone()[0]
    return first or 1, (last or 0) + 1


def _first_rowid_since(
    db: sqlite_utils.Database, table: str, moment: str, low: int, high: int
) -> int:
    """The first row id in ``[low, high)`` whose row arrived at ``moment`` or later (``high``
    when none did), by a binary search."""
    rowid, column = ARRIVALS[table]
    while low < high:
        middle = (low + high) // 2
        row = db.execute(
            f"SELECT {rowid}, {column} FROM {table} WHERE {rowid} >= ? ORDER BY {rowid} LIMIT 1",
            [middle],
        ).fetchone()
        if row is None or row[1] >= moment:
            high = middle
        else:
            low = row[0] + 1
    return low


def arrivals_by_day(db: sqlite_utils.Database, table: str, days: Sequence[str]) -> list[int]:
    """For each of ``days`` (ISO dates, oldest first), how many rows of ``table`` (``events``
    recorded, ``papers`` added to the catalog) had arrived by its end.

    Read from the rowids at the days' boundaries (a binary search each, from the previous
    one), so a year costs a few thousand lookups by rowid however many rows there are; rows
    deleted since (an erased history) still count as having arrived."""
    first, end = _rowid_bounds(db, table)
    counts, low = [], first
    for day in days:
        after = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        low = _first_rowid_since(db, table, after, low, end)
        counts.append(low - first)
    return counts


def user_events_since(
    db: sqlite_utils.Database, user_id: str, since: str
) -> list[tuple[str, str, str, int | None]]:
    """``(ts, type, paper_id, dwell_ms)`` of the user's events at ``since`` (ISO) or later,
    oldest first."""
    return db.execute(
        "SELECT ts, type, paper_id, dwell_ms FROM events WHERE user_id = ? AND ts >= ? "
        "ORDER BY ts, seq",
        [user_id, since],
    ).fetchall()


def recent_readings(
    db: sqlite_utils.Database, *, from_seq: int, since: str
) -> Iterator[tuple[str, str, str]]:
    """``(paper_id, user_id, last reading ts)`` for each paper and reader with a reading event
    (:data:`READING_TYPES`) at ``since`` or later among the events from ``from_seq`` on; a
    library import's saves (:data:`IMPORTED_EVENT_PREFIX`) are not reading of the window."""
    marks = ",".join("?" * len(READING_TYPES))
    prefix = IMPORTED_EVENT_PREFIX
    yield from db.execute(
        f"""SELECT paper_id, user_id, max(ts) FROM events
            WHERE seq >= ? AND ts >= ? AND type IN ({marks})
              AND substr(event_id, 1, {len(prefix)}) != ?
            GROUP BY paper_id, user_id""",
        [from_seq, since, *READING_TYPES, prefix],
    )


def paper_dates(db: sqlite_utils.Database, paper_ids: Sequence[str]) -> dict[str, str]:
    """Each stored paper's date: published, or the day first seen when undated (what
    ``since`` filters on)."""
    found: dict[str, str] = {}
    for chunk, marks in _id_chunks(paper_ids):
        found.update(
            db.execute(
                "SELECT paper_id, coalesce(published, substr(first_seen, 1, 10)) FROM papers "
                f"WHERE paper_id IN ({marks})",
                chunk,
            ).fetchall()
        )
    return found


# --- the web app: sessions, one-time sign-in links, a reader's marks on papers ----------------


def start_web_session(db: sqlite_utils.Database, session_hash: str, user_id: str) -> None:
    """Store a new web session of ``user_id`` by the SHA-256 of its random id."""
    with write_transaction(db):
        db.execute(
            "INSERT INTO web_sessions (session_hash, user_id, created_at) VALUES (?, ?, ?)",
            [session_hash, user_id, now_iso()],
        )


def web_session_user(db: sqlite_utils.Database, session_hash: str) -> tuple[str, bool] | None:
    """``(user_id, is_admin)`` of a live web session, else None. A session ends when it is
    signed out, and when its user's tokens are revoked (:func:`revoke_tokens`)."""
    row = db.execute(
        """SELECT users.user_id, users.is_admin
           FROM web_sessions AS s JOIN users ON users.user_id = s.user_id
           WHERE s.session_hash = ? AND s.ended_at IS NULL""",
        [session_hash],
    ).fetchone()
    return None if row is None else (row[0], bool(row[1]))


def end_web_session(db: sqlite_utils.Database, session_hash: str) -> None:
    """Sign one web session out (its cookie no longer signs anyone in)."""
    with write_transaction(db):
        db.execute(
            "UPDATE web_sessions SET ended_at = ? WHERE session_hash = ? AND ended_at IS NULL",
            [now_iso(), session_hash],
        )


def use_login_link(
    db: sqlite_utils.Database, nonce_hash: str, user_id: str, *, forget_before: str
) -> bool:
    """Record the use of a one-time sign-in link; False when it was used already. Uses older
    than ``forget_before`` (of links expired by then) are forgotten on the way."""
    with write_transaction(db):
        db.execute("DELETE FROM login_links_used WHERE used_at < ?", [forget_before])
        cursor = db.execute(
            "INSERT INTO login_links_used (nonce_hash, user_id, used_at) "
            "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [nonce_hash, user_id, now_iso()],
        )
        return cursor.rowcount == 1


_MARK_TYPES = ("like", "unlike", "save", "unsave", "dismiss", "undismiss")


def paper_marks(
    db: sqlite_utils.Database, user_id: str, paper_ids: Sequence[str]
) -> dict[str, set[str]]:
    """What holds now of the user's ``like``, ``save`` and ``dismiss`` on each paper (the
    latest of each and its ``un…`` wins), for the papers that have any."""
    held: dict[str, dict[str, bool]] = {}
    for chunk, marks in _id_chunks(paper_ids):
        rows = db.execute(
            f"""SELECT paper_id, type FROM events
                WHERE user_id = ? AND paper_id IN ({marks})
                  AND type IN ({",".join("?" * len(_MARK_TYPES))})
                ORDER BY seq""",
            [user_id, *chunk, *_MARK_TYPES],
        )
        for paper_id, event_type in rows:
            mark = event_type.removeprefix("un")
            held.setdefault(paper_id, {})[mark] = mark == event_type
    marks = {paper: {mark for mark, on in state.items() if on} for paper, state in held.items()}
    return {paper_id: found for paper_id, found in marks.items() if found}


# --- the web app's own pages: one history event, a user's API tokens ---------------------------


def delete_event(db: sqlite_utils.Database, user_id: str, event_id: str) -> bool:
    """Erase one event of the user by its client id; False when there is none. Counted in
    :func:`erasures` as an erased history is, so the next retrain forgets it too."""
    with write_transaction(db):
        deleted = db.execute(
            "DELETE FROM events WHERE user_id = ? AND event_id = ?", [user_id, event_id]
        ).rowcount
        if deleted:
            db.execute("UPDATE erasures SET count = count + 1")
        return bool(deleted)


def live_tokens(db: sqlite_utils.Database, user_id: str) -> list[dict[str, str]]:
    """The user's unrevoked API tokens, newest first: ``token_hash`` (what is stored; the token
    itself never is) and ``created_at``."""
    return [
        {"token_hash": row[0], "created_at": row[1]}
        for row in db.execute(
            "SELECT token_hash, created_at FROM tokens WHERE user_id = ? AND revoked_at IS NULL "
            "ORDER BY created_at DESC, rowid DESC",
            [user_id],
        )
    ]


def revoke_token(
    db: sqlite_utils.Database, user_id: str, token_hash: str, *, keep_session: str | None = None
) -> bool:
    """Revoke one live token of ``user_id``; False when the user has no such live token. The
    user's web sessions end too (one may have begun with that token), all but the one whose
    hash is ``keep_session``."""
    with write_transaction(db):
        now = now_iso()
        revoked = db.execute(
            "UPDATE tokens SET revoked_at = ? "
            "WHERE user_id = ? AND token_hash = ? AND revoked_at IS NULL",
            [now, user_id, token_hash],
        ).rowcount
        if revoked:
            db.execute(
                "UPDATE web_sessions SET ended_at = ? "
                "WHERE user_id = ? AND ended_at IS NULL AND session_hash IS DISTINCT FROM ?",
                [now, user_id, keep_session],
            )
        return bool(revoked)


# --- the command line's user list ----------------------------------------------------------------


def count_users(db: sqlite_utils.Database) -> int:
    """How many users there are."""
    return int(db.execute("SELECT count(*) FROM users").fetchone()[0])


def list_users(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    """Every user (the first ``limit``, when given), ordered by name: ``user_id``,
    ``is_admin``, ``email``, ``digest`` and ``tokens``, how many of the user's API tokens are
    live (not revoked)."""
    rows = db.execute(
        """SELECT users.user_id, users.is_admin, users.email, users.digest,
                  (SELECT count(*) FROM tokens
                    WHERE tokens.user_id = users.user_id AND tokens.revoked_at IS NULL)
           FROM users ORDER BY users.user_id"""
        + (" LIMIT ?" if limit is not None else ""),
        [] if limit is None else [limit],
    )
    keys = ("user_id", "is_admin", "email", "digest", "tokens")
    return [dict(zip(keys, row, strict=True)) | {"is_admin": bool(row[1])} for row in rows]


# --- the web app's Admin page: the latest digests --------------------------------------------


def latest_digests(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` digests claimed most recently (by the ``claimed_at`` index), newest first:
    ``user_id``, ``period``, ``status`` (``sending``: claimed, not yet accepted by the mail
    server; ``sent``), ``claimed_at`` and ``sent_at``."""
    keys = ("user_id", "period", "status", "claimed_at", "sent_at")
    rows = db.execute(
        "SELECT user_id, period, status, claimed_at, sent_at FROM digest_sends "
        "ORDER BY claimed_at DESC, user_id LIMIT ?",
        [limit],
    )
    return [dict(zip(keys, row, strict=True)) for row in rows]
