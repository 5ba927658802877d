"""The background work a server does once per home, however many processes serve it.

``nextpaper serve`` retrains in the background (:class:`~server.jobs.training.RetrainScheduler`)
and runs the daily job (:class:`~server.jobs.sync.DailySync`: the arXiv sync, the day's papers
into the served model, the due digests). Several processes serve one home with ``--workers N``,
and a second ``nextpaper serve`` may be started on the same home by mistake; each of them would
schedule the same retrains and send the same digests. So every serving process runs
:class:`HomeDuties`, and only the one holding the duty lock does the work: ``HOME/.duties.lock``
(an ``flock``) on SQLite; on PostgreSQL, where servers on several machines share one database,
an advisory lock of that database, held by a connection of its own. The others try again every
few seconds: when the holder ends, however it ends (a kill -9 included: the kernel releases its
lock with its files, PostgreSQL with its connection), another process takes the duties over
within that time. A PostgreSQL holder also checks its lock as often: when the lock's connection
ended while the process lives on (the database restarted, the network failed), it stops its
duties, since another server may hold the lock by then, and tries for the lock again.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ..store.db import is_postgres

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

LOCK_FILE = ".duties.lock"
DUTY_LOCK = 0x4E5844  # the advisory lock key of the duties on PostgreSQL ("NXD")
RETRY_SECONDS = 2.0


def daily_run(app: Flask):
    """The :class:`~server.jobs.sync.DailySync` of ``app``'s settings: the arXiv sync when
    categories are set, then the jobs that want each day's new papers, in order, even when the
    sync failed: the new papers join the served model, then the due digests go out. Without
    categories, the digests alone at ``SYNC_TIME``. Raises
    :class:`~server.jobs.sync.SyncError` on bad settings."""
    from .digest import scheduled_run
    from .sync import DailySync
    from .training import add_new_papers_now

    app_parts = app.extensions["nextpaper"]
    after_sync: list = [scheduled_run(app.config, app_parts.serving)]
    if app.config["ARXIV_CATEGORIES"]:
        after_sync.insert(0, partial(add_new_papers_now, app_parts.trainer, app_parts.serving))
    return DailySync(app.config, after_sync=after_sync)


class HomeDuties:
    """The retrain scheduler (unless ``retrain`` is False) and the daily run of ``app``, started
    in this process once it holds the home's duty lock."""

    def __init__(self, app: Flask, *, retrain: bool = True, retry_seconds: float = RETRY_SECONDS):
        self.app = app
        self.retrain = retrain
        self.retry_seconds = retry_seconds
        self.path = Path(app.config["HOME"]) / LOCK_FILE
        self._lock_fd: int | None = None
        self._lock_db = None  # on PostgreSQL: the connection holding the advisory lock
        self._running: list = []  # what was started once the lock was taken
        self._guard = threading.Lock()  # between taking the duties over and stopping
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._take_over, name="duties", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _take_over(self) -> None:
        """Try for the lock every ``retry_seconds`` and start the duties once it is taken;
        then, on PostgreSQL, check every ``retry_seconds`` that the lock is still held, and
        stop the duties if it is not (below), to try for it again."""
        while not self._stop.is_set():
            with self._guard:
                if self._stop.is_set():
                    return
                if self._lock_fd is not None:
                    return  # an flock lasts as long as this process: nothing to watch
                if self._lock_db is not None:
                    if not self._still_locked():
                        self._lose_lock()
                elif self._try_lock():
                    try:
                        self._start_duties()
                    except Exception:
                        log.exception("starting the background duties failed")
            self._stop.wait(self.retry_seconds)

    def _try_lock(self) -> bool:
        if is_postgres(self.app.config["DATABASE"]):
            return self._try_database_lock()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd  # not inherited (PEP 446): a training child process does not keep it
        return True

    def _try_database_lock(self) -> bool:
        from ..store.db import connect, database_errors

        try:
            db = connect(self.app.config["DATABASE"])
        except database_errors() as error:
            log.warning("cannot reach the database for the duty lock: %s", error)
            return False
        if db.execute(f"SELECT pg_try_advisory_lock({DUTY_LOCK})").fetchone()[0]:
            self._lock_db = db  # the lock lives as long as this connection
            return True
        db.close()
        return False

    def _still_locked(self) -> bool:
        """Whether the advisory lock's connection still holds it. A connection that ended (the
        database restarted, the network failed, an admin terminated it) took the lock with
        it, and another server may hold it now: running on would do the duties twice."""
        from ..store.db import database_errors

        try:
            held = self._lock_db.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND classid = 0 AND objid = ? AND objsubid = 1",
                [DUTY_LOCK],
            ).fetchone()[0]
        except database_errors() as error:
            log.warning("the duty lock's database connection failed: %s", error)
            return False
        return bool(held)

    def _lose_lock(self) -> None:
        log.warning(
            "this process (pid %d) lost the duty lock: it stops the retrains and the daily job,"
            " and takes them up again once it holds the lock",
            os.getpid(),
        )
        self._stop_duties()

    def _start_duties(self) -> None:
        from .training import RetrainScheduler

        config = self.app.config
        app_parts = self.app.extensions["nextpaper"]
        log.info("this process (pid %d) runs the retrains and the daily job", os.getpid())
        if self.retrain:
            scheduler = RetrainScheduler(
                config["DATABASE"],
                app_parts.serving.store,
                app_parts.trainer,
                every_events=int(config["RETRAIN_EVENTS"]),
                every_minutes=float(config["RETRAIN_MINUTES"]),
            )
            scheduler.start()
            self._running.append(scheduler)
        daily = daily_run(self.app)
        daily.start()
        self._running.append(daily)

    @property
    def holding(self) -> bool:
        """Whether this process holds the duty lock (and so runs the duties)."""
        return self._lock_fd is not None or self._lock_db is not None

    def stop(self) -> None:
        """Stop what runs and give the duties up."""
        with self._guard:
            self._stop.set()
            self._stop_duties()

    def _stop_duties(self) -> None:
        for duty in self._running:
            duty.stop()
        self._running = []
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None
        if self._lock_db is not None:
            from ..store.db import database_errors

            try:
                self._lock_db.close()  # releases the advisory lock
            except database_errors():
                pass  # the connection is gone already, and the lock with it
            self._lock_db = None
