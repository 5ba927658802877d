"""The History page (``/history``): what was recorded for the reader, and their say over it.

The list is ``GET /api/v1/history``'s (:func:`server.store.storage.list_events`, newest
first), a page at a time, each event with its time, type and paper. A reader can delete one
event, erase all of them (after a confirmation page) as ``DELETE /api/v1/history`` does, and
download ``GET /api/v1/export``'s JSON. Deleting even one event counts as an erasure, and the
copies training keeps outside the database are dropped (:func:`server.jobs.training.
forget_erased`), so the next retrain forgets it as it forgets an erased history.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, jsonify, redirect, render_template, request, url_for

from .. import parts
from ..jobs import training
from ..store import storage
from ..store.db import get_db
from . import bp, sessions
from .paging import Paging, requested_page
from .paper_links import paper_path, title_link
from .rows import escaped_row

EVENT_WORDS = {
    "open": "Opened",
    "read": "Read",
    "like": "Liked",
    "unlike": "Took back a like",
    "save": "Saved",
    "unsave": "Unsaved",
    "dismiss": "Dismissed",
    "undismiss": "Brought back",
}


def readable_time(ts: str) -> str:
    """An event's time as people read it: ``2026-01-02 10:00 UTC`` (the stored ISO time is
    kept in the page's ``datetime`` attribute)."""
    return f"{ts[:10]} {ts[11:16]} UTC" if len(ts) >= 16 and ts[10] == "T" else ts


def _dwell(ms: int | None) -> str:
    if not ms:
        return ""
    seconds = round(ms / 1000)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def _row(
    number: int, event: dict[str, Any], paper: dict[str, Any], script_root: str
) -> tuple[str, ...]:
    """One event as history.html's rows unpack it (escaped: :mod:`server.web.rows`)."""
    ts = event["ts"]
    return escaped_row(
        number,
        event["id"],
        ts,
        readable_time(ts),
        EVENT_WORDS.get(event["type"], event["type"]),
        _dwell(event.get("dwell_ms")),
        paper.get("title") or event["paper_id"],
        title_link(paper),
        paper_path(script_root, event["paper_id"]),
    )


@bp.get("/history")
@sessions.signed_in
def history():
    number = requested_page()
    db = get_db()
    paging = Paging(number, storage.count_events(db, g.reader.user_id))
    events = storage.list_events(db, g.reader.user_id, limit=paging.size, offset=paging.offset)
    papers = storage.get_papers(db, [e["paper_id"] for e in events], storage.TITLE_FIELDS)
    root = request.script_root
    rows = [
        _row(n, e, papers.get(e["paper_id"], {"id": e["paper_id"]}), root)
        for n, e in enumerate(events, 1)
    ]
    here = url_for("web.history", page=number) if number > 1 else url_for("web.history")
    return render_template("history.html", nav="history", rows=rows, paging=paging, here=here)


@bp.post("/history/delete")
@sessions.signed_in
def delete_event():
    event_id = request.form.get("event_id", "")
    back = request.form.get("page", "1")
    back_to = url_for("web.history", page=back) if back.isdigit() and back != "1" else None
    if not storage.delete_event(get_db(), g.reader.user_id, event_id):
        flash("That event was not in your history (deleted already?).")
    else:
        training.forget_erased(parts().serving.store)
        flash("Deleted one event from your history.")
    return redirect(back_to or url_for("web.history"), 303)


@bp.get("/history/erase")
@sessions.signed_in
def confirm_erase():
    total = storage.count_events(get_db(), g.reader.user_id)
    return render_template("history_erase.html", nav="history", total=total)


@bp.post("/history/erase")
@sessions.signed_in
def erase():
    deleted = storage.delete_history(get_db(), g.reader.user_id)
    training.forget_erased(parts().serving.store)
    flash(f"Deleted your whole history: {deleted} event{'s' if deleted != 1 else ''}.")
    return redirect(url_for("web.history"), 303)


@bp.get("/history/export")
@sessions.signed_in
def export_history():
    """``GET /api/v1/export``'s JSON, as a download."""
    response = jsonify(storage.export_user(get_db(), g.reader.user_id))
    response.headers["Content-Disposition"] = 'attachment; filename="nextpaper-export.json"'
    return response
