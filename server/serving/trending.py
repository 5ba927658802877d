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
recounted in the background once stale, as the popular list is (:class:`Recounted`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils

from ..store import storage
from .recount import Recounted

Picked = list[tuple[str, float, list[dict]]]
Row = tuple[str, float, int, str]  # paper_id, decayed score, readers, date

FLOOR = 2  # as recommender.scoring.MIN_READERS: a reason never points at a single person
# An event's ts may be up to a day after its receipt (store.validation.FUTURE_SLACK), and
# receipt times may run a few seconds out of order between writers: the window's events are
# looked for among those received from this long before it.
RECEIPT_MARGIN = timedelta(days=1, hours=1)


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
        self._counted = Recounted(
            self._count, what="the trending papers", floor=10.0, keys=self.WINDOWS
        )

    @property
    def generation(self) -> int:
        """Moves with every count, so that kept bodies can name the list."""
        return self._counted.generation

    def get(self, db: sqlite_utils.Database, days: int) -> list[Row]:
        """``(paper_id, score, readers, date)`` of the most-read papers of the last ``days``
        days, highest score first; ``date`` is the published date (or the day first seen)."""
        return self._counted.get(db, days)

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

    def _count(self, db: sqlite_utils.Database, days: int) -> list[Row]:
        """Count the window's readers."""
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
        return [(p, score, readers, dates[p]) for p, score, readers in best if p in dates]
