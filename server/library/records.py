"""One library entry, whatever file it came from, and how it becomes a catalog paper.

Each format's reader (:mod:`.bibtex`, :mod:`.ris`, :mod:`.csl`, :mod:`.idlist`) turns its
entries into :class:`Record` objects: the identifiers the entry names, its text, and its dates,
with the entry's position. :func:`paper_of` then picks the canonical id by one rule for every
format (an arXiv id, else a DOI, else a URL, as :mod:`server.ids` canonicalises them) and checks
the result as any imported paper is checked (:func:`server.store.validation.clean_paper`). An
entry that names nothing usable becomes a :class:`Problem` with its position; it never stops
the rest of the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..ids import InvalidPaper, normalize_id, normalize_url
from ..store.validation import Invalid, clean_paper, clean_timestamp


class LibraryError(Invalid):
    """A library file that cannot be imported at all; ``code`` is stable, the message is for
    people. Raised before anything is stored."""


class UnknownFormat(LibraryError):
    def __init__(self, message: str):
        super().__init__("unsupported_library_format", message)


class NothingImported(LibraryError):
    """Every entry of the file was bad: ``rejected`` says why, entry by entry."""

    def __init__(self, rejected: list[Problem]):
        shown = "; ".join(problem.describe() for problem in rejected[:5])
        more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
        super().__init__(rejected[0].code, f"No entry could be imported. {shown}{more}")
        self.rejected = rejected


@dataclass(frozen=True)
class Problem:
    """A bad entry: ``index`` counts the file's entries from 0 (as ``POST /api/v1/events``
    counts events), ``line`` is where the entry starts (1-based; None for formats without
    lines)."""

    index: int
    line: int | None
    code: str
    message: str

    def describe(self) -> str:
        where = f"entry {self.index + 1}"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"index": self.index}
        if self.line is not None:
            body["line"] = self.line
        return body | {"code": self.code, "message": self.message}


@dataclass
class Record:
    """What one entry says about its paper, before the paper is identified.

    ``arxiv``: texts that may hold the entry's arXiv id (an ``eprint`` field, a note reading
    ``arXiv:2401.00001 [cs]``), most trusted first. ``published``: ISO date of publication.
    ``added``: ISO timestamp of when the user added the entry, as the file says.
    """

    index: int
    line: int | None
    arxiv: list[str] = field(default_factory=list)
    doi: str | None = None
    url: str | None = None
    paper_id: str | None = None  # a canonical id the entry gave as such (plain lists)
    title: str | None = None
    abstract: str | None = None
    authors: list[str] = field(default_factory=list)
    published: str | None = None
    added: str | None = None

    def problem(self, code: str, message: str) -> Problem:
        return Problem(self.index, self.line, code, message)


# --- identifiers --------------------------------------------------------------------------

# An arXiv id inside free text: "arXiv:1706.03762 [cs]", "arXiv: hep-th/9711200v3",
# "arxiv.org/abs/1706.03762", "10.48550/arXiv.1706.03762".
_ARXIV_IN_TEXT = re.compile(
    r"arxiv(?:\.org/(?:abs|pdf)/|[:.]\s*|\s+)"
    r"(\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[a-z]{2})?/\d{7})(?:v\d+)?",
    re.IGNORECASE | re.ASCII,
)


def arxiv_in_text(text: str | None) -> str | None:
    """The first arXiv id that ``text`` names (``arXiv:…``, an arxiv.org link), or None."""
    if not text:
        return None
    found = _ARXIV_IN_TEXT.search(text)
    return found.group(1) if found else None


def _arxiv_id(candidates: list[str]) -> str | None:
    for text in candidates:
        text = text.strip()
        for option in (text, arxiv_in_text(text)):
            if not option:
                continue
            try:
                paper_id = normalize_id(option if ":" in option else "arxiv:" + option)
            except InvalidPaper:
                continue
            if paper_id.startswith("arxiv:"):
                return paper_id
    return None


def _usable_url(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return normalize_url(url.strip())
    except InvalidPaper:
        return None


def _doi_id(doi: str) -> str | None:
    """The canonical id of a DOI as files write it (``10.…``, ``doi:10.…``, a doi.org link);
    an arXiv DOI gives the ``arxiv:`` id."""
    for text in ("doi:" + doi.removeprefix("doi:").removeprefix("DOI:"), doi):
        try:
            return normalize_id(text)
        except InvalidPaper:
            continue
    return None


def paper_of(record: Record) -> dict[str, Any]:
    """The entry's paper in storage's shape (``paper_id`` canonical), or :class:`Invalid`.

    The id is the entry's arXiv id if it names one, else its DOI, else its URL (which may
    itself be an arXiv, DOI or other paper page, as :mod:`server.ids` reads them).
    """
    url = _usable_url(record.url)
    doi = (record.doi or "").strip() or None
    doi_id = _doi_id(doi) if doi else None
    paper_id = (
        _arxiv_id(record.arxiv)
        or doi_id
        or record.paper_id
        or (normalize_id(url) if url is not None else None)
    )
    if paper_id is None:
        if doi:
            raise Invalid("invalid_doi", f"{doi[:80]!r} is not a DOI (like 10.1000/xyz)")
        if record.url:
            raise Invalid("invalid_url", f"{record.url[:80]!r} is not an http or https URL")
        raise Invalid("no_identifier", "no arXiv id, DOI or URL")
    if doi_id is None or not doi.startswith("10."):  # keep a DOI as written, not a link
        doi = doi_id.removeprefix("doi:") if doi_id and doi_id.startswith("doi:") else None
    if paper_id.startswith("doi:"):
        doi = doi or paper_id.removeprefix("doi:")
    scheme, _, rest = paper_id.partition(":")
    return clean_paper(
        {
            "id": paper_id,
            "title": record.title or None,
            "abstract": record.abstract or None,
            "authors": record.authors or None,
            "url": url or (_LINKS[scheme].format(rest) if scheme in ("arxiv", "doi") else None),
            "doi": doi,
            "arxiv_id": rest if scheme == "arxiv" else None,
            "published": record.published,
        }
    )


# --- text ---------------------------------------------------------------------------------


_LINE_BREAK = re.compile(r"\r\n?|\n")


def text_lines(text: str) -> list[str]:
    """The lines of a file as editors count them (not ``str.splitlines``, which also breaks
    at form feeds and Unicode separators that may sit inside an abstract)."""
    return _LINE_BREAK.split(text)


def squash(text: Any) -> str | None:
    """Runs of white space as one space; None for nothing."""
    if not isinstance(text, str):
        return None
    return " ".join(text.split()) or None


def cite_key(paper: Mapping[str, Any], taken: set[str]) -> str:
    """A citation key like Zotero's (``vaswani_attention_2017``), unique among ``taken``."""
    authors = paper.get("authors") or []
    surname = split_name(authors[0])[1] if authors else ""
    words = [w for w in re.findall(r"[A-Za-z]+", paper.get("title") or "") if len(w) > 3]
    year = (paper.get("published") or "")[:4]
    parts = [re.sub(r"[^a-z]", "", surname.lower()), words[0].lower() if words else "", year]
    base = "_".join(p for p in parts if p) or "paper"
    key, suffix = base, 0
    while key in taken:
        suffix += 1
        key = f"{base}_{suffix}"
    taken.add(key)
    return key


def split_name(name: str) -> tuple[str, str]:
    """``"Forename Surname"`` → ``("Forename", "Surname")``: the last word is the surname
    (``"José de la Fuente"`` → ``("José de la", "Fuente")``; joined again, the same name)."""
    given, _, family = name.strip().rpartition(" ")
    return given, family


# --- dates --------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
# 2017, 2017-12, 2017-12-05, 2017/12/05/, 2017///, 2017.12.05, 2017-12-05T10:20:30...
_DATE = re.compile(r"\s*(\d{4})(?!\d)(?:[-/.](\d{1,2})?(?:[-/.](\d{1,2})?)?)?(.*)", re.S | re.ASCII)
_CLOCK = re.compile(
    r"[/T ]?\s*(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2})?\s*/?\s*"
)


def month_number(text: Any) -> int | None:
    """``aug``, ``August``, ``8`` or ``08`` → 8."""
    value = str(text or "").strip().lower().rstrip(".")
    if value.isdigit():
        number = int(value)
        return number if 1 <= number <= 12 else None
    return _MONTHS.get(value)


def iso_date(year: Any, month: Any = None, day: Any = None) -> str | None:
    """``YYYY-MM-DD`` from parts (an unknown month or day is the first), or None."""
    try:
        y = int(str(year).strip())
        m = month_number(month) if month not in (None, "") else None
        d = int(str(day).strip()) if day not in (None, "") and m else None
        return date(y, m or 1, d or 1).isoformat() if 1000 <= y <= 9999 else None
    except (TypeError, ValueError):
        return None


def published_date(text: Any) -> str | None:
    """A publication date as files write it (``2017``, ``2017-12-05``, RIS ``2017/12/05/``,
    biblatex ranges ``2017-12-05/2017-12-07``) → ``YYYY-MM-DD``; None when there is none."""
    if not isinstance(text, str):
        return None
    found = _DATE.match(text)
    if not found:
        return None
    year, month, day, _ = found.groups()
    try:  # a month or day written in digits must be one
        date(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return None
    return iso_date(year, month, day)


def added_timestamp(text: Any) -> str | None:
    """When the user added an entry (``2024-03-18``, ``2024-03-18 10:20:30 +0100``, RIS
    ``2024/03/18/14:20:31``, ISO 8601) → the stored UTC timestamp; None when the text is no
    such time or is outside what an event may carry (1990 to tomorrow)."""
    if not isinstance(text, str):
        return None
    found = _DATE.match(text)
    if not found:
        return None
    year, month, day, rest = found.groups()
    day_iso = published_date(text)
    if day_iso is None or not month:
        return None
    clock = _CLOCK.fullmatch(rest or "") if (rest or "").strip(" /") else None
    moment = day_iso
    if clock:
        offset = clock.group(2) or ""
        if offset and offset != "Z" and ":" not in offset:
            offset = offset[:3] + ":" + offset[3:]
        moment = f"{day_iso}T{clock.group(1)}{offset}"
    try:
        return clean_timestamp(moment)
    except Invalid:
        return None


# --- the other way: a stored paper's identifiers, for the exports --------------------------

_LINKS = {
    "arxiv": "https://arxiv.org/abs/{}",
    "doi": "https://doi.org/{}",
    "openreview": "https://openreview.net/forum?id={}",
    "acl": "https://aclanthology.org/{}/",
    "s2": "https://www.semanticscholar.org/paper/{}",
}


@dataclass(frozen=True)
class Identifiers:
    """What an export writes to name a paper, read from its canonical id first (so that the
    file, read back, gives the same id), then from its stored fields."""

    arxiv_id: str | None
    doi: str | None
    url: str | None
    published: str | None


def identifiers(paper: Mapping[str, Any]) -> Identifiers:
    """The identifiers of a stored paper (the API's shape: ``id``, ``doi``, ``url`` …)."""
    scheme, _, rest = paper["id"].partition(":")
    url = paper.get("url") or (rest if scheme == "url" else None)
    if url is None and scheme in _LINKS:
        url = _LINKS[scheme].format(rest)
    doi = paper.get("doi") or (rest if scheme == "doi" else None)
    return Identifiers(
        arxiv_id=rest if scheme == "arxiv" else None,
        doi=doi,
        url=url,
        published=published_date(paper.get("published")),
    )
