"""BibTeX and biblatex files: reading their entries, and writing papers as BibTeX.

Parsing is bibtexparser's (v2: it splits a file into blocks and keeps going past a broken
one, which it hands back as a failed block with its line); names are split by its BibTeX name
rules, and LaTeX in titles, abstracts and names (``{\\"o}``, ``\\&``, protective braces) is
turned into text by pylatexenc, the decoder bibtexparser itself uses. Identifiers and URLs are
read verbatim: a ``%`` in a URL is not a LaTeX comment.

What the common exporters write, and where this reads it:

- arXiv id: ``eprint`` with ``archivePrefix = {arXiv}`` (Better BibTeX, arXiv's own BibTeX) or
  ``eprinttype = {arxiv}`` (biblatex), ``arxivId`` (Mendeley), ``arXiv:…`` in ``note``,
  ``journal`` or ``number`` (Zotero), an arXiv link in ``url``, an arXiv DOI.
- publication date: ``date`` (biblatex), else ``year`` and ``month``.
- when the user added the entry: ``dateadded``, ``date-added`` (BibDesk), ``creationdate`` or
  ``timestamp`` (JabRef), ``added-at`` (BibSonomy), else ``urldate`` (Zotero's access date,
  which its browser connector sets when it saves the item).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import bibtexparser
from bibtexparser.middlewares.names import (
    InvalidNameError,
    parse_single_name_into_parts,
    split_multiple_persons_names,
)
from bibtexparser.model import Entry, ParsingFailedBlock
from pylatexenc import latexwalker
from pylatexenc.latex2text import LatexNodes2Text, MacroTextSpec, get_default_latex_context_db

from ..store.validation import Invalid
from .records import (
    LibraryError,
    Problem,
    Record,
    added_timestamp,
    arxiv_in_text,
    cite_key,
    identifiers,
    iso_date,
    published_date,
    split_name,
    squash,
)

# The splitter logs each broken block with 0-based line numbers; parse() reports it instead.
logging.getLogger("bibtexparser.splitter").setLevel(logging.ERROR)

_ADDED_FIELDS = ("dateadded", "date-added", "creationdate", "timestamp", "added-at", "urldate")
# Fields where Zotero and others put "arXiv:2401.00001 [cs]" or an arXiv link (never the
# abstract or the user's own notes, which may name other papers).
_ARXIV_TEXT_FIELDS = (
    "note",
    "journal",
    "journaltitle",
    "number",
    "howpublished",
    "eprint",
    "url",
)


def _decoder() -> LatexNodes2Text:
    context = get_default_latex_context_db()
    context.add_context_category(
        "nextpaper",
        prepend=True,
        macros=[
            MacroTextSpec("url", simplify_repl="%s"),  # not wrapped in <...>
            MacroTextSpec("textasciicircum", simplify_repl="^"),
        ],
    )
    return LatexNodes2Text(latex_context=context, math_mode="verbatim")


_DECODER = _decoder()
# The parser's macro table, built once (pylatexenc builds it anew for every call otherwise).
_PARSER_CONTEXT = latexwalker.get_default_latex_context_db()
_BARE_PERCENT = re.compile(r"(?<!\\)%")
_NEEDS_DECODING = re.compile(r"[\\{}$~%]|--|``|''")
# What only pylatexenc turns into text; a word with nothing of it needs its braces dropped only.
_LATEX = re.compile(r"[\\$~]|--|``|''")
_MATH = re.compile(r"(?<!\\)\$")


def _decode(latex: str) -> str:
    try:
        return _DECODER.latex_to_text(latex, latex_context=_PARSER_CONTEXT)
    except Exception:  # pylatexenc is tolerant; should it still fail, keep the text
        return latex.replace("{", "").replace("}", "")


_CUTS = re.compile(r"[{}]|(?<!\\)\s+")


def _words(value: str) -> list[str]:
    """``value`` cut at the white space outside braces (a control space ``\\ `` is no cut)."""
    words, start, depth = [], 0, 0
    for mark in _CUTS.finditer(value):
        char = mark.group()
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(0, depth - 1)
        elif depth == 0:
            if mark.start() > start:
                words.append(value[start : mark.start()])
            start = mark.end()
    if start < len(value):
        words.append(value[start:])
    return words


def latex_to_text(value: str | None) -> str | None:
    """LaTeX as written in a BibTeX field → plain text, white space squashed.

    pylatexenc reads LaTeX a character at a time (5 ms for an abstract): only the runs of
    words that hold LaTeX go through it, the other words just lose their protective braces.
    """
    if not value:
        return None
    if not _NEEDS_DECODING.search(value):
        return squash(value)
    # A bare % is text here (most exporters escape it, some do not), not a comment.
    value = _BARE_PERCENT.sub(r"\\%", value)
    if _MATH.search(value):  # math may span words: read it whole
        return squash(_decode(value))
    out: list[str] = []
    run: list[str] = []
    for word in _words(value):
        if _LATEX.search(word):
            run.append(word)
            continue
        if run:
            out.append(_decode(" ".join(run)))
            run = []
        out.append(word.replace("{", "").replace("}", ""))
    if run:
        out.append(_decode(" ".join(run)))
    return squash(" ".join(out))


# Between the names of one list, decoded together (one pylatexenc call, not one per name):
# a private-use character, which no name holds and which is no white space to squash.
_NAME_SEPARATOR = "\ue000"


def _names(value: str | None) -> list[str]:
    """A BibTeX name list (``Vaswani, Ashish and {OpenAI}``) → ``["Ashish Vaswani", "OpenAI"]``."""
    merged = []
    for raw in split_multiple_persons_names(value or ""):
        try:
            merged.append(parse_single_name_into_parts(raw, strict=False).merge_first_name_first)
        except InvalidNameError:
            merged.append(raw)
    text = latex_to_text(f" {_NAME_SEPARATOR} ".join(merged)) or ""
    names = [squash(name) for name in text.split(_NAME_SEPARATOR)]
    return [name for name in names if name and name.lower() != "others"]


def _url(fields: Mapping[str, str]) -> str | None:
    if fields.get("url"):
        return fields["url"].strip()
    for name in ("howpublished", "note"):
        found = re.search(r"\\url\{([^}]*)\}", fields.get(name, ""))
        if found:
            return found.group(1).strip()
    return None


def _arxiv_candidates(fields: Mapping[str, str]) -> list[str]:
    eprint = fields.get("eprint", "").strip()
    archive = (fields.get("archiveprefix") or fields.get("eprinttype") or "").strip().lower()
    found = []
    if eprint and archive in ("arxiv", ""):
        found.append(eprint)
    for name in ("arxivid", "arxiv"):
        if fields.get(name):
            found.append(fields[name])
    for name in _ARXIV_TEXT_FIELDS:
        text = arxiv_in_text(fields.get(name))
        if text:
            found.append(text)
    return found


def _published(fields: Mapping[str, str]) -> str | None:
    return published_date(fields.get("date")) or iso_date(
        fields.get("year"), fields.get("month") or None, fields.get("day") or None
    )


def _added(fields: Mapping[str, str]) -> str | None:
    for name in _ADDED_FIELDS:
        stamp = added_timestamp(fields.get(name))
        if stamp:
            return stamp
    return None


def _record(entry: Entry, index: int) -> Record:
    fields: dict[str, str] = {}
    for item in entry.fields:
        if isinstance(item.value, str):
            fields.setdefault(item.key.lower(), item.value)
    return Record(
        index=index,
        line=_line(entry),
        arxiv=_arxiv_candidates(fields),
        doi=fields.get("doi"),
        url=_url(fields),
        title=latex_to_text(fields.get("title")),
        abstract=latex_to_text(fields.get("abstract")),
        authors=_names(fields.get("author")),
        published=_published(fields),
        added=_added(fields),
    )


def _line(block: Any) -> int | None:
    return None if block.start_line is None else block.start_line + 1


def _failure(block: ParsingFailedBlock) -> str:
    error = block.error
    reason = getattr(error, "abort_reason", None) or str(error) or type(error).__name__
    # bibtexparser counts lines from 0 in its messages: leave its positions out
    reason = re.sub(r"\s*\(line \d+\)|\s*on line \d+", "", reason.splitlines()[0])
    return f"not valid BibTeX ({reason.strip().rstrip('.:')})"


def parse(text: str) -> tuple[list[Record], list[Problem]]:
    """The file's entries, in order, and the problems of those that cannot be read.

    ``@string``, ``@preamble`` and ``@comment`` blocks are not entries; an entry whose key
    repeats an earlier one is read all the same (the key means nothing here).
    """
    try:
        library = bibtexparser.parse_string(text)
    except Exception as error:  # the parser's own bugs ("please report"), not the file's
        raise LibraryError(
            "malformed_library", f"the BibTeX file cannot be read: {error}"
        ) from None
    records: list[Record] = []
    problems: list[Problem] = []
    index = 0
    for block in library.blocks:
        if isinstance(block, ParsingFailedBlock):
            if isinstance(block.ignore_error_block, Entry):  # duplicate key, macro trouble
                block = block.ignore_error_block
            else:
                problems.append(Problem(index, _line(block), "malformed_entry", _failure(block)))
                index += 1
                continue
        if not isinstance(block, Entry):
            continue
        try:
            records.append(_record(block, index))
        except Invalid as error:
            problems.append(Problem(index, _line(block), error.code, error.message))
        index += 1
    return records, problems


# --- writing ------------------------------------------------------------------------------

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "%": r"\%",
    "&": r"\&",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_SPECIAL_RE = re.compile(r"[\\{}%&$#_~^]|-(?=-)|`(?=`)|'(?=')")


def text_to_latex(text: str) -> str:
    """Plain text → a BibTeX field value that :func:`latex_to_text` reads back unchanged
    (LaTeX's special characters escaped, ``--`` and doubled quotes kept as typed)."""
    return _SPECIAL_RE.sub(lambda m: _SPECIAL.get(m.group(), m.group() + "{}"), text)


def _verbatim(value: str) -> str:
    """An identifier or URL as a braced field value (braces must pair up in BibTeX)."""
    depth = 0
    for char in value:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            break
    if depth == 0:
        return value
    return value.replace("{", "%7B").replace("}", "%7D")


def _author_field(names: Sequence[str]) -> str:
    written = []
    for name in names:
        given, family = split_name(name)
        if "," in name or re.search(r"\band\b", name, re.I) or not given:
            written.append("{" + text_to_latex(name) + "}")  # one unsplittable name
        else:
            written.append(f"{text_to_latex(family)}, {text_to_latex(given)}")
    return " and ".join(written)


def export(papers: Sequence[Mapping[str, Any]], saved_at: Mapping[str, str]) -> str:
    """Papers (the API's shape) as a BibTeX file: ``@misc`` with ``eprint`` and
    ``archivePrefix`` for arXiv papers, ``@article`` with ``doi`` for DOIs, ``@misc`` with
    ``url`` otherwise; ``timestamp`` (JabRef's "added" field) holds when it was saved."""
    out: list[str] = []
    taken: set[str] = set()
    for paper in papers:
        facts = identifiers(paper)
        fields: list[tuple[str, str]] = []
        if paper.get("title"):
            fields.append(("title", "{" + text_to_latex(paper["title"]) + "}"))
        if paper.get("authors"):
            fields.append(("author", _author_field(paper["authors"])))
        if facts.published:
            year, month, day = facts.published.split("-")
            fields += [("year", year), ("month", str(int(month)))]
            fields.append(("date", facts.published))
        if facts.arxiv_id:
            fields += [("eprint", facts.arxiv_id), ("archiveprefix", "arXiv")]
        if facts.doi:
            fields.append(("doi", _verbatim(facts.doi)))
        if facts.url:
            fields.append(("url", _verbatim(facts.url)))
        if paper.get("abstract"):
            fields.append(("abstract", text_to_latex(paper["abstract"])))
        if saved_at.get(paper["id"]):
            fields.append(("timestamp", saved_at[paper["id"]]))
        kind = "article" if facts.doi and not facts.arxiv_id else "misc"
        body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
        out.append(f"@{kind}{{{cite_key(paper, taken)},\n{body}\n}}\n")
    return "\n".join(out)
