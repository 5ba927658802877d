"""Group commit for events: one thread writes every batch, and concurrent batches share a commit.

A durable commit waits for the disk (``synchronous=FULL``), and SQLite takes one writer at a
time, so batches written by their own request threads queue up behind each other's fsync.
Request threads instead validate their batch and hand it to :class:`EventWriter`; its thread
takes every batch waiting, writes each in its own savepoint inside one transaction, commits
once, and only then answers each request with how many of its events were new. Nothing is
acknowledged before it is on disk, and one failing batch fails alone.

Copying the write-ahead log back into the database file (a checkpoint) is kept off that path:
SQLite runs it inside whichever commit crosses 1,000 log pages, which makes one batch in a few
hundred wait for the whole copy. The writer's connection turns that off and a checkpoint thread
copies the log back, at most five times a second after writes, while the writer goes on
appending to it. Each copy ends with an fsync of the database file, which every commit's fsync
of the log then queues behind, so the copies are small and frequent: a fifth of a second's
writes at a time, not a burst's scattered pages at once (bench/HISTORY.md has the figures).

Most events point to a paper the catalog already holds with the same metadata (an open and its
read, a popular paper), and that upsert is half of an event's write while changing nothing. The
writer remembers the last paper record it stored for each id and skips writing the same record
again, for as long as no other connection has committed (``PRAGMA data_version``): writing a
record twice in a row leaves what writing it once left.

On PostgreSQL the group commit is the same (each batch in its savepoint, one commit); there is
no log to copy back, and every paper record is written (nothing tells the writer of other
connections' commits as cheaply).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from . import storage
from .db import connect, database_errors, dialect

DATABASE_ERRORS = database_errors()

MAX_GROUP = 64  # batches in one commit: at most 64,000 events
IDLE_SECONDS = 5.0  # the thread ends after this long with nothing to write
CHECKPOINT_SECONDS = 0.2  # writes gathered before the log is copied back
MAX_KNOWN_PAPERS = 10_000  # paper records remembered, the oldest forgotten first ...
MAX_KNOWN_CHARS = 500  # ... if their text is this short: about 15 MiB at most

log = logging.getLogger(__name__)


@dataclass
class _Job:
    user_id: str
    events: list[tuple]
    papers: list[tuple]
    accepted: int = 0
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class EventWriter:
    """Writes event batches for one database through a single thread (started on demand)."""

    def __init__(self, db_path: str | Path):
        self.db_path = db_path
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def record(
        self,
        user_id: str,
        events: list[tuple],
        papers: list[tuple],
        timeout: float = 60.0,
    ) -> int:
        """Store a user's validated event and paper rows durably; return how many were new.

        Same contract as :func:`server.store.storage.record_event_rows`; raises what it raised, or
        ``TimeoutError`` when the write did not finish in ``timeout`` seconds.
        """
        job = _Job(user_id, events, papers)
        with self._lock:
            self._queue.put(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self._thread.start()
        if not job.done.wait(timeout):
            raise TimeoutError("the event write did not finish in time")
        if job.error is not None:
            raise job.error
        return job.accepted

    def _next_group(self) -> list[_Job] | None:
        try:
            jobs = [self._queue.get(timeout=IDLE_SECONDS)]
        except queue.Empty:
            with self._lock:
                if self._queue.empty():
                    self._thread = None
                    return None
            return []
        while len(jobs) < MAX_GROUP:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return jobs

    def _run(self) -> None:
        db = connect(self.db_path)
        checkpointer = None
        if dialect(db) == "sqlite":
            db.execute("PRAGMA wal_autocheckpoint = 0")  # _Checkpointer copies the log back
            checkpointer = _Checkpointer(self.db_path)
            checkpointer.start()
        known = _KnownPapers()
        try:
            while (jobs := self._next_group()) is not None:
                if jobs:
                    self._write(db, jobs, known)
                    if checkpointer is not None:
                        checkpointer.wake()
        finally:
            if checkpointer is not None:
                checkpointer.stop()
            db.close()

    @staticmethod
    def _write(db, jobs: list[_Job], known: _KnownPapers | None = None) -> None:
        if known is None:  # a writer that remembers nothing: every record is written
            known = _KnownPapers()
        written: dict[str, tuple] = {}  # paper rows stored by this transaction's batches
        try:
            with storage.write_transaction(db):
                known.check(db)
                for job in jobs:
                    papers, stored = known.unseen(job.papers, written)
                    try:  # each batch in its own savepoint: a failure undoes that batch only
                        job.accepted = storage.record_event_rows(
                            db, job.user_id, job.events, papers
                        )
                    except DATABASE_ERRORS as error:
                        job.error = error
                    else:
                        written.update(stored)
        except BaseException as error:  # the commit itself failed: nothing was stored
            for job in jobs:
                job.error = job.error or error
        else:
            known.remember(written)
        finally:
            for job in jobs:
                job.done.set()


class _KnownPapers:
    """The last paper record the writer stored for each paper id, while it is still current.

    Upserting a record the catalog got from this writer last time changes nothing (the merge
    keeps the richer of each field, and that record's fields are what it kept), so the writer
    skips it. Another connection's commit may have changed the catalog since: ``PRAGMA
    data_version`` moves on any such commit, and then everything is forgotten.
    """

    def __init__(self) -> None:
        # Ordered by when each record was stored: the oldest go first. A plain dict would do
        # the same, but finding its first key after many deletions from its front scans every
        # deleted slot (4 us per new paper at the limit, against 0.5 us here).
        self._papers: OrderedDict[str, tuple] = OrderedDict()
        self._version: int | None = None

    def check(self, db) -> None:
        """Forget everything if another connection committed; call inside the write lock.
        (PostgreSQL tells no such thing: there every record is written.)"""
        if dialect(db) != "sqlite":
            self._papers.clear()
            return
        version = db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._version:
            self._papers.clear()
            self._version = version

    def unseen(
        self, papers: list[tuple], written: dict[str, tuple]
    ) -> tuple[list[tuple], dict[str, tuple]]:
        """The rows to write (in order), and the last one per id after writing them.

        ``papers`` are :func:`server.store.storage.paper_row` rows (the id first); so are the values
        of ``written``, the rows this transaction's earlier batches stored.
        """
        known = self._papers
        out: list[tuple] = []
        stored: dict[str, tuple] = {}
        for paper in papers:
            paper_id = paper[0]
            last = stored.get(paper_id)
            if last is None:
                last = written.get(paper_id) or known.get(paper_id)
            if last != paper:
                out.append(paper)
                stored[paper_id] = paper
        return out, stored

    def remember(self, written: dict[str, tuple]) -> None:
        """Rows now committed by this writer (a long one only replaces what was known)."""
        papers = self._papers
        for paper_id, paper in written.items():
            papers.pop(paper_id, None)  # re-inserted last: the oldest are forgotten first
            if _text_length(paper) <= MAX_KNOWN_CHARS:
                papers[paper_id] = paper
        while len(papers) > MAX_KNOWN_PAPERS:
            papers.popitem(last=False)


def _text_length(paper: tuple) -> int:
    return sum(len(value) for value in paper if value is not None)


class _Checkpointer(threading.Thread):
    """Copies the write-ahead log back into the database file, on its own connection.

    A PASSIVE checkpoint never blocks the writer: it copies what no reader still needs and
    leaves the rest for the next round.
    """

    def __init__(self, db_path: str | Path):
        super().__init__(name="wal-checkpoint", daemon=True)
        self.db_path = db_path
        self._due = threading.Event()
        self._stopping = False

    def wake(self) -> None:
        self._due.set()

    def stop(self) -> None:
        self._stopping = True
        self._due.set()
        self.join(timeout=60)

    def run(self) -> None:
        db = connect(self.db_path)
        try:
            while True:
                self._due.wait()
                if not self._stopping:
                    time.sleep(CHECKPOINT_SECONDS)
                self._due.clear()
                self._checkpoint(db)
                if self._stopping:
                    return
        finally:
            db.close()

    @staticmethod
    def _checkpoint(db) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as error:  # the next round tries again; the log only grows
            log.warning("WAL checkpoint failed: %s", error)
