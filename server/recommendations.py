"""Turning the current model and the database into the API's recommendation items.

Owns the request-time glue: reading the user's history (the fold-in that makes a new open count
at once), the ``since`` candidate filter, filling up from popular and fresh papers when there is
no model yet or the model knows too few candidates, and attaching stored papers and the titles
that ``because_you_read`` reasons name.
"""

from __future__ import annotations

from typing import Any

import sqlite_utils

from . import storage
from .models import LoadedModel


def _fill(
    db: sqlite_utils.Database,
    picked: list[tuple[str, float, list[dict]]],
    n: int,
    *,
    exclude: set[str],
    since: str | None,
) -> None:
    """Top up ``picked`` to ``n`` items with the most-read, then newest, papers."""
    if len(picked) >= n:
        return
    taken = exclude | {paper_id for paper_id, _, _ in picked}
    for paper_id, readers in storage.popular_papers(
        db, n - len(picked), exclude=taken, since=since
    ):
        reason = {"type": "popular", "readers": readers} if readers else {"type": "fresh"}
        picked.append((paper_id, 0.0, [reason]))


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
    user_id: str,
    *,
    n: int,
    since: str | None = None,
) -> dict[str, Any]:
    """The body of ``GET /api/v1/recommendations`` for ``user_id``."""
    history = storage.user_history(db, user_id)
    seen = {paper_id for paper_id, _, _ in history}
    candidates = storage.paper_ids_since(db, since) if since else None
    picked: list[tuple[str, float, list[dict]]] = []
    if loaded is not None and (candidates is None or candidates):
        for rec in loaded.model.recommend(history, n=n, candidates=candidates):
            if rec.paper_id not in seen:
                picked.append((rec.paper_id, rec.score, [dict(r) for r in rec.reasons]))
    _fill(db, picked, n, exclude=seen, since=since)
    return {
        "model_version": loaded.version if loaded else None,
        "items": _items(db, picked[:n]),
    }


def similar_papers(
    db: sqlite_utils.Database,
    loaded: LoadedModel | None,
    paper: dict[str, Any],
    *,
    n: int,
) -> dict[str, Any]:
    """The body of ``GET /api/v1/papers/<id>/similar`` for a stored paper."""
    paper_id = paper["id"]
    text = f"{paper.get('title', '')} {paper.get('abstract', '')}".strip()
    picked: list[tuple[str, float, list[dict]]] = []
    if loaded is not None:
        for rec in loaded.model.similar(paper_id, n=n, text=text or None):
            if rec.paper_id != paper_id:
                picked.append((rec.paper_id, rec.score, [dict(r) for r in rec.reasons]))
    _fill(db, picked, n, exclude={paper_id}, since=None)
    return {
        "model_version": loaded.version if loaded else None,
        "items": _items(db, picked[:n]),
    }
