"""Plain lists: one arXiv id, DOI or paper URL per line (``1706.03762``, ``arXiv:1706.03762v5``,
``hep-th/9711200``, ``10.1038/nature14539``, ``doi:…``, ``https://…``), or a canonical id
(``openreview:…``, ``acl:…``, ``s2:…``). Blank lines and lines starting with ``#`` are not
entries; text after the identifier on a line (a title, a comment) is ignored.

Written back as the papers' canonical ids, one a line, which this reads again as they are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ids import InvalidPaper, identify, normalize_id
from .records import Problem, Record, text_lines

# The schemes a list may name directly; any other "word:" line is not an identifier.
_KNOWN_SCHEMES = ("arxiv", "doi", "url", "http", "https", "openreview", "acl", "s2")


def _paper_id(token: str) -> str:
    """A list entry → its canonical id, or :class:`InvalidPaper`."""
    scheme, colon, _ = token.partition(":")
    if colon and scheme.isalpha():  # a word before a colon: a scheme, or no id ("c:/...")
        if scheme.lower() not in _KNOWN_SCHEMES:
            raise InvalidPaper(f"{token[:80]!r} is not an arXiv id, DOI or URL")
        return normalize_id(token)
    return identify({"id": token})[0]  # a bare arXiv id or DOI


def read_entry(text: str) -> str | None:
    """The canonical id one line of a list names (the whole line, else its first word), or
    None when the line names none."""
    for token in dict.fromkeys((text, text.split()[0])):
        try:
            return _paper_id(token)
        except InvalidPaper:
            continue
    return None


def parse(text: str) -> tuple[list[Record], list[Problem]]:
    """The list's entries, in order, and the lines that name no paper."""
    records: list[Record] = []
    problems: list[Problem] = []
    index = 0
    for number, line in enumerate(text_lines(text), start=1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        paper_id = read_entry(entry)
        if paper_id is None:
            message = f"{entry[:80]!r} is not an arXiv id, DOI or URL"
            problems.append(Problem(index, number, "no_identifier", message))
        else:
            url = entry.split()[0] if entry.lower().startswith(("http://", "https://")) else None
            records.append(Record(index=index, line=number, paper_id=paper_id, url=url))
        index += 1
    return records, problems


def export(papers: Sequence[Mapping[str, Any]], saved_at: Mapping[str, str]) -> str:
    """The papers' canonical ids, one a line."""
    return "".join(f"{paper['id']}\n" for paper in papers)
