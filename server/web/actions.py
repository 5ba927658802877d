"""The web app's forms: sign in (token or one-time link), sign out, and a reader's marks.

Every form posts with its session's CSRF token (checked in :mod:`.pages`) and answers with a
redirect (303) back to the page it came from, so each works without JavaScript; ``static/
web.js`` posts the mark forms with ``fetch`` and gets JSON instead, to update the page in
place. A mark (``like``, ``save``, ``dismiss`` and the ``un…`` that takes each back) is an
event checked by the API's own validation (:func:`server.store.validation.clean_event_row`) and
stored by the same event writer as ``POST /api/v1/events``.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from .. import parts, signing
from ..http import auth
from ..ids import InvalidPaper, normalize_id
from ..store import storage
from ..store.db import get_db
from ..store.validation import Invalid, clean_event_row
from . import bp, login_links, sessions
from .pages import buttons

MARKS = ("like", "unlike", "save", "unsave", "dismiss", "undismiss")
DONE = {
    "like": "Liked",
    "unlike": "Took back your like of",
    "save": "Saved",
    "unsave": "Removed from your saved papers:",
    "dismiss": "Dismissed",
    "undismiss": "Brought back",
}


def _undo(event_type: str) -> str:
    """The event that takes ``event_type`` back."""
    return event_type.removeprefix("un") if event_type.startswith("un") else f"un{event_type}"


def _local(target: str | None, default: str) -> str:
    """``target`` when it is a path on this site (never another host: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts_ = urlsplit(target)
    return default if parts_.scheme or parts_.netloc else target


# --- signing in and out -----------------------------------------------------------------------


@bp.post("/sign-in")
def sign_in():
    token = request.form.get("token", "").strip()
    caller = auth.authenticate(get_db(), token) if token else None
    if caller is None:
        message = (
            "Enter your API token."
            if not token
            else "That token is not valid: it is unknown, mistyped or revoked."
        )
        page = render_template("signin.html", error=message, next=request.form.get("next", ""))
        return page, 401
    sessions.sign_in(caller.user_id)
    return redirect(_local(request.form.get("next"), url_for("web.home")), 303)


@bp.post("/login/<token>")
def use_login_link(token: str):
    key = signing.home_key(current_app.config["HOME"])
    try:
        user_id = login_links.use(get_db(), key, token)
    except login_links.BadLoginLink as error:
        return render_template("login_link.html", token=None, error=str(error)), 410
    sessions.sign_in(user_id)
    return redirect(url_for("web.home"), 303)


@bp.post("/sign-out")
def sign_out():
    sessions.sign_out()
    return redirect(url_for("web.home"), 303)


# --- marks ------------------------------------------------------------------------------------


def _wants_json() -> bool:
    return request.accept_mimetypes.best_match(["text/html", "application/json"]) == (
        "application/json"
    )


@bp.post("/marks")
@sessions.signed_in
def mark():
    event_type = request.form.get("type", "")
    if event_type not in MARKS:
        abort(400, f"Unknown action {event_type!r}: one of {', '.join(MARKS)}.")
    try:
        paper_id = normalize_id(request.form.get("paper_id", ""))
    except InvalidPaper as error:
        abort(400, f"That is not a paper id: {error}")
    db = get_db()
    paper = storage.get_paper(db, paper_id)
    if paper is None:
        abort(404, f"There is no paper {paper_id} in this catalog.")
    raw = {
        "id": f"web-{uuid.uuid4().hex}",
        "type": event_type,
        "ts": storage.now_iso(),
        "paper": {"id": paper_id},
    }
    try:
        event, row = clean_event_row(raw)
    except Invalid as error:  # pragma: no cover - the form's fields were checked above
        abort(400, error.message)
    parts().writer.record(g.reader.user_id, [event], [row])

    title = paper.get("title") or paper_id
    message = f"{DONE[event_type]} “{title}”."
    undo = _undo(event_type)
    if _wants_json():
        marks = storage.paper_marks(db, g.reader.user_id, [paper_id]).get(paper_id, set())
        return jsonify(
            {
                "type": event_type,
                "paper_id": paper_id,
                "message": message,
                "undo": undo,
                "buttons": buttons(marks),
            }
        )
    session["notice"] = {"text": message, "paper_id": paper_id, "undo": undo}
    return redirect(_local(request.form.get("next"), url_for("web.home")), 303)
