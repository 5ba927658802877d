"""A user's library file → catalog papers and that user's ``save`` events.

Each good entry becomes a paper under its canonical id (enriching the stored paper, as any
import does) and one ``save`` event with the id ``library:<paper id>``: the same entry imported
again makes the same event, which storage keeps once, so a second import adds nothing. A paper
the user has saved already (and not unsaved since) gets no second save. The save is dated when
the file says the user added the entry, else at the import.

The events are the user's history like any other, so the next recommendation request counts
them (the fold-in), also for papers the catalog did not hold before (through their text).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from ..store import storage
from ..store.validation import MAX_EVENT_ID_LENGTH, Invalid
from .formats import read_library
from .records import NothingImported, Problem, paper_of

# How the events are stored: (user_id, event rows, paper rows) -> how many events were new.
Store = Callable[[str, list[tuple], list[tuple]], int]


@dataclass
class ImportResult:
    """What an import did: ``papers`` distinct papers named by the good entries, of which
    ``imported`` are newly saved and ``already`` were saved before; ``rejected`` entries."""

    format: str
    papers: int
    imported: int
    already: int
    rejected: list[Problem] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "already": self.already,
            "papers": self.papers,
            "format": self.format,
            "rejected": [problem.to_json() for problem in self.rejected],
        }


def event_id(paper_id: str) -> str:
    """The save event of a paper imported from a library: the same for every import."""
    prefix = storage.IMPORTED_EVENT_PREFIX
    event = prefix + paper_id
    if len(event) <= MAX_EVENT_ID_LENGTH:
        return event
    return prefix + "sha256:" + hashlib.sha256(paper_id.encode("utf-8")).hexdigest()


def _merge(first: dict[str, Any], later: dict[str, Any]) -> None:
    """Fill what the first entry of a paper lacks from a later entry of the same paper."""
    for name, value in later.items():
        if value and not first.get(name):
            first[name] = value


def import_library(
    db: sqlite_utils.Database,
    user_id: str,
    data: bytes | str,
    *,
    record: Store | None = None,
) -> ImportResult:
    """Import a library file for ``user_id`` (who must exist).

    ``record`` stores the rows (default: :func:`server.store.storage.record_event_rows` on
    ``db``; the HTTP API passes its event writer). Raises
    :class:`~server.library.records.LibraryError` when nothing can be imported (the file is no
    library, or every entry is bad); nothing is stored then.
    """
    library = read_library(data)
    rejected = list(library.problems)
    papers: dict[str, dict[str, Any]] = {}
    added: dict[str, str | None] = {}
    for entry in library.records:
        try:
            paper = paper_of(entry)
        except Invalid as error:
            rejected.append(entry.problem(error.code, error.message))
            continue
        paper_id = paper["paper_id"]
        if paper_id in papers:
            _merge(papers[paper_id], paper)
            added[paper_id] = added[paper_id] or entry.added
        else:
            papers[paper_id] = paper
            added[paper_id] = entry.added
    rejected.sort(key=lambda problem: problem.index)
    if not papers:
        raise NothingImported(rejected)
    saved = _saved(db, user_id)
    now = storage.now_iso()
    events = [
        (event_id(paper_id), "save", added[paper_id] or now, paper_id, None)
        for paper_id in papers
        if paper_id not in saved
    ]
    rows = [storage.paper_row(paper) for paper in papers.values()]
    if record is None:
        stored = storage.record_event_rows(db, user_id, events, rows)
    else:
        stored = record(user_id, events, rows)
    return ImportResult(
        format=library.format.name,
        papers=len(papers),
        imported=stored,
        already=len(papers) - stored,
        rejected=rejected,
    )


def _saved(db: sqlite_utils.Database, user_id: str) -> set[str]:
    """The papers the user has saved now."""
    page, _ = storage.saved_papers(db, user_id, limit=1 << 62, offset=0)
    return {paper_id for paper_id, _ in page}


def describe(result: ImportResult, user_id: str) -> Sequence[str]:
    """The CLI's summary of an import: one line, then one line per skipped entry."""
    papers = "paper" if result.imported == 1 else "papers"
    head = f"Imported {result.imported} {papers} for {user_id} ({result.already} already there)"
    if not result.rejected:
        return [head + "."]
    entries = "entry" if len(result.rejected) == 1 else "entries"
    return [f"{head}; {len(result.rejected)} {entries} skipped:"] + [
        "  " + problem.describe() for problem in result.rejected
    ]
