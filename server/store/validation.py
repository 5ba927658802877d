"""Checking papers and events from outside (HTTP bodies, import files) before they are stored.

Each check either returns clean values in storage's shape (dicts, or the rows the event writer
stores) or raises :class:`Invalid` with a stable ``code`` and a message for people. Text fields
are kept verbatim: hostile-looking text is data, and it is the reader's job to display it as
text.
"""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..ids import InvalidPaper, identify
from .storage import EVENT_TYPES, IMPORTED_EVENT_PREFIX, STORED_TIME, authors_json

MAX_EVENT_ID_LENGTH = 200
MAX_DWELL_MS = 7 * 24 * 3600 * 1000  # a week: anything longer is a clock bug, not reading
MAX_AUTHORS = 1000
MAX_CATEGORIES = 100
EARLIEST_TS = datetime(1990, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)
# A lone UTF-16 surrogate (JSON allows "\\ud800") is not text: UTF-8 and SQLite cannot store it.
_SURROGATE = re.compile("[\ud800-\udfff]")
# What the extension sends: UTC with a Z and up to microseconds, already in the stored form but
# for the fraction's length.
_ZULU = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,6}))?Z")


class Invalid(ValueError):
    """Bad input, with the stable ``code`` the API reports."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def _check_unicode(value: str, code: str, what: str) -> str:
    """``value`` if it is text that can be stored: valid Unicode without NUL characters (text
    holds none, and PostgreSQL's text types refuse it)."""
    if "\x00" in value:
        raise Invalid(code, f"{what} holds a NUL character")
    if not value.isascii() and _SURROGATE.search(value):
        raise Invalid(code, f"{what} is not valid Unicode (it holds a lone surrogate)")
    return value


def _optional_text(paper: dict, name: str) -> str | None:
    value = paper.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid("invalid_paper", f"paper.{name} must be a string")
    return _check_unicode(value, "invalid_paper", f"paper.{name}")


def clean_date(value: Any, what: str = "published") -> str | None:
    """An ISO date (``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` or a full timestamp) as ``YYYY-MM-DD``."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise Invalid("invalid_date", f"{what} must be an ISO date string")
    text = value.strip()
    try:
        if len(text) == 4:
            return date(int(text), 1, 1).isoformat()
        if len(text) == 7:
            return date(int(text[:4]), int(text[5:7]), 1).isoformat()
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise Invalid("invalid_date", f"{what} is not an ISO date: {value[:40]!r}") from None


def _identify(paper_id: Any, url: Any, doi: Any, arxiv_id: Any) -> tuple[str, str | None]:
    """``(canonical id, normalised url)`` from a paper's identifying fields, or :class:`Invalid`."""
    fields = {"id": paper_id, "url": url, "doi": doi, "arxiv_id": arxiv_id}
    for name, value in fields.items():
        if isinstance(value, str):
            _check_unicode(value, "invalid_paper", f"paper.{name}")
    try:
        return identify(fields)
    except InvalidPaper as error:
        raise Invalid("invalid_paper", str(error)) from None


# The same paper comes back again and again (an open and its read, a paper many users open), and
# canonicalising its URL and id is most of an event's check (15 us against 1 us for a cached
# answer): keep the last 16,384 answers, more than the writer remembers papers (10,000), so a
# working set the writer skips is one this cache holds. Only short fields are kept (about 7 MiB
# for arXiv papers, 20 MiB for 300-character URLs); failures are never kept, so each bad paper
# is refused with its own message.
_identify_cached = functools.lru_cache(maxsize=16384)(_identify)
_CACHED_KEY_CHARS = 300


def _identity(raw: dict) -> tuple[str, str | None]:
    key = (raw.get("id"), raw.get("url"), raw.get("doi"), raw.get("arxiv_id"))
    size = 0
    for value in key:
        if value is not None:
            if type(value) is not str:
                return _identify(*key)
            size += len(value)
    if size > _CACHED_KEY_CHARS:
        return _identify(*key)
    return _identify_cached(*key)


_TEXT_FIELDS = ("title", "abstract", "doi", "arxiv_id")  # optional strings, kept verbatim


def _string_list(raw: dict, name: str, limit: int) -> list[str] | None:
    """An optional list of strings of the paper (``categories``), checked."""
    values = raw.get(name)
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Invalid("invalid_paper", f"paper.{name} must be a list of strings")
    if len(values) > limit:
        raise Invalid("invalid_paper", f"paper.{name} has more than {limit} entries")
    for value in values:
        _check_unicode(value, "invalid_paper", f"paper.{name}")
    return values


def _paper_fields(raw: Any) -> tuple:
    """A paper object's checked fields, verbatim but for the id and url:
    ``(paper_id, title, abstract, authors, url, doi, arxiv_id, published, categories)``."""
    if not isinstance(raw, dict):
        raise Invalid("invalid_paper", "paper must be an object")
    paper_id, url = _identity(raw)
    get = raw.get
    authors = get("authors")
    if authors is not None:
        if not isinstance(authors, list) or not all(isinstance(a, str) for a in authors):
            raise Invalid("invalid_paper", "paper.authors must be a list of strings")
        if len(authors) > MAX_AUTHORS:
            raise Invalid("invalid_paper", f"paper.authors has more than {MAX_AUTHORS} names")
        for name in authors:
            _check_unicode(name, "invalid_paper", "paper.authors")
    title, abstract, doi, arxiv_id = [
        None if get(name) is None else _optional_text(raw, name) for name in _TEXT_FIELDS
    ]
    published = get("published")
    if published is not None:
        published = clean_date(published)
    categories = _string_list(raw, "categories", MAX_CATEGORIES)
    return paper_id, title, abstract, authors, url, doi, arxiv_id, published, categories


def clean_paper(raw: Any) -> dict[str, Any]:
    """A paper object (DESIGN.md) → storage's paper dict with a canonical ``paper_id``."""
    return _paper_dict(_paper_fields(raw))


def _paper_dict(fields: tuple) -> dict[str, Any]:
    paper_id, title, abstract, authors, url, doi, arxiv_id, published, categories = fields
    return {
        "paper_id": paper_id,
        "title": title,
        "abstract": abstract,
        "authors": authors or None,
        "url": url,
        "doi": doi,
        "arxiv_id": arxiv_id,
        "published": published,
        "categories": categories or None,
    }


def clean_timestamp(value: Any, *, now: datetime | None = None) -> str:
    """An ISO-8601 timestamp → UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; naive times are UTC."""
    if not isinstance(value, str):
        raise Invalid("invalid_timestamp", "ts must be an ISO-8601 string")
    zulu = _ZULU.fullmatch(value)
    if zulu is not None and now is None:
        # Already UTC: check the calendar, then compare as text (same fixed-width form).
        second, fraction = zulu.groups()
        try:
            datetime.fromisoformat(second)
        except ValueError:
            raise Invalid("invalid_timestamp", f"ts is not ISO-8601: {value[:40]!r}") from None
        if fraction is None:
            stored = second + ".000000Z"
        elif len(fraction) == 6:
            stored = value
        else:
            stored = f"{second}.{fraction.ljust(6, '0')}Z"
        if stored < _EARLIEST_STORED or (stored > _latest[1] and stored > _latest_stored()):
            raise Invalid("invalid_timestamp", "ts must be between 1990 and tomorrow")
        return stored
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid("invalid_timestamp", f"ts is not ISO-8601: {value[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise Invalid("invalid_timestamp", "ts is out of range") from None
    now = now or datetime.now(UTC)
    if moment < EARLIEST_TS or moment > now + FUTURE_SLACK:
        raise Invalid("invalid_timestamp", "ts must be between 1990 and tomorrow")
    return moment.strftime(STORED_TIME)


_EARLIEST_STORED = EARLIEST_TS.strftime(STORED_TIME)
_latest: tuple[int, str] = (0, "")


def _latest_stored() -> str:
    """Tomorrow's limit in the stored form, recomputed once a second.

    ``_latest[1]`` is never later than the current limit (the clock moves on), so a time at or
    before it passes without asking the clock.
    """
    global _latest
    second = int(time.time())
    if _latest[0] != second:
        _latest = (second, (datetime.now(UTC) + FUTURE_SLACK).strftime(STORED_TIME))
    return _latest[1]


def clean_dwell(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("invalid_dwell", "dwell_ms must be a whole number of milliseconds")
    if value < 0 or value > MAX_DWELL_MS:
        raise Invalid("invalid_dwell", f"dwell_ms must be between 0 and {MAX_DWELL_MS}")
    return value


def _event_fields(raw: Any) -> tuple[str, str, str, int | None, tuple]:
    """One event's checked fields: ``(event_id, type, ts, dwell_ms, paper fields)``, the paper
    fields as :func:`_paper_fields` gives them. The checks run in this order, so a bad event
    is named by its first problem."""
    if not isinstance(raw, dict):
        raise Invalid("invalid_event", "each event must be an object")
    get = raw.get
    event_id = get("id")
    if not isinstance(event_id, str) or not event_id.strip():
        raise Invalid("invalid_event_id", "id must be a non-empty string")
    if len(event_id) > MAX_EVENT_ID_LENGTH:
        raise Invalid("invalid_event_id", f"id is longer than {MAX_EVENT_ID_LENGTH} characters")
    _check_unicode(event_id, "invalid_event_id", "id")
    if event_id.startswith(IMPORTED_EVENT_PREFIX):  # they mark a library's saves (not reading)
        raise Invalid(
            "invalid_event_id", f"ids starting with {IMPORTED_EVENT_PREFIX!r} are library imports'"
        )
    event_type = get("type")
    if event_type not in EVENT_TYPES:
        raise Invalid("invalid_type", f"type must be one of {', '.join(EVENT_TYPES)}")
    if "paper" not in raw:
        raise Invalid("invalid_paper", "paper is required")
    paper = _paper_fields(raw["paper"])
    ts = clean_timestamp(get("ts"))
    dwell_ms = get("dwell_ms")
    if dwell_ms is not None:
        dwell_ms = clean_dwell(dwell_ms)
    return event_id, event_type, ts, dwell_ms, paper


def clean_event(raw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """One event of ``POST /api/v1/events`` → ``(event, paper)`` dicts in storage's shape."""
    event_id, event_type, ts, dwell_ms, paper = _event_fields(raw)
    event = {
        "event_id": event_id,
        "type": event_type,
        "ts": ts,
        "paper_id": paper[0],
        "dwell_ms": dwell_ms,
    }
    return event, _paper_dict(paper)


def clean_event_row(raw: Any) -> tuple[tuple, tuple]:
    """:func:`clean_event` as the rows the event writer stores, without dicts in between:
    ``(storage.event_row(event), storage.paper_row(paper))``."""
    event_id, event_type, ts, dwell_ms, paper = _event_fields(raw)
    paper_id, title, abstract, authors, url, doi, arxiv_id, published, categories = paper
    return (event_id, event_type, ts, paper_id, dwell_ms), (
        paper_id,
        title or None,
        abstract or None,
        authors_json(authors) if authors else None,
        url,
        doi or None,
        arxiv_id or None,
        published,
        authors_json(categories) if categories else None,
    )
