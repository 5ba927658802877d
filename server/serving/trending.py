"""Trending: the papers read most in this deployment over a recent window, decayed by age.

The recent twin of :mod:`server.serving.popular`, under the same rules: readers are distinct
people, a paper is listed only with at least ``TRENDING_MIN_READERS`` of them (never fewer
than two, so that no one's reading shows through), and a reader is never shown a paper they
opened, saved or dismissed, so the readers counted for them are always other people. The
reason is the popular list's own (``popular`` with ``readers``), with the window in ``days``.

Each reader of a paper counts ``0.5 ** (age / half-life)``, ``age`` being the time since their
latest reading of it (an open, read, like or save) and the half-life half the window: over a
week, a reader of three days ago counts about half as much as one of today, and one of a week
ago a quarter. Counting reads only the window's events (found by
:func:`~server.store.storage.first_seq_received_since`), and each window's count is kept and
recounted in the background once stale, as the popular list is.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from ..store import storage

log = logging.getLogger(__name__)

Picked = list[tuple[str, float, list[dict]]]
Row = tuple[str, float, int, str]  # paper_id, decayed score, readers, date

FLOOR = 2  # as recommender.scoring.MIN_READERS: a reason never points at a single person
# An event's ts may be up to a day after its receipt (store.validation.FUTURE_SLACK), and
# receipt times may run a few seconds out of order between writers: the window's events are
# looked for among those received from this long before it.
RECEIPT_MARGIN = timedelta(days=1, hours=1)


@dataclass
class _Count:
    rows: list[Row]
    expires: float
    recounting: bool = False


class TrendingPapers:
    """The most-read papers of recent windows (``days``), kept per window.

    Parameters
    ----------
    min_readers : the ``TRENDING_MIN_READERS`` setting (values under two count as two)
    """

    SIZE = 1000  # papers kept per window
    WINDOWS = 16  # windows kept at once, the least recently counted dropped first

    def __init__(self, min_readers: int = FLOOR) -> None:
        self.min_readers = max(FLOOR, int(min_readers))
        self._lock = threading.Lock()  # one first count at a time
        self._keep_lock = threading.Lock()
        self._counts: dict[int, _Count] = {}
        self.generation = 0  # moves with every count, so that kept bodies can name the list

    def get(self, db: sqlite_utils.Database, days: int) -> list[Row]:
        """``(paper_id, score, readers, date)`` of the most-read papers of the last ``days``
        days, highest score first; ``date`` is the published date (or the day first seen)."""
        kept = self._counts.get(days)
        if kept is None:
            with self._lock:
                kept = self._counts.get(days)
                if kept is None:
                    kept = self._count(db, days)
        elif time.monotonic() >= kept.expires and not kept.recounting:
            kept.recounting = True
            path = storage.database_path(db)
            threading.Thread(target=self._recount, args=(path, days), daemon=True).start()
        return kept.rows

    def top(
        self,
        db: sqlite_utils.Database,
        n: int,
        *,
        days: int,
        exclude: set[str],
    ) -> Picked:
        """The ``n`` best papers of the window outside ``exclude`` (the reader's seen papers),
        each with its ``popular`` reason."""
        picked: Picked = []
        for paper_id, score, _, reason, _ in self._listed(db, days):
            if paper_id in exclude:
                continue
            picked.append((paper_id, score, [dict(reason)]))
            if len(picked) >= n:
                break
        return picked

    def as_popular(self, db: sqlite_utils.Database, days: int) -> list[tuple[str, dict, str]]:
        """The window's list as ``(paper_id, reason, date)``, the rows
        :meth:`~server.serving.popular.PopularPapers.top_up` fills an answer from."""
        return [(paper_id, reason, date) for paper_id, _, _, reason, date in self._listed(db, days)]

    @staticmethod
    def reason(readers: int, days: int) -> dict[str, Any]:
        return {"type": "popular", "readers": readers, "days": days}

    def _listed(self, db: sqlite_utils.Database, days: int):
        for paper_id, score, readers, date in self.get(db, days):
            yield paper_id, score, readers, self.reason(readers, days), date

    def _count(self, db: sqlite_utils.Database, days: int) -> _Count:
        """Count the window's readers and keep the list (replacing any kept one)."""
        started = time.monotonic()
        now = datetime.now(UTC)
        start = now - timedelta(days=days)
        half_life = days * 86400.0 / 2
        from_seq = storage.first_seq_received_since(db, storage.stored_time(start - RECEIPT_MARGIN))
        tally: dict[str, list[float]] = {}
        readings = storage.recent_readings(db, from_seq=from_seq, since=storage.stored_time(start))
        for paper_id, _, last in readings:
            age = max(0.0, (now - datetime.fromisoformat(last)).total_seconds())
            counted = tally.setdefault(paper_id, [0, 0.0])
            counted[0] += 1
            counted[1] += 0.5 ** (age / half_life)
        best = sorted(
            (
                (paper_id, round(score, 6), int(readers))
                for paper_id, (readers, score) in tally.items()
                if readers >= self.min_readers
            ),
            key=lambda row: (-row[1], -row[2], row[0]),
        )[: self.SIZE]
        dates = storage.paper_dates(db, [row[0] for row in best])
        rows = [(p, score, readers, dates[p]) for p, score, readers in best if p in dates]
        took = time.monotonic() - started
        kept = _Count(rows, time.monotonic() + min(300.0, max(10.0, 20 * took)))
        with self._keep_lock:
            self._counts.pop(days, None)  # re-inserted last: the oldest count is dropped first
            self._counts[days] = kept
            while len(self._counts) > self.WINDOWS:
                self._counts.pop(next(iter(self._counts)))
            self.generation += 1
        return kept

    def _recount(self, path: str, days: int) -> None:
        from ..store.db import connect

        try:
            db = connect(path)
            try:
                self._count(db, days)
            finally:
                db.close()
        except Exception:  # the kept list goes on serving; the next request tries again
            log.exception("recounting the trending papers failed")
            kept = self._counts.get(days)
            if kept is not None:
                kept.recounting = False
