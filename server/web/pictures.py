"""What the pictures show: a reader's year of reading, and for admins the deployment's.

Each picture is an SVG image of its own (drawn by :mod:`.charts`), embedded by its page:

* ``/history/reading.svg`` — the papers the reader read, and the hours of reading, per week
  over the last 52 weeks (from their events, :func:`server.store.storage.user_events_since`);
* ``/history/topics.svg`` — what those papers are about: the main terms of the last twelve
  months in the served model's text vocabulary, and each month's share of them
  (:meth:`~server.serving.service.Serving.topics`), so a shift of interest shows;
* ``/admin/catalog.svg`` and ``/admin/events.svg`` — the catalog's size at the end of each of
  the last 90 days, and the events recorded each day (:func:`server.store.storage.
  arrivals_by_day`, a few thousand lookups by rowid whatever the size of the log).

Weeks start on Monday and days and months are UTC days, as events' times are stored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
from flask import g

from .. import parts
from ..store import storage
from ..store.db import get_db
from . import bp, charts, sessions
from .admin import admins_only

WEEKS = 52
MONTHS = 12
ADMIN_DAYS = 90
TOPIC_TERMS = 6


def _today() -> date:
    return datetime.now(UTC).date()


def _day_label(day: date) -> str:
    return f"{day:%b} {day.day}"


def _month_start(day: date, back: int) -> date:
    """The first day of the month ``back`` months before ``day``'s."""
    months = day.year * 12 + day.month - 1 - back
    return date(months // 12, months % 12 + 1, 1)


def _reading_events(user_id: str, since: date) -> list[tuple[date, str, str, int | None]]:
    rows = storage.user_events_since(get_db(), user_id, since.isoformat())
    return [
        (date.fromisoformat(ts[:10]), kind, paper_id, dwell)
        for ts, kind, paper_id, dwell in rows
        if kind in storage.READING_TYPES
    ]


@bp.get("/history/reading.svg")
@sessions.signed_in
def reading_picture():
    today = _today()
    first = today - timedelta(days=today.weekday() + 7 * (WEEKS - 1))
    papers = [set() for _ in range(WEEKS)]
    hours = np.zeros(WEEKS)
    for day, kind, paper_id, dwell in _reading_events(g.reader.user_id, first):
        week = (day - first).days // 7
        if 0 <= week < WEEKS:
            papers[week].add(paper_id)
            if kind == "read" and dwell:
                hours[week] += dwell / 3_600_000
    labels = [_day_label(first + timedelta(weeks=w)) for w in range(WEEKS)]
    svg = charts.bars(
        "Your reading, week by week",
        labels,
        [("Papers read", [len(p) for p in papers]), ("Hours of reading", np.round(hours, 1))],
    )
    return charts.svg_response(svg)


@bp.get("/history/topics.svg")
@sessions.signed_in
def topics_picture():
    today = _today()
    starts = [_month_start(today, back) for back in range(MONTHS - 1, -1, -1)]
    month_of = {(d.year, d.month): i for i, d in enumerate(starts)}
    pairs = {
        (paper_id, month_of[(day.year, day.month)])
        for day, _, paper_id, _ in _reading_events(g.reader.user_id, starts[0])
        if (day.year, day.month) in month_of
    }
    terms, shares = parts().serving.topics(get_db(), sorted(pairs), k=TOPIC_TERMS)
    full = np.zeros((MONTHS, len(terms)), np.float32)
    full[: len(shares)] = shares
    svg = charts.bars(
        "What you read about, month by month",
        [f"{d:%b %Y}" for d in starts],
        [(term, full[:, j]) for j, term in enumerate(terms)],
        stacked=True,
        percent=True,
        shown_labels=MONTHS,
    )
    return charts.svg_response(svg)


def _last_days(count: int) -> list[date]:
    today = _today()
    return [today - timedelta(days=back) for back in range(count - 1, -1, -1)]


@bp.get("/admin/catalog.svg")
@admins_only
def catalog_picture():
    days = _last_days(ADMIN_DAYS)
    sizes = storage.arrivals_by_day(get_db(), "papers", [d.isoformat() for d in days])
    svg = charts.line("Papers in the catalog", [_day_label(d) for d in days], "Papers", sizes)
    return charts.svg_response(svg)


@bp.get("/admin/events.svg")
@admins_only
def events_picture():
    days = _last_days(ADMIN_DAYS + 1)  # the day before the first: where its count starts
    totals = storage.arrivals_by_day(get_db(), "events", [d.isoformat() for d in days])
    svg = charts.bars(
        "Events recorded per day",
        [_day_label(d) for d in days[1:]],
        [("Events", np.diff(totals))],
        shown_labels=10,
    )
    return charts.svg_response(svg)
