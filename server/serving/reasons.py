"""The sentence a person reads for each reason: the one place reasons are put into words.

A reason's fields are the evidence the recommender found (:func:`recommender.scoring.reasons`,
:class:`~server.serving.popular.PopularPapers`); this module only words them, so every client
(side panel, web app, digests, feeds) says the same thing. A sentence never claims more than
its fields: other readers appear only with their count, which the recommender gives only from
two on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def cited_papers(reasons: Iterable[dict[str, Any]]) -> list[str]:
    """The papers ``reasons`` name (``paper_id``, then ``via_paper_id``), in order: those whose
    titles an answer reads with its own papers."""
    return [r[key] for r in reasons for key in ("paper_id", "via_paper_id") if r.get(key)]


def sentence(reason: dict[str, Any], *, related: bool = False) -> str:
    """The ``text`` of ``reason``; ``related``: the reason explains a paper related to another
    paper (``/papers/<id>/similar``), not a recommendation for the reader."""
    kind = reason.get("type")
    readers = reason.get("readers")
    cited = _quoted(reason) if reason.get("paper_id") else None
    action = reason.get("action", "opened")
    if kind == "because_you_read":
        if readers and reason.get("via_paper_id"):
            via = _quoted(reason, "via_")
            return (
                f"You {action} {cited}; {_people(readers)} who read it also read {via}, "
                "close in subject to this"
            )
        if readers:
            return f"You {action} {cited}; {_people(readers)} who read it also read this"
        return f"Related to {cited}, which you {action}"
    if kind == "similar_text":
        if cited:
            return f"Close in subject to {cited}, which you {action}"
        subject = "this paper" if related else "your reading"
        terms = reason.get("terms") or []
        if terms:
            return f"Shares {_listed(terms)} with {subject}"
        return f"Close in subject to {subject}"
    if kind == "similar_readers":
        if related:
            return f"{_people(readers)} who read this paper also read it"
        return f"Read by {_people(readers)} whose reading overlaps yours"
    if kind == "popular":
        days = reason.get("days")
        if days:
            return f"Read by {_people(readers)} here in the last {_days(days)}"
        return f"Read by {_people(readers)} here"
    if kind == "fresh":
        return "New in the catalog"
    if kind == "related":
        return "Related to this paper"
    return "Picked from your reading"


def _quoted(reason: dict[str, Any], prefix: str = "") -> str:
    title = (reason.get(f"{prefix}title") or "").strip()
    return f"“{title or reason[f'{prefix}paper_id']}”"


def _people(count: int) -> str:
    return f"{count} other readers"


def _days(count: int) -> str:
    return "day" if count == 1 else f"{count} days"


def _listed(terms: list[str]) -> str:
    words = [f"“{t}”" for t in terms]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" and {words[-1]}"
