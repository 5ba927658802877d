"""The one notion of popular on the server: the papers with the most distinct readers.

Owns what a reader is shown when the model has nothing (or too little) to say: a newcomer with
no history, no model trained yet, a model that knows too few papers under a filter. The list is
topped up with the most-read papers, each with a ``popular`` reason naming its readers (the
same shape the model's popularity component gives), then with the newest papers (``fresh``).
"""

from __future__ import annotations

import threading
import time

import sqlite_utils

from ..store import storage

Picked = list[tuple[str, float, list[dict]]]


class PopularPapers:
    """The most-read papers, recounted in the background when stale.

    Counting readers scans every event, so the count is kept: the first request counts, and
    later ones get the kept list while a background thread recounts it once it is older than
    twenty times the last count took (between one second and five minutes).
    """

    SIZE = 1000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[tuple[str, int, str]] | None = None
        self._expires = 0.0
        self._recounting = False
        self.generation = 0  # moves with every count, so keys can name the list they used

    def get(self, db: sqlite_utils.Database) -> list[tuple[str, int, str]]:
        """``(paper_id, readers, date)`` of the most-read papers, most readers first."""
        if self._rows is None:
            with self._lock:
                if self._rows is None:
                    self._count(db)
        elif time.monotonic() >= self._expires and not self._recounting:
            self._recounting = True
            path = storage.database_path(db)
            threading.Thread(target=self._recount, args=(path,), daemon=True).start()
        return self._rows

    def top_up(
        self,
        db: sqlite_utils.Database,
        picked: Picked,
        n: int,
        *,
        exclude: set[str],
        since: str | None,
    ) -> None:
        """Top ``picked`` up to ``n`` items with the most-read papers, then the newest, leaving
        out ``exclude`` and, with ``since``, papers dated before it."""
        taken = exclude | {paper_id for paper_id, _, _ in picked}
        for paper_id, readers, date in self.get(db) if len(picked) < n else ():
            if len(picked) >= n:
                return
            if paper_id not in taken and (since is None or (date or "") >= since):
                picked.append((paper_id, 0.0, [{"type": "popular", "readers": readers}]))
                taken.add(paper_id)
        if len(picked) < n:
            for paper_id in storage.newest_papers(db, n + len(taken), since=since):
                if paper_id not in taken:
                    picked.append((paper_id, 0.0, [{"type": "fresh"}]))
                    taken.add(paper_id)
                    if len(picked) >= n:
                        return

    def _count(self, db: sqlite_utils.Database) -> None:
        started = time.monotonic()
        self._rows = storage.most_read_papers(db, self.SIZE)
        self.generation += 1
        took = time.monotonic() - started
        self._expires = time.monotonic() + min(300.0, max(1.0, 20 * took))

    def _recount(self, path: str) -> None:
        from ..store.db import connect

        db = connect(path)
        try:
            self._count(db)
        finally:
            db.close()
            self._recounting = False
