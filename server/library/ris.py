"""RIS files (Zotero, EndNote, Mendeley, publishers' "export citation"): reading and writing.

rispy reads and writes the tags. It skips a record it cannot close without a word, so this
module first cuts the file into records itself (``TY  -`` to ``ER  -``), keeping the line each
starts on, and hands rispy one record at a time: a record left open is reported with its line
and the others are read.

Where Zotero's RIS export puts what an import needs: ``DO`` the DOI, ``UR`` the URL, ``DA``
(``2017/12/05/``) or ``PY`` the publication date, ``Y2`` the access date
(``2024/03/18/14:20:31``, set by the browser connector when it saved the item: the closest
to "added" a RIS file holds), and ``arXiv:2401.00001 [cs]`` in a note (``N1``), the extra
field or the journal title of an arXiv preprint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import rispy

from ..store.validation import Invalid
from .records import (
    Problem,
    Record,
    added_timestamp,
    arxiv_in_text,
    identifiers,
    published_date,
    split_name,
    squash,
    text_lines,
)

_TAG = re.compile(r"^([A-Z][A-Z0-9])  -(?: |$)")
# rispy's names for the tags where an arXiv id may be written as "arXiv:…"
_ARXIV_TEXT_KEYS = (
    "notes",  # N1
    "note",  # M1
    "type_of_work",  # M3
    "accession_number",  # AN
    "journal_name",  # JO
    "secondary_title",  # T2
    "alternate_title1",  # J2
    "alternate_title3",  # JF
    "number",  # IS
    "urls",  # UR
    "unknown_tag",  # M2 and others rispy has no name for
)


def _chunks(text: str) -> list[tuple[int, list[str], str | None]]:
    """Each ``TY``…``ER`` record in order: ``(first line number, its lines, None)``, or, for a
    record that never ends, ``(first line number, [], why)``. Lines outside records (a header,
    blank lines) are not entries."""
    chunks: list[tuple[int, list[str], str | None]] = []
    start: int | None = None
    lines: list[str] = []
    for number, line in enumerate(text_lines(text), start=1):
        tag = _TAG.match(line)
        name = tag.group(1) if tag else None
        if name == "TY":
            if start is not None:
                chunks.append((start, [], f"the record has no end (ER) before line {number}"))
            start, lines = number, []
        if start is None:
            continue
        lines.append(line)
        if name == "ER":
            chunks.append((start, lines, None))
            start = None
    if start is not None:
        chunks.append((start, [], "the record has no end (ER) before the end of the file"))
    return chunks


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    if isinstance(value, Mapping):  # rispy's unknown tags: {tag: [values]}
        return [text for values in value.values() for text in _texts(values)]
    return []


def _first(record: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        for text in _texts(record.get(key)):
            if text.strip():
                return text.strip()
    return None


def _name(text: str) -> str | None:
    """``Surname, Forename[, Suffix]`` → ``Forename Surname[ Suffix]``."""
    family, _, rest = text.partition(",")
    given, _, suffix = rest.partition(",")
    return squash(" ".join((given, family, suffix)))


def _record(fields: Mapping[str, Any], index: int, line: int) -> Record:
    arxiv = [
        found
        for key in _ARXIV_TEXT_KEYS
        for found in map(arxiv_in_text, _texts(fields.get(key)))
        if found
    ]
    dates = [
        text for key in ("date", "year", "publication_year") for text in _texts(fields.get(key))
    ]
    authors = [
        name
        for key in ("authors", "first_authors")
        for text in _texts(fields.get(key))
        if (name := _name(text))
    ]
    return Record(
        index=index,
        line=line,
        arxiv=arxiv,
        doi=_first(fields, "doi"),
        url=_first(fields, "urls"),
        title=squash(_first(fields, "title", "primary_title", "short_title")),
        abstract=squash(_first(fields, "abstract", "notes_abstract")),
        authors=authors,
        published=next(filter(None, map(published_date, dates)), None),
        added=added_timestamp(_first(fields, "access_date")),
    )


def parse(text: str) -> tuple[list[Record], list[Problem]]:
    """The file's records, in order, and the problems of those that cannot be read."""
    records: list[Record] = []
    problems: list[Problem] = []
    for index, (line, lines, unclosed) in enumerate(_chunks(text)):
        parsed = [] if unclosed else rispy.loads("\n".join(lines))
        if len(parsed) != 1:
            problems.append(Problem(index, line, "malformed_entry", unclosed or "not RIS"))
            continue
        try:
            records.append(_record(parsed[0], index, line))
        except Invalid as error:
            problems.append(Problem(index, line, error.code, error.message))
    return records, problems


# --- writing ------------------------------------------------------------------------------


class _Writer(rispy.RisWriter):
    """rispy's RIS writer without its numbered line before each record."""

    def set_header(self, count: int) -> str:
        return ""


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _ris_date(iso: str) -> str:
    return iso[:10].replace("-", "/") + "/"


def export(papers: Sequence[Mapping[str, Any]], saved_at: Mapping[str, str]) -> str:
    """Papers (the API's shape) as a RIS file, tagged as Zotero tags them (``Y2``: when the
    paper was saved)."""
    references = []
    for paper in papers:
        facts = identifiers(paper)
        kind = "JOUR" if facts.doi and not facts.arxiv_id else "GEN"
        ref: dict[str, Any] = {"type_of_reference": kind}
        if paper.get("title"):
            ref["title"] = _one_line(paper["title"])
        if paper.get("authors"):
            ref["authors"] = [_ris_name(name) for name in paper["authors"]]
        if paper.get("abstract"):
            ref["abstract"] = _one_line(paper["abstract"])
        if facts.published:
            ref["date"] = _ris_date(facts.published)
            ref["year"] = facts.published[:4]
        if facts.doi:
            ref["doi"] = facts.doi
        if facts.url:
            ref["urls"] = [facts.url]
        if facts.arxiv_id:
            ref["notes"] = [f"arXiv:{facts.arxiv_id}"]
        stamp = saved_at.get(paper["id"])
        if stamp:
            ref["access_date"] = _ris_date(stamp) + stamp[11:19]
        references.append(ref)
    return rispy.dumps(references, implementation=_Writer)


def _ris_name(name: str) -> str:
    given, family = split_name(_one_line(name))
    return f"{family}, {given}" if given and "," not in name else _one_line(name)
