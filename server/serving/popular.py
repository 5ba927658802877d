"""The one notion of popular on the server: the papers with the most distinct readers.

Owns what a reader is shown when the model has nothing (or too little) to say: a newcomer with
no history, no model trained yet, a model that knows too few papers under a filter. Readers are
counted as of the last training, from the served model (counting them from the events takes
tens of seconds at 5M events), or from the events themselves before the first training. An
answer is topped up with the most-read papers, each with a ``popular`` reason naming its
readers (the shape the model's popularity component gives), interleaved with the newest papers
(``fresh``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import sqlite_utils

from ..store import storage
from .recount import Recounted

Picked = list[tuple[str, float, list[dict]]]


class PopularPapers:
    """The most-read papers: the served model's readers, or counted from the events (a scan
    of every event, kept and recounted in the background when stale: :class:`Recounted`)."""

    SIZE = 1000
    FRESH_SHARE = 0.5  # weight of the newest papers against the most read (see top_up)

    def __init__(self) -> None:
        self._counted = Recounted(
            lambda db, _: storage.most_read_papers(db, self.SIZE),
            what="the popular papers",
            floor=1.0,
        )
        self._model_rows: tuple[str, list[tuple[str, int, str]]] | None = None

    @property
    def generation(self) -> int:
        """Moves with every count from the events, so keys can name the list they used (a list
        from the model is named by the model's version)."""
        return self._counted.generation

    def get(self, db: sqlite_utils.Database, loaded: Any = None) -> list[tuple[str, int, str]]:
        """``(paper_id, readers, date)`` of the most-read papers, most readers first: those of
        the served model (``loaded``, a :class:`~server.serving.holder.LoadedModel`) when there
        is one, else counted from the events."""
        if loaded is not None:
            return self._from_model(loaded)
        return self._counted.get(db)

    def top_up(
        self,
        db: sqlite_utils.Database,
        picked: Picked,
        n: int,
        *,
        exclude: set[str],
        since: str | None,
        loaded: Any = None,
        most_read: list[tuple[str, dict, str]] | None = None,
    ) -> None:
        """Top ``picked`` up to ``n`` items from the most-read papers and the newest, leaving
        out ``exclude`` and, with ``since``, papers dated before it. A paper counts as popular
        from ``MIN_READERS`` readers on (a reason never points at one person); the readers are
        other people, as the caller leaves out (``exclude``) the papers the reader has seen.
        ``most_read``: ``(paper_id, reason, date)`` rows to take instead of the most read of
        all time (the trending list, :mod:`server.serving.trending`, which keeps the same rules).

        The two lists interleave by rank: the i-th most read paper counts 1 / (1 + i), the
        i-th newest ``FRESH_SHARE`` / (1 + i), so a newcomer sees what others read and, about
        every third item, what just appeared.
        """
        if len(picked) >= n:
            return
        # imported here: the recommender (numpy, scipy, implicit, faiss) loads with a model
        from recommender.scoring import MIN_READERS

        taken = exclude | {paper_id for paper_id, _, _ in picked}
        wanted = n - len(picked)
        if most_read is None:
            most_read = [
                (paper_id, {"type": "popular", "readers": readers}, date)
                for paper_id, readers, date in self.get(db, loaded)
                if readers >= MIN_READERS
            ]
        popular = [
            (paper_id, dict(reason))
            for paper_id, reason, date in most_read
            if paper_id not in taken and (since is None or (date or "") >= since)
        ][:wanted]
        newest = [
            (paper_id, {"type": "fresh"})
            for paper_id in storage.newest_papers(db, wanted + len(taken), since=since)
            if paper_id not in taken
        ][:wanted]
        ranked = [(1.0 / (1 + i), 0, i, item) for i, item in enumerate(popular)]
        ranked += [(self.FRESH_SHARE / (1 + i), 1, i, item) for i, item in enumerate(newest)]
        ranked.sort(key=lambda r: (-r[0], r[1], r[2]))
        for _, _, _, (paper_id, reason) in ranked:
            if paper_id not in taken:
                picked.append((paper_id, 0.0, [reason]))
                taken.add(paper_id)
                if len(picked) >= n:
                    return

    def _from_model(self, loaded: Any) -> list[tuple[str, int, str]]:
        kept = self._model_rows
        if kept is not None and kept[0] == loaded.version:
            return kept[1]
        model = loaded.model
        top = model.most_read(self.SIZE)
        readers = np.asarray(model.readers)[top]
        days = np.asarray(model.published_days)[top]
        rows = [
            (model.paper_ids[i], int(r), dt.date.fromordinal(int(d)).isoformat() if d > 0 else "")
            for i, r, d in zip(top.tolist(), readers.tolist(), days.tolist(), strict=True)
            if r > 0
        ]
        self._model_rows = (loaded.version, rows)
        return rows
