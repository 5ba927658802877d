"""Training lifecycle: a full retrain from the database, and the server's background retrains.

:func:`train_and_publish` reads interactions and the catalog through :mod:`server.store.storage`,
fits the recommender's hybrid and publishes it as a new model version. ``nextpaper train`` calls
it directly; ``nextpaper serve`` runs it in a child process (:class:`Trainer`), so a crash or a
kill of a training run never takes the server down and the previous model keeps serving.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from ..model_versions import ModelStore, write_atomic
from ..store import storage

if TYPE_CHECKING:
    from recommender.interactions import EventLog

log = logging.getLogger(__name__)


TRAIN_LOCK = ".train.lock"  # in the models folder: held by the training that runs
LAST_RUN = ".last-run.json"  # in the models folder: how the last run a server started ended
RUNS = ".runs"  # in the models folder: ``<pid>.json`` for each run a server started, while it runs


@contextmanager
def _training_lock(models_dir: Path):
    """One training at a time per home, across processes."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / TRAIN_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def training_running(models_dir: Path) -> bool:
    """Whether a training holds the home's training lock now, in whichever process."""
    try:
        with open(models_dir / TRAIN_LOCK) as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


def train_and_publish(
    db: sqlite_utils.Database,
    store: ModelStore,
    *,
    progress: bool = False,
    lock: bool = True,
    engine: str = "implicit",
    spark_master: str | None = None,
    spark_work_dir: Path | None = None,
    spark_driver_memory: str | None = None,
) -> dict[str, Any]:
    """Fit the served hybrid on everything stored and publish it; return its release facts.
    (``lock=False``: the caller already holds the training lock.) ``engine`` fits ALS with
    ``implicit`` or with Spark (``spark_*``: recommender/spark_als.py); the model published is
    the same kind either way, and its release records the ``engine``."""
    from recommender import HybridRecommender

    with _training_lock(store.root) if lock else nullcontext():
        store.remove_abandoned()
        started = time.perf_counter()
        paper_ids: list[str] = []
        texts: list[str] = []
        published: list[str | None] = []
        with storage.snapshot(db):
            last_seq = storage.last_event_seq(db)
            erased = storage.erasures(db)
            for paper_id, title, abstract, date in storage.iter_catalog(db):
                paper_ids.append(paper_id)
                texts.append(f"{title} {abstract}".strip())
                published.append(date)
            events = read_events(db, store.root / EVENT_LOG, last_seq)
        interactions = events.interactions(paper_ids)
        del events
        read_seconds = time.perf_counter() - started
        current = store.current_version()
        model = HybridRecommender(
            **_engine_params(engine, spark_master, spark_work_dir, spark_driver_memory)
        )
        model.fit(
            interactions,
            texts,
            published,
            progress=progress,
            previous=store.folder(current) if current else None,
        )
        release = {
            "users": len(interactions.user_ids),
            "papers": len(interactions.paper_ids),
            "last_event_seq": last_seq,
            "erasures": erased,
            "read_seconds": round(read_seconds, 3),
            "fit_seconds": round(time.perf_counter() - started, 3),
            "tuning": model.tuning.to_dict() if model.tuning is not None else None,
            "engine": engine,
        }
        version = store.publish(model.save, release)
        return {"version": version, **release}


def _engine_params(
    engine: str, master: str | None, work_dir: Path | None, driver_memory: str | None
) -> dict[str, Any]:
    """The hybrid's parameters for fitting ALS with ``engine`` (the defaults for implicit)."""
    if engine == "implicit":
        return {}
    params: dict[str, Any] = {"als_engine": engine, "spark_master": master}
    if work_dir is not None:
        params["spark_work_dir"] = str(work_dir)
    if driver_memory is not None:
        params["spark_driver_memory"] = driver_memory
    return params


def add_papers_and_publish(db: sqlite_utils.Database, store: ModelStore) -> dict[str, Any]:
    """Publish the current model with the catalog's papers it lacks added from their text
    (:meth:`~recommender.HybridRecommender.add_papers`): what a day's arXiv sync needs, in
    seconds instead of a training. Nothing else changes, so the release keeps the training's
    figures (``trained_at``, ``last_event_seq``, ``erasures``: the retrain rules still measure
    from the last training) and counts ``added_papers`` since it. Without a servable current
    model this is a full training. Returns the release facts and how many papers were
    ``added`` (0: ``version`` is the current one)."""
    from recommender import HybridRecommender

    with _training_lock(store.root):
        current = store.current_version()
        if current is None or not servable(store.folder(current)):
            return train_and_publish(db, store, lock=False)
        started = time.perf_counter()
        source = store.folder(current)
        model = HybridRecommender.load(source, mmap=False)
        paper_ids: list[str] = []
        texts: list[str] = []
        published: list[str | None] = []
        with storage.snapshot(db):
            total = storage.count_papers(db)
            for paper_id, title, abstract, date in storage.iter_catalog(db):
                if paper_id not in model.paper_index:
                    paper_ids.append(paper_id)
                    texts.append(f"{title} {abstract}".strip())
                    published.append(date)
        release = {k: v for k, v in store.release(current).items() if k != "version"}
        if not paper_ids:
            return {"version": current, **release, "added": 0}
        model.add_papers(paper_ids, texts, published)

        def write(folder: Path) -> None:
            model.save(folder)
            HybridRecommender.keep_users(source, folder)

        release.update(
            papers=total,
            added_papers=release.get("added_papers", 0) + len(paper_ids),
            added_seconds=round(time.perf_counter() - started, 3),
        )
        version = store.publish(write, release)
        return {**store.release(version), "added": len(paper_ids)}  # as published: its time


def add_new_papers_now(trainer: Trainer, serving: Any = None) -> None:
    """Add the catalog's new papers to the current model through the server's ``trainer``
    (after the run in progress, if any), wait for it, then have ``serving`` (a
    :class:`~server.serving.service.Serving`) load the result: what the server does right
    after its daily arXiv sync, so that the digests sent next know the day's papers. The run
    is the trainer's like any other (its status shows it, the retrain scheduler waits for
    it); a failure is logged there and the server goes on."""
    last = trainer.run(new_papers=True)
    if last and last["ok"] and serving is not None:
        serving.models.refresh(wait=True)


EVENT_LOG = ".events.npz"  # in the models folder: the events the last training read


def read_events(db: sqlite_utils.Database, path: Path, last_seq: int) -> EventLog:
    """Every event up to ``last_seq`` as an :class:`~recommender.interactions.EventLog`.

    The log the previous training kept at ``path`` is reused when no event it covers was
    erased since (:func:`server.store.storage.events_mark`), so only newer events are read (reading
    millions of rows was a sixth of a large retrain); otherwise every event is read again.
    The log is then saved back for the next training. Call within a read snapshot.
    """
    from recommender.interactions import EventLog

    events = EventLog.load(path)
    covered = events.meta.get("last_seq", -1) if events is not None else -1
    if not 0 <= covered <= last_seq or events.meta.get("mark") != storage.events_mark(db, covered):
        events, covered = EventLog(), 0
    events.extend(storage.iter_interactions(db, after=covered, upto=last_seq))
    events.meta = {"last_seq": last_seq, "mark": storage.events_mark(db, last_seq)}
    try:
        events.save(path)
    except OSError as error:  # training goes on; the next one reads every event
        log.warning("could not keep the events for the next training in %s: %s", path, error)
    return events


def forget_erased(store: ModelStore) -> None:
    """After a history is erased, drop what training keeps outside the database per user: the
    events the last training read, and the ids and ALS factors each kept version holds for the
    next training. (A training already running when the history was erased writes them again
    with the erased events; the next training after it drops them.)"""
    from recommender import HybridRecommender

    (store.root / EVENT_LOG).unlink(missing_ok=True)
    for version in store.versions():
        HybridRecommender.forget_users(store.folder(version))


def servable(folder: Path) -> bool:
    """Whether this version of the recommender can load the model saved in ``folder``."""
    from recommender.hybrid import FORMAT_VERSION

    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return manifest.get("format_version") == FORMAT_VERSION


class Trainer:
    """Runs ``nextpaper train`` in a child process and remembers how the last run ended.

    Several server processes may serve one home (``serve --workers N``), each with its own
    trainer, and any of them may be asked for a retrain: runs queue on the home's training
    lock, :meth:`status` calls a run in another process ``running`` too, and how the last run
    ended is kept in the models folder (:data:`LAST_RUN`), so that every process, and the next
    server, tells the same."""

    def __init__(self, home: Path, models_dir: Path | None = None):
        self.home = Path(home)
        self.models_dir = Path(models_dir) if models_dir else self.home / "models"
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._started_at: str | None = None
        self._queued = False
        self._queued_new_papers = False
        self._spawned = 0  # runs started, and runs finished: what run() waits on
        self._finished = 0
        self._done = threading.Condition(self._lock)
        self.last: dict[str, Any] | None = None

    def command(self, *, new_papers: bool = False) -> list[str]:
        """``nextpaper train``, or with ``new_papers`` only adding the catalog's new papers."""
        extra = ["--new-papers"] if new_papers else []
        home = str(self.home)
        return [sys.executable, "-m", "server.cli", "--home", home, "train", "--quiet", *extra]

    def start(self, *, new_papers: bool = False) -> dict[str, Any]:
        """Start a training run (``new_papers``: only add new papers); if one is running, queue
        one more to follow it (a full training when either asked for one).

        The queued run sees everything stored up to its own start, so a request for a retrain
        is never answered by a run that began before it. Returns :meth:`status`.
        """
        with self._lock:
            self._request(new_papers)
        return self.status()

    def run(self, *, new_papers: bool = False) -> dict[str, Any] | None:
        """:meth:`start`, then wait until the run that answers it has finished; returns how
        it ended (:attr:`last`)."""
        with self._done:
            # the run answering is the next one spawned: now, or after the one in progress
            answering = self._spawned + 1
            self._request(new_papers)
            self._done.wait_for(lambda: self._finished >= answering)
            return self.last

    def _request(self, new_papers: bool) -> None:
        """Spawn a run, or queue one more after the run in progress (with the lock held)."""
        if self._process is None:
            self._spawn(new_papers)
        elif self._queued:
            self._queued_new_papers = self._queued_new_papers and new_papers
        else:
            self._queued, self._queued_new_papers = True, new_papers

    def _spawn(self, new_papers: bool = False) -> None:
        self._spawned += 1
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._process = subprocess.Popen(
            self.command(new_papers=new_papers),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._mark_run(self._process.pid)
        threading.Thread(target=self._wait, args=(self._process,), daemon=True).start()

    def _wait(self, process: subprocess.Popen) -> None:
        out, err = process.communicate()
        finished = datetime.now(UTC).isoformat(timespec="seconds")
        if process.returncode == 0:
            version = out.strip().splitlines()[-1] if out.strip() else None
            self.last = {"ok": True, "version": version, "finished_at": finished}
            log.info("training published %s", version)
        else:
            reason = (err.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
            self.last = {"ok": False, "error": reason, "finished_at": finished}
            log.error("training failed (%s); the previous model keeps serving", reason)
        self._keep_last()
        (self.models_dir / RUNS / f"{process.pid}.json").unlink(missing_ok=True)
        with self._lock:
            self._process = None
            self._finished += 1
            self._done.notify_all()
            if self._queued:
                self._queued = False
                self._spawn(self._queued_new_papers)

    def _mark_run(self, pid: int) -> None:
        """Say, for the other processes serving this home, that run ``pid`` is under way."""
        try:
            runs = self.models_dir / RUNS
            runs.mkdir(parents=True, exist_ok=True)
            write_atomic(runs / f"{pid}.json", json.dumps({"started_at": self._started_at}))
        except OSError as error:  # the status of other processes is all that is lost
            log.warning("could not note the training run: %s", error)

    def _keep_last(self) -> None:
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(self.models_dir / LAST_RUN, json.dumps(self.last))
        except OSError as error:
            log.warning("could not keep how the training ended: %s", error)

    def _started_elsewhere(self) -> str | None:
        """When the earliest run another process of this home started began, if one runs."""
        started = []
        for mark in (self.models_dir / RUNS).glob("*.json"):
            try:
                os.kill(int(mark.stem), 0)
            except ProcessLookupError:  # ended with the process that started it
                mark.unlink(missing_ok=True)
                continue
            except (PermissionError, ValueError):
                continue
            try:
                started.append(json.loads(mark.read_text(encoding="utf-8"))["started_at"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return min(started, default=None)

    def last_run(self) -> dict[str, Any] | None:
        """How the last run started by any server of this home ended (None: no run yet)."""
        try:
            return json.loads((self.models_dir / LAST_RUN).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return self.last

    def running(self) -> bool:
        """Whether this trainer's own run is in progress."""
        return self._process is not None

    def busy(self) -> bool:
        """Whether a training runs now: this trainer's, or one in another process."""
        return self.running() or training_running(self.models_dir)

    def status(self) -> dict[str, Any]:
        """``state`` (``running`` when any process of this home trains), when the run began
        (None when not known here: a ``nextpaper train`` from the command line), whether this
        process has one more queued, and how the ``last`` run ended."""
        started = self._started_at if self._process is not None else self._started_elsewhere()
        running = started is not None or training_running(self.models_dir)
        return {
            "state": "running" if running else "idle",
            "started_at": started if running else None,
            "queued": self._queued,
            "last": self.last_run(),
        }


class RetrainScheduler:
    """The server's background loop: retrain when the served model has fallen behind, and
    add the catalog's new papers to it in between.

    A retrain is due when there is no model yet but there are papers (the first model is
    built from the catalog's text alone, in seconds at lab scale, and answers until events
    come); when the current model cannot be served by this version; when a history was erased
    since the model was trained (it still holds that reading); when papers left the catalog;
    and, once the model is older than ``spacing`` (:meth:`spacing`), when the events grew by
    ``GROWTH`` of what the model was trained on (at least ``MIN_NEW_EVENTS``, at most
    ``every_events``), or when anything changed and the model is ``every_minutes`` old. So a
    young deployment, whose model lacks most of what its readers open, retrains after a few
    events, and a large one after ``every_events``.

    Papers new to the catalog (an arXiv sync, a library import, an open of an unknown paper)
    need no retrain: when none is due, :meth:`papers_to_add` has them added to the current
    model from their text (:func:`add_papers_and_publish`), at most once per ``spacing`` of
    that step.
    """

    GROWTH = 0.1
    MIN_NEW_EVENTS = 5
    MIN_SPACING_SECONDS = 10.0
    SPACING_PER_FIT = 2.0  # times the last training's duration

    def __init__(
        self,
        db_path: str | Path,
        store: ModelStore,
        trainer: Trainer,
        *,
        every_events: int,
        every_minutes: float,
        poll_seconds: float = 5.0,
    ):
        self.db_path = db_path
        self.store = store
        self.trainer = trainer
        self.every_events = every_events
        self.every_minutes = every_minutes
        self.poll_seconds = poll_seconds
        self.failure_backoff_seconds = 60.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retrain", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def spacing(self, release: dict[str, Any]) -> float:
        """Seconds a model serves at least before growth retrains it."""
        fit = float(release.get("fit_seconds") or 0.0)
        return max(self.MIN_SPACING_SECONDS, self.SPACING_PER_FIT * fit)

    def due(self, db: sqlite_utils.Database) -> str | None:
        """Why a retrain is due now, or None."""
        papers = storage.count_papers(db)
        version = self.store.current_version()
        if version is None:
            return "no model yet" if papers > 0 else None
        if not servable(self.store.folder(version)):
            return "the current model's format is not this version's"
        release = self.store.release(version)
        if storage.erasures(db) != release.get("erasures", 0):
            return "a history was erased"
        trained_at = datetime.fromisoformat(release["trained_at"])
        age = (datetime.now(UTC) - trained_at).total_seconds()
        if age < self.spacing(release):
            return None
        trained_events = release.get("last_event_seq", 0)
        new_events = storage.last_event_seq(db) - trained_events
        new_papers = papers - release.get("papers", 0)
        grown = max(self.MIN_NEW_EVENTS, self.GROWTH * trained_events)
        if new_papers < 0:
            return f"{new_papers:+d} papers"
        if new_events >= min(self.every_events, grown):
            return f"{new_events} new events"
        if new_events > 0 and age >= 60 * self.every_minutes:
            return "the model is old"
        return None

    def papers_to_add(self, db: sqlite_utils.Database) -> int:
        """How many catalog papers the current model lacks, once it has served for the
        spacing of the last time papers were added (0: none, or not yet)."""
        version = self.store.current_version()
        if version is None:
            return 0
        release = self.store.release(version)
        new_papers = storage.count_papers(db) - release.get("papers", 0)
        if new_papers <= 0:
            return 0
        published = datetime.fromisoformat(release.get("published_at", release["trained_at"]))
        age = (datetime.now(UTC) - published).total_seconds()
        wait = max(self.MIN_SPACING_SECONDS, self.SPACING_PER_FIT * release.get("added_seconds", 0))
        return new_papers if age >= wait else 0

    def _backing_off(self) -> bool:
        """After a failed run, wait a while instead of failing again every poll."""
        last = self.trainer.last
        if not last or last["ok"]:
            return False
        finished = datetime.fromisoformat(last["finished_at"])
        return (datetime.now(UTC) - finished).total_seconds() < self.failure_backoff_seconds

    def _run(self) -> None:
        from ..store.db import connect

        db = connect(self.db_path)
        try:
            while not self._stop.is_set():
                try:
                    if not self.trainer.busy() and not self._backing_off():
                        why = self.due(db)
                        if why:
                            log.info("starting a background retrain: %s", why)
                            self.trainer.start()
                        elif new := self.papers_to_add(db):
                            log.info("adding %d new papers to the model", new)
                            self.trainer.start(new_papers=True)
                except Exception:
                    log.exception("retrain check failed")
                self._stop.wait(self.poll_seconds)
        finally:
            db.close()
