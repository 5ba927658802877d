"""Turning the current model and the database into the API's recommendation items.

Owns the request-time glue: reading the user's history (the fold-in that makes a new open count
at once), the ``since`` candidate filter, filling up from popular and fresh papers when there is
no model yet or the model knows too few candidates, attaching stored papers and the titles
that ``because_you_read`` reasons name, and keeping what a repeated question can reuse: the
model's answers (:class:`ModelAnswers`) and whole response bodies (:class:`ResponseBodies`).
"""

from __future__ import annotations

import hashlib
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import sqlite_utils

from ..store import storage
from .holder import LoadedModel


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
        if self._rows is None:
            with self._lock:
                if self._rows is None:
                    self._count(db)
        elif time.monotonic() >= self._expires and not self._recounting:
            self._recounting = True
            path = db.execute("PRAGMA database_list").fetchone()[2]
            threading.Thread(target=self._recount, args=(path,), daemon=True).start()
        return self._rows

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


class RecentPapers:
    """Candidate ids for a ``since`` date, kept while no paper is added to the catalog.

    Listing tens of thousands of ids and mapping them to the model costs far more than a
    recommendation itself; the same tuple is handed out again (the model then reuses its
    mapping) until the catalog grows or another date is asked for.
    """

    def __init__(self) -> None:
        self._kept: tuple[str, int, tuple[str, ...]] | None = None

    def get(self, db: sqlite_utils.Database, since: str) -> tuple[str, int, tuple[str, ...]]:
        """``(since, catalog mark, ids)``: the first two name the list (see ModelAnswers)."""
        mark = storage.catalog_mark(db)
        kept = self._kept
        if kept is not None and kept[0] == since and kept[1] == mark:
            return kept
        self._kept = (since, mark, tuple(storage.paper_ids_since(db, since)))
        return self._kept


Answer = list[tuple[str, float, tuple[dict, ...]]]


V = TypeVar("V")


class _Kept(Generic[V]):
    """A thread-safe least-recently-used store of computed values, bounded by their total cost
    (:meth:`cost`; one per value unless a subclass weighs them). A value costing more than the
    whole limit is handed out but not kept."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, V] = OrderedDict()
        self._total = 0

    def cost(self, value: V) -> int:
        return 1

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            value = self._kept.get(key)
            if value is not None:
                self._kept.move_to_end(key)
                return value
        value = compute()
        cost = self.cost(value)
        with self._lock:
            if key not in self._kept and cost <= self.LIMIT:
                self._kept[key] = value
                self._total += cost
                while self._total > self.LIMIT:
                    self._total -= self.cost(self._kept.popitem(last=False)[1])
        return value


class ModelAnswers(_Kept[Answer]):
    """The model's answers, kept for the same model version and the same question.

    A recommendation is a function of the model, the user's whole current history, ``n`` and
    the candidate filter, and the key holds exactly those (the history as a 128-bit digest, the
    filter as its date and the catalog's mark), so a kept answer is never stale: a new event, a
    deleted history, a new paper under a filter or a retrain makes a new key. The side panel
    asks again on every tab switch, mostly with nothing new in between; those requests then
    skip the model (several ms at large scale). At most ``LIMIT`` answers are kept.
    """

    LIMIT = 4096


class ResponseBodies(_Kept[bytes]):
    """Finished response bodies, kept for the same question asked of the same data.

    Beyond the model's answer, a body holds stored papers, the titles its reasons name and the
    popular or fresh fill-up, so its key adds what those were read from: the catalog's version
    (moved by every change to a paper row, from any process) and the most-read list's
    generation. A repeated question then costs a history read and two lookups instead of
    reading and encoding a few dozen papers (about 2 ms at large scale). At most ``LIMIT``
    bytes are kept.
    """

    LIMIT = 16 * 1024 * 1024

    def cost(self, value: bytes) -> int:
        return len(value)


def history_digest(history: list[tuple[str, str, int | None]]) -> bytes:
    """A 128-bit fingerprint of a history, for keys (keeping whole histories would cost
    megabytes for the heaviest readers)."""
    return hashlib.blake2b(pickle.dumps(history, protocol=5), digest_size=16).digest()


def _picked(answer: Answer) -> list[tuple[str, float, list[dict]]]:
    """A kept answer as fresh lists and dicts (``_items`` adds titles to the reasons)."""
    return [(paper_id, score, [dict(r) for r in reasons]) for paper_id, score, reasons in answer]


def _fill(
    db: sqlite_utils.Database,
    popular: PopularPapers,
    picked: list[tuple[str, float, list[dict]]],
    n: int,
    *,
    exclude: set[str],
    since: str | None,
) -> None:
    """Top up ``picked`` to ``n`` items with the most-read papers, then the newest."""
    taken = exclude | {paper_id for paper_id, _, _ in picked}
    for paper_id, readers, date in popular.get(db) if len(picked) < n else ():
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


def _items(db: sqlite_utils.Database, picked: list[tuple[str, float, list[dict]]]) -> list[dict]:
    wanted = [paper_id for paper_id, _, _ in picked]
    for _, _, reasons in picked:
        wanted += [r["paper_id"] for r in reasons if r.get("paper_id")]
    papers = storage.get_papers(db, wanted)
    items = []
    for paper_id, score, reasons in picked:
        paper = papers.get(paper_id)
        if paper is None:
            continue  # erased from the catalog since the model was trained
        for reason in reasons:
            if reason.get("paper_id") in papers:
                reason["title"] = papers[reason["paper_id"]].get("title", "")
        items.append({"paper": paper, "score": round(float(score), 6), "reasons": reasons})
    return items


def recommend_for_user(
    db: sqlite_utils.Database,
    loaded: LoadedModel | None,
    popular: PopularPapers,
    user_id: str,
    *,
    n: int,
    since: str | None = None,
    recent: RecentPapers | None = None,
    answers: ModelAnswers | None = None,
    history: list[tuple[str, str, int | None]] | None = None,
    digest: bytes | None = None,
) -> dict[str, Any]:
    """The body of ``GET /api/v1/recommendations`` for ``user_id`` (``history``: the user's
    :func:`~server.store.storage.user_history`, and ``digest`` its :func:`history_digest`, when the
    caller has them already)."""
    if history is None:
        history = storage.user_history(db, user_id)
        digest = None
    seen = {paper_id for paper_id, _, _ in history}
    filtered = (recent or RecentPapers()).get(db, since) if since else None
    candidates = filtered[2] if filtered else None
    picked: list[tuple[str, float, list[dict]]] = []
    if loaded is not None and (candidates is None or candidates):

        def ask() -> Answer:
            recs = loaded.model.recommend(history, n=n, candidates=candidates)
            return [(r.paper_id, r.score, tuple(r.reasons)) for r in recs if r.paper_id not in seen]

        digest = digest or history_digest(history)
        key = ("for_user", loaded.version, n, filtered and filtered[:2], digest)
        picked = _picked((answers or ModelAnswers()).get(key, ask))
    _fill(db, popular, picked, n, exclude=seen, since=since)
    return {
        "model_version": loaded.version if loaded else None,
        "items": _items(db, picked[:n]),
    }


def similar_papers(
    db: sqlite_utils.Database,
    loaded: LoadedModel | None,
    popular: PopularPapers,
    paper: dict[str, Any],
    *,
    n: int,
    answers: ModelAnswers | None = None,
) -> dict[str, Any]:
    """The body of ``GET /api/v1/papers/<id>/similar`` for a stored paper."""
    paper_id = paper["id"]
    text = f"{paper.get('title', '')} {paper.get('abstract', '')}".strip()
    picked: list[tuple[str, float, list[dict]]] = []
    if loaded is not None:

        def ask() -> Answer:
            recs = loaded.model.similar(paper_id, n=n, text=text or None)
            return [(r.paper_id, r.score, tuple(r.reasons)) for r in recs if r.paper_id != paper_id]

        key = ("similar", loaded.version, n, paper_id, text)
        picked = _picked((answers or ModelAnswers()).get(key, ask))
    _fill(db, popular, picked, n, exclude={paper_id}, since=None)
    return {
        "model_version": loaded.version if loaded else None,
        "items": _items(db, picked[:n]),
    }


Encode = Callable[[dict[str, Any]], bytes]


def recommendations_body(
    db: sqlite_utils.Database,
    loaded: LoadedModel | None,
    popular: PopularPapers,
    user_id: str,
    *,
    n: int,
    since: str | None,
    recent: RecentPapers,
    answers: ModelAnswers,
    bodies: ResponseBodies,
    encode: Encode,
) -> bytes:
    """:func:`recommend_for_user`, encoded, or the body kept for the same question and data."""
    history = storage.user_history(db, user_id)
    digest = history_digest(history)
    key = (
        "for_user",
        loaded.version if loaded else None,
        n,
        since,
        digest,
        storage.catalog_version(db),
        popular.generation,
    )
    return bodies.get(
        key,
        lambda: encode(
            recommend_for_user(
                db,
                loaded,
                popular,
                user_id,
                n=n,
                since=since,
                recent=recent,
                answers=answers,
                history=history,
                digest=digest,
            )
        ),
    )


def similar_body(
    db: sqlite_utils.Database,
    loaded: LoadedModel | None,
    popular: PopularPapers,
    paper: dict[str, Any],
    *,
    n: int,
    answers: ModelAnswers,
    bodies: ResponseBodies,
    encode: Encode,
) -> bytes:
    """:func:`similar_papers`, encoded, or the body kept for the same question and data."""
    key = (
        "similar",
        loaded.version if loaded else None,
        n,
        paper["id"],
        storage.catalog_version(db),
        popular.generation,
    )
    return bodies.get(
        key, lambda: encode(similar_papers(db, loaded, popular, paper, n=n, answers=answers))
    )
