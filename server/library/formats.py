"""Which library format a file is, reading it into records, and writing papers in a format.

The formats are told apart by their first marks: CSL-JSON starts with ``[`` or ``{``, BibTeX
has a line starting with ``@type{``, RIS a line ``TY  - ``; anything else is read as a plain
list, which is refused whole when no line of it names a paper. Files are UTF-8 (with or without
a byte-order mark, as Zotero, JabRef and Mendeley write them) or UTF-16 with its mark.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import bibtex, csl, idlist, ris
from .records import LibraryError, Problem, Record, UnknownFormat


@dataclass(frozen=True)
class Format:
    """One library format: its name, how to serve a file of it, and its reader and writer."""

    name: str
    label: str
    media_type: str
    extension: str
    parse: Callable[[str], tuple[list[Record], list[Problem]]]
    export: Callable[[Sequence[Mapping[str, Any]], Mapping[str, str]], str]


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("bibtex", "BibTeX", "application/x-bibtex", "bib", bibtex.parse, bibtex.export),
        Format("ris", "RIS", "application/x-research-info-systems", "ris", ris.parse, ris.export),
        Format(
            "csl-json",
            "CSL-JSON",
            "application/vnd.citationstyles.csl+json",
            "json",
            csl.parse,
            csl.export,
        ),
        Format("list", "list of ids", "text/plain", "txt", idlist.parse, idlist.export),
    )
}

_BIBTEX = re.compile(r"^[ \t]*@[A-Za-z]+[ \t]*[{(]", re.M)
_RIS = re.compile(r"^TY  -", re.M)


@dataclass
class Library:
    """A library file read: its format, its good entries and its bad ones (both in order)."""

    format: Format
    records: list[Record]
    problems: list[Problem]


def decode(data: bytes) -> str:
    """The text of a library file, or :class:`LibraryError` (``invalid_encoding``)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError:
        raise LibraryError(
            "invalid_encoding", "the file is not UTF-8 text; export the library as UTF-8"
        ) from None
    if "\x00" in text:
        raise UnknownFormat("the file is not text (it holds NUL bytes)")
    return text


def detect(text: str) -> Format:
    """The format of a library file's text."""
    head = text.lstrip()
    if not head:
        raise LibraryError("empty_library", "the file is empty")
    if head[0] in "[{":
        return FORMATS["csl-json"]
    if _BIBTEX.search(text):
        return FORMATS["bibtex"]
    if _RIS.search(text):
        return FORMATS["ris"]
    return FORMATS["list"]


def read_library(data: bytes | str) -> Library:
    """Read a library file of any known format.

    Raises :class:`LibraryError` when the file as a whole cannot be read: not text, empty,
    no known format, or no entry at all.
    """
    text = decode(data) if isinstance(data, bytes) else data.removeprefix("\ufeff")
    found = detect(text)
    records, problems = found.parse(text)
    if found.name == "list" and not records:
        raise UnknownFormat(
            "the file is not BibTeX, RIS or CSL-JSON, and no line of it is an arXiv id, DOI or URL"
        )
    if not records and not problems:
        raise LibraryError("empty_library", f"the {found.label} file holds no entries")
    return Library(found, records, problems)


def export_library(
    papers: Sequence[Mapping[str, Any]],
    format_name: str,
    saved_at: Mapping[str, str] | None = None,
) -> str:
    """Papers (the API's shape, as ``GET /api/v1/saved`` lists them) as a library file.

    ``saved_at`` maps a paper id to when it was saved; each format writes it where that
    format keeps such a date, and an import reads it back as the save's time.
    """
    return FORMATS[format_name].export(papers, saved_at or {})
