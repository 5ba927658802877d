"""One-click links from digests and feeds: ``/l/<signed>`` saves a paper, marks it not
interesting, or turns the digest off, without a login.

The link itself is the credential: ``[user_id, action, paper_id]`` signed with the home's key
and a timestamp (:mod:`server.signing`), refused once older than
:data:`~server.signing.LINK_MAX_AGE`. A GET only shows a small confirmation page with a button,
since mail scanners and link previews fetch every URL in a message; the button POSTs to the same
URL, which does the action. The one-click unsubscribe of RFC 8058 (a POST with
``List-Unsubscribe=One-Click``, made by the mail client) works without the page.

A save or a dismissal is stored as the extension's events are, through the event writer, with an
event id made from the link, so a link clicked twice records one event. Errors are pages for a
browser and the API's JSON error shape for any other client.
"""

from __future__ import annotations

import hashlib
from typing import NoReturn

from flask import Blueprint, abort, current_app, render_template_string, request

from .. import parts, signing
from ..store import storage
from ..store.db import get_db
from .errors import ApiError

bp = Blueprint("links", __name__)

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>NextPaper</title></head>
<body><main>
<h1>NextPaper</h1>
<p>{{ message }}</p>
{% if button %}<form method="post"><button type="submit">{{ button }}</button></form>{% endif %}
</main></body></html>
"""

_ASK = {
    "save": ("Save “{title}” to your NextPaper library?", "Save"),
    "dismiss": (
        "Mark “{title}” as not interesting? It will not be suggested again.",
        "Not interested",
    ),
    "unsubscribe": ("Stop the NextPaper digest emails to {email}?", "Unsubscribe"),
}
_DONE = {
    "save": "Saved “{title}”.",
    "dismiss": "Done: “{title}” will not be suggested again.",
    "unsubscribe": "Done: you will get no more digest emails. Turn them back on in your settings.",
}


def _page(message: str, button: str | None = None, status: int = 200):
    body = render_template_string(_PAGE, message=message, button=button)
    return current_app.response_class(body, status=status, mimetype="text/html")


def _wants_html() -> bool:
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def _fail(code: str, message: str, status: int) -> NoReturn:
    """Stop with an error: a page for a browser, the JSON error shape for anyone else."""
    if _wants_html():
        abort(_page(message, status=status))
    raise ApiError(code, message, status)


def _read(token: str) -> tuple[signing.Link, dict[str, str]]:
    """The link a token signs, and the words that describe it (the address, the title)."""
    try:
        link = signing.read_link(signing.home_key(current_app.config["HOME"]), token)
    except signing.BadLink as error:
        if error.expired:
            _fail("link_expired", str(error), 410)
        _fail("invalid_link", str(error), 400)
    db = get_db()
    settings = storage.user_settings(db, link.user_id)
    if settings is None:
        _fail("user_not_found", "This link's account no longer exists.", 404)
    words = {"email": settings["email"] or "you", "title": link.paper_id or ""}
    if link.paper_id is not None:
        paper = storage.get_paper(db, link.paper_id)
        if paper and paper.get("title"):
            words["title"] = paper["title"]
    return link, words


@bp.get("/l/<token>")
def confirm(token: str):
    link, words = _read(token)
    question, button = _ASK[link.action]
    return _page(question.format(**words), button)


@bp.post("/l/<token>")
def act(token: str):
    link, words = _read(token)
    if link.action == "unsubscribe":
        db = get_db()
        settings = storage.user_settings(db, link.user_id)
        storage.set_user_settings(db, link.user_id, email=settings["email"], digest="off")
    else:
        event_id = "link-" + hashlib.sha256(token.encode()).hexdigest()[:32]
        event = (event_id, link.action, storage.now_iso(), link.paper_id, None)
        paper = storage.paper_row({"paper_id": link.paper_id})
        parts().writer.record(link.user_id, [event], [paper])
    return _page(_DONE[link.action].format(**words))
