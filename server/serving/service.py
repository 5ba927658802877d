"""The serving object: the current model and the database turned into the API's answers.

:class:`Serving` is built once per app (``create_app``) or per command (``nextpaper
recommend``) and owns everything a recommendation or a similar-papers answer needs between
requests: the hold on the published model (:class:`~server.serving.holder.ModelHolder`), the
kept answers and bodies (:mod:`server.serving.caches`) and the popular list
(:class:`~server.serving.popular.PopularPapers`). A request reads the user's current history
(the fold-in that makes a new open count at once; a paper the model does not know yet counts
through its title and abstract), asks the model, tops the answer up from the
popular and newest papers, and attaches the stored papers and the titles that
``because_you_read`` reasons name. New papers (``/new``: the same answer among the papers of
the last days, topped up from the trending ones) and the trending lists
(:class:`~server.serving.trending.TrendingPapers`) are answered here too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from ..model_versions import ModelStore
from ..store import storage
from .caches import Answer, ModelAnswers, ResponseBodies, fingerprint
from .holder import LoadedModel, ModelHolder
from .popular import Picked, PopularPapers
from .reasons import cited_papers, sentence
from .trending import TrendingPapers

Encode = Callable[[dict[str, Any]], bytes]

# /new tops its answer up from what was read most over this window (and the newest papers).
NEW_TRENDING_DAYS = 7


def days_ago(days: int) -> str:
    """The ISO date ``days`` days before today (UTC): ``since`` for "the last ``days`` days"."""
    return (datetime.now(UTC).date() - timedelta(days=days)).isoformat()


class Serving:
    """Answers to "what should this user read" and "what is related to this paper".

    Parameters
    ----------
    models : the ``models/`` folder of the home
    check_seconds : how often the holder looks for a newly published model
    trending_min_readers : the ``TRENDING_MIN_READERS`` setting
    """

    def __init__(
        self, models: str | Path, check_seconds: float = 0.5, trending_min_readers: int = 2
    ) -> None:
        self.store = ModelStore(models)
        self.models = ModelHolder(self.store, check_seconds=check_seconds)
        self.popular = PopularPapers()
        self.trending = TrendingPapers(trending_min_readers)
        self.answers = ModelAnswers()
        self.bodies = ResponseBodies()

    def current(self) -> LoadedModel | None:
        """The model being served (loading the published one on the first call)."""
        return self.models.get()

    def topics(
        self, db: sqlite_utils.Database, papers: Sequence[tuple[str, int]], k: int = 6
    ) -> tuple[list[str], np.ndarray]:
        """What ``papers`` (``(paper_id, group)`` pairs, e.g. a reader's by month) are about,
        in the served model's text vocabulary: :meth:`recommender.text.TextModel.main_terms`,
        with papers that joined the catalog after the training counted through their text."""
        loaded = self.current()
        if loaded is None or not papers:
            return [], np.zeros((0, 0), np.float32)
        model = loaded.model
        index = model.paper_index
        texts = _texts_of_new_papers(db, model, [(p, "open", None) for p, _ in papers]) or {}
        known = [(index[p], g) for p, g in papers if p in index]
        unknown = [(texts[p], g) for p, g in papers if p not in index and p in texts]
        rows = np.array([r for r, _ in known], np.int64)
        groups = np.array([g for _, g in known] + [g for _, g in unknown], np.int64)
        return model.text.main_terms(rows, [t for t, _ in unknown], groups, k)

    # ------------------------------------------------------------- answers as dicts
    def recommendations(
        self, db: sqlite_utils.Database, user_id: str, *, n: int, since: str | None = None
    ) -> dict[str, Any]:
        """The body of ``GET /api/v1/recommendations`` for ``user_id``."""
        history = storage.user_history(db, user_id)
        return self._recommendations(db, self.current(), history, fingerprint(history), n, since)

    def similar(self, db: sqlite_utils.Database, paper: dict[str, Any], *, n: int) -> dict:
        """The body of ``GET /api/v1/papers/<id>/similar`` for a stored paper."""
        return self._similar(db, self.current(), paper, n)

    def new(
        self,
        db: sqlite_utils.Database,
        user_id: str,
        *,
        since: str,
        n: int,
        history: list[tuple[str, str, int | None]] | None = None,
    ) -> dict:
        """Papers dated ``since`` or later, ranked for ``user_id`` (the body of ``GET
        /api/v1/new``, and what digests and feeds hold); ``history``: the user's, when the
        caller read it already."""
        if history is None:
            history = storage.user_history(db, user_id)
        return self._new(db, self.current(), history, fingerprint(history), n, since)

    def trending_papers(
        self,
        db: sqlite_utils.Database,
        user_id: str,
        *,
        days: int,
        n: int,
        history: list[tuple[str, str, int | None]] | None = None,
        exclude: frozenset[str] | set[str] = frozenset(),
    ) -> dict[str, Any]:
        """The body of ``GET /api/v1/trending``: what others read most over the last ``days``
        days, without the papers ``user_id`` has seen nor ``exclude`` (``history``: as for
        :meth:`new`)."""
        if history is None:
            history = storage.user_history(db, user_id)
        return self._trending(db, history, days, n, exclude)

    # --------------------------------------------------------- answers as JSON bytes
    def recommendations_body(
        self,
        db: sqlite_utils.Database,
        user_id: str,
        *,
        n: int,
        since: str | None,
        encode: Encode,
    ) -> bytes:
        """:meth:`recommendations`, encoded, or the body kept for the same question and data."""
        generation = self.popular.generation
        answer = self._recommendations
        return self._user_body(db, user_id, "for_user", n, since, generation, answer, encode)

    def similar_body(
        self, db: sqlite_utils.Database, paper: dict[str, Any], *, n: int, encode: Encode
    ) -> bytes:
        """:meth:`similar`, encoded, or the body kept for the same question and data."""
        loaded = self.current()
        key = (
            "similar",
            loaded.version if loaded else None,
            n,
            paper["id"],
            storage.catalog_version(db),
            self.popular.generation,
        )
        return self.bodies.get(key, lambda: encode(self._similar(db, loaded, paper, n)))

    def new_body(
        self, db: sqlite_utils.Database, user_id: str, *, days: int, n: int, encode: Encode
    ) -> bytes:
        """:meth:`new` for the last ``days`` days, encoded, or the body kept for the same
        question and data."""
        self.trending.get(db, NEW_TRENDING_DAYS)  # counted before the key names its generation
        generation = self.trending.generation
        return self._user_body(db, user_id, "new", n, days_ago(days), generation, self._new, encode)

    def trending_body(
        self, db: sqlite_utils.Database, user_id: str, *, days: int, n: int, encode: Encode
    ) -> bytes:
        """:meth:`trending_papers`, encoded, or the body kept for the same question and data."""
        history = storage.user_history(db, user_id)
        self.trending.get(db, days)  # counted before the key names its generation
        key = (
            "trending",
            days,
            n,
            fingerprint(history),
            storage.catalog_version(db),
            self.trending.generation,
        )
        return self.bodies.get(key, lambda: encode(self._trending(db, history, days, n)))

    def _user_body(
        self,
        db: sqlite_utils.Database,
        user_id: str,
        kind: str,
        n: int,
        since: str | None,
        generation: int,
        answer: Callable[..., dict[str, Any]],
        encode: Encode,
    ) -> bytes:
        """``answer(db, loaded, history, digest, n, since)`` for the user, encoded, or the body
        kept under a key that names everything it was computed from: the model version, the
        question, the user's history, the catalog and ``generation``, that of the list the
        answer is topped up from (the most read, or the trending)."""
        history = storage.user_history(db, user_id)
        digest = fingerprint(history)
        loaded = self.current()
        key = (
            kind,
            loaded.version if loaded else None,
            n,
            since,
            digest,
            storage.catalog_version(db),
            generation,
        )
        return self.bodies.get(key, lambda: encode(answer(db, loaded, history, digest, n, since)))

    # ------------------------------------------------ one answer, from one model version
    def _recommendations(
        self,
        db: sqlite_utils.Database,
        loaded: LoadedModel | None,
        history: list[tuple[str, str, int | None]],
        digest: bytes,
        n: int,
        since: str | None,
        most_read: list[tuple[str, dict, str]] | None = None,
    ) -> dict[str, Any]:
        """The answer for a user's ``history`` (``digest``: its fingerprint) from ``loaded``,
        the version the caller keyed it by; topped up from ``most_read`` instead of the most
        read of all time when given (see :meth:`PopularPapers.top_up`)."""
        picked: Picked = []
        if loaded is not None and history:
            texts = _texts_of_new_papers(db, loaded.model, history)

            def ask() -> Answer:
                recs = loaded.model.recommend(history, n=n, since=since, texts=texts)
                return [(r.paper_id, r.score, tuple(r.reasons)) for r in recs]

            key = ("for_user", loaded.version, n, since, digest, _texts_digest(texts))
            picked = _picked(self.answers.get(key, ask))
        if len(picked) < n:
            # imported here: the recommender (numpy, scipy, implicit, faiss) loads with a model
            from recommender.interactions import seen_papers

            seen = seen_papers(history)
            self.popular.top_up(
                db, picked, n, exclude=seen, since=since, loaded=loaded, most_read=most_read
            )
        return {"model_version": loaded.version if loaded else None, "items": _items(db, picked)}

    def _new(
        self,
        db: sqlite_utils.Database,
        loaded: LoadedModel | None,
        history: list[tuple[str, str, int | None]],
        digest: bytes,
        n: int,
        since: str,
    ) -> dict[str, Any]:
        """The recommendation among papers dated ``since`` or later, topped up from the
        trending papers and the newest: a reader without history gets those alone."""
        trending = self.trending.as_popular(db, NEW_TRENDING_DAYS)
        return self._recommendations(db, loaded, history, digest, n, since, most_read=trending)

    def _trending(
        self,
        db: sqlite_utils.Database,
        history: list[tuple[str, str, int | None]],
        days: int,
        n: int,
        exclude: frozenset[str] | set[str] = frozenset(),
    ) -> dict[str, Any]:
        from recommender.interactions import seen_papers

        picked = self.trending.top(db, n, days=days, exclude=seen_papers(history) | exclude)
        return {"model_version": None, "items": _items(db, picked)}

    def _similar(
        self, db: sqlite_utils.Database, loaded: LoadedModel | None, paper: dict[str, Any], n: int
    ) -> dict[str, Any]:
        paper_id = paper["id"]
        text = f"{paper.get('title', '')} {paper.get('abstract', '')}".strip()
        picked: Picked = []
        if loaded is not None:

            def ask() -> Answer:
                recs = loaded.model.similar(paper_id, n=n, text=text or None)
                return [(r.paper_id, r.score, tuple(r.reasons)) for r in recs]

            picked = _picked(self.answers.get(("similar", loaded.version, n, paper_id, text), ask))
        self.popular.top_up(db, picked, n, exclude={paper_id}, since=None, loaded=loaded)
        items = _items(db, picked, related=True)
        return {"model_version": loaded.version if loaded else None, "items": items}


def _texts_of_new_papers(
    db: sqlite_utils.Database, model: Any, history: list[tuple[str, str, int | None]]
) -> dict[str, str] | None:
    """Title and abstract of the history's papers that joined the catalog after the model was
    trained: the model counts them through its text vocabulary until the next training."""
    index = model.paper_index
    new = sorted(p for p in {p for p, _, _ in history} if p not in index)  # distinct ids first
    if not new:
        return None
    papers = storage.get_papers(db, new)
    texts = {
        paper_id: f"{paper.get('title') or ''} {paper.get('abstract') or ''}".strip()
        for paper_id, paper in papers.items()
    }
    return {paper_id: text for paper_id, text in texts.items() if text} or None


def _texts_digest(texts: dict[str, str] | None) -> bytes | None:
    """The texts an answer was computed from, for its key (a paper's text can change)."""
    return None if not texts else fingerprint(sorted(texts.items()))


def _picked(answer: Answer) -> Picked:
    """A kept answer as fresh lists and dicts (``_items`` adds titles to the reasons)."""
    return [(paper_id, score, [dict(r) for r in reasons]) for paper_id, score, reasons in answer]


def _items(db: sqlite_utils.Database, picked: Picked, *, related: bool = False) -> list[dict]:
    """The API's items: each picked paper as stored, its score, and its reasons with the titles
    of the papers they name and their sentences (``related``: the answer is papers related to
    one paper). A paper erased from the catalog since training is left out."""
    wanted = [paper_id for paper_id, _, _ in picked]
    for _, _, reasons in picked:
        wanted += cited_papers(reasons)
    papers = storage.get_papers(db, wanted)
    items = []
    for paper_id, score, reasons in picked:
        paper = papers.get(paper_id)
        if paper is None:
            continue
        for reason in reasons:
            if reason.get("paper_id") in papers:
                reason["title"] = papers[reason["paper_id"]].get("title", "")
            if reason.get("via_paper_id") in papers:
                reason["via_title"] = papers[reason["via_paper_id"]].get("title", "")
            reason["text"] = sentence(reason, related=related)
        items.append({"paper": paper, "score": round(float(score), 6), "reasons": reasons})
    return items
