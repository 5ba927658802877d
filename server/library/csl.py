"""CSL-JSON (Zotero's "CSL JSON" export, citeproc's input): reading and writing.

CSL-JSON is JSON, so the standard library parses it; its shape is checked here: an array of
item objects (a single item object is taken as a one-item file). Each item is parsed at its
own place in the text so that a bad item is named by the line it starts on.

What Zotero writes: ``DOI``, ``URL``, ``title``, ``abstract``, ``author`` as
``{"family", "given"}`` (or ``{"literal"}``), ``issued`` (publication) and ``accessed`` (access
date, set by its browser connector when it saved the item) as ``{"date-parts": [[y, m, d]]}``,
and for an arXiv preprint ``number`` ``arXiv:2401.00001`` and ``note`` ``arXiv:… [cs]``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..store.validation import Invalid
from .records import (
    Problem,
    Record,
    UnknownFormat,
    added_timestamp,
    arxiv_in_text,
    cite_key,
    identifiers,
    iso_date,
    published_date,
    split_name,
    squash,
)

_ARXIV_TEXT_KEYS = ("number", "note", "archive_location", "container-title", "URL")
_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def _items(text: str) -> list[tuple[int, Any]]:
    """``(line, item)`` for each element of the file's top-level array (or its one object).

    Raises :class:`UnknownFormat` for text that is not JSON, or JSON of another shape.
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        where = f" at line {error.lineno}" if isinstance(error, json.JSONDecodeError) else ""
        raise UnknownFormat(f"the file looks like JSON but is not valid JSON{where}") from None
    if isinstance(document, dict):
        if not {"type", "title", "DOI", "URL"} & set(document):
            raise UnknownFormat("the JSON is not CSL-JSON (an array of items)")
        return [(1 + text[: len(text) - len(text.lstrip(_SPACE))].count("\n"), document)]
    if not isinstance(document, list):
        raise UnknownFormat("the JSON is not CSL-JSON (an array of items)")
    # Walk the array again to learn where each item starts (json.loads checked the syntax).
    found: list[tuple[int, Any]] = []
    position = text.index("[") + 1
    line = 1 + text.count("\n", 0, position)
    for item in document:
        start = position
        while text[position] in _SPACE + ",":
            position += 1
        line += text.count("\n", start, position)
        _, end = _DECODER.raw_decode(text, position)
        found.append((line, item))
        line += text.count("\n", position, end)
        position = end
    return found


def _text(value: Any) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    return squash(value) if isinstance(value, str) else None


def _date(value: Any) -> tuple[str | None, str | None]:
    """A CSL date variable → ``(first date's parts as text, raw text)``: ``{"date-parts":
    [[2017, 12, 5]]}``, ``{"raw": "2017-12-05"}``, or a plain string."""
    if isinstance(value, str):
        return None, value
    if not isinstance(value, Mapping):
        return None, None
    parts = value.get("date-parts")
    if isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0]:
        first = [str(p) for p in parts[0][:3] if isinstance(p, (int, str))]
        return iso_date(*first) if first else None, None
    raw = value.get("raw") or value.get("literal")
    return None, raw if isinstance(raw, str) else None


def _published(item: Mapping[str, Any]) -> str | None:
    parts, raw = _date(item.get("issued"))
    return parts or published_date(raw)


def _added(item: Mapping[str, Any]) -> str | None:
    for key in ("dateAdded", "accessed"):
        parts, raw = _date(item.get(key))
        stamp = added_timestamp(raw or parts)
        if stamp:
            return stamp
    return None


def _name(person: Any) -> str | None:
    if not isinstance(person, Mapping):
        return None
    if _text(person.get("literal")):
        return _text(person["literal"])
    parts = [
        _text(person.get(key))
        for key in ("given", "dropping-particle", "non-dropping-particle", "family", "suffix")
    ]
    return squash(" ".join(p for p in parts if p))


def _record(item: Any, index: int, line: int) -> Record:
    if not isinstance(item, Mapping):
        raise Invalid("malformed_entry", "a CSL-JSON item must be a JSON object")
    authors = item.get("author")
    return Record(
        index=index,
        line=line,
        arxiv=[found for key in _ARXIV_TEXT_KEYS if (found := arxiv_in_text(_text(item.get(key))))],
        doi=_text(item.get("DOI")),
        url=_text(item.get("URL")),
        title=_text(item.get("title")),
        abstract=_text(item.get("abstract")),
        authors=[n for n in map(_name, authors) if n] if isinstance(authors, list) else [],
        published=_published(item),
        added=_added(item),
    )


def parse(text: str) -> tuple[list[Record], list[Problem]]:
    """The file's items, in order, and the problems of those that cannot be read."""
    records: list[Record] = []
    problems: list[Problem] = []
    for index, (line, item) in enumerate(_items(text)):
        try:
            records.append(_record(item, index, line))
        except Invalid as error:
            problems.append(Problem(index, line, error.code, error.message))
    return records, problems


# --- writing ------------------------------------------------------------------------------


def _parts(iso: str) -> dict[str, Any]:
    year, month, day = (int(p) for p in iso[:10].split("-"))
    return {"date-parts": [[year, month, day]]}


def _person(name: str) -> dict[str, str]:
    given, family = split_name(name)
    if not given or "," in name:
        return {"literal": name}
    return {"family": family, "given": given}


def export(papers: Sequence[Mapping[str, Any]], saved_at: Mapping[str, str]) -> str:
    """Papers (the API's shape) as a CSL-JSON array, as Zotero writes it (``accessed``: when
    the paper was saved)."""
    items = []
    taken: set[str] = set()
    for paper in papers:
        facts = identifiers(paper)
        item: dict[str, Any] = {
            "id": cite_key(paper, taken),
            "type": "article-journal" if facts.doi and not facts.arxiv_id else "article",
        }
        if paper.get("title"):
            item["title"] = paper["title"]
        if paper.get("authors"):
            item["author"] = [_person(name) for name in paper["authors"]]
        if paper.get("abstract"):
            item["abstract"] = paper["abstract"]
        if facts.doi:
            item["DOI"] = facts.doi
        if facts.url:
            item["URL"] = facts.url
        if facts.arxiv_id:
            item["number"] = f"arXiv:{facts.arxiv_id}"
            item["publisher"] = "arXiv"
        if facts.published:
            item["issued"] = _parts(facts.published)
        if saved_at.get(paper["id"]):
            item["accessed"] = _parts(saved_at[paper["id"]])
        items.append(item)
    return json.dumps(items, ensure_ascii=False, indent=2) + "\n"
