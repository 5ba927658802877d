"""The pages: sign in (``/`` signed out), the feed (``/`` signed in) and a paper's page.

Each page is thin over :class:`~server.serving.service.Serving`, the object the API answers
from: the feed's tabs are the bodies of ``/api/v1/recommendations``, ``/api/v1/new?days=1``
and ``/api/v1/trending?days=7`` (same ``n`` as the API's default), a paper's similar papers
those of ``/api/v1/papers/<id>/similar``. Nothing is scored here; a page adds only the reader's
own marks on the papers shown (liked, saved, dismissed) so the buttons show what holds.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, render_template, request, url_for

from .. import parts
from ..ids import InvalidPaper, normalize_id
from ..outside_links import paper_links
from ..serving.service import days_ago
from ..store import storage
from ..store.db import get_db
from . import apply_page_headers, bp, login_links, sessions
from .paper_links import paper_page, title_link

FEED_N = 20  # the API's default n
SIMILAR_N = 10  # the API's default n for similar papers
PREVIEW_CHARS = 320
SHOWN_AUTHORS = 6

TABS = {"foryou": "For you", "new": "New today", "trending": "Trending"}
EMPTY = {
    "foryou": "Nothing to suggest yet. Open a few papers with the extension, or import your "
    "library, and your suggestions appear here.",
    "new": "No papers from the last day that suit you yet. New papers arrive with the daily "
    "arXiv sync.",
    "trending": "Nothing is trending: a paper trends once several other readers here read it.",
}


@bp.after_request
def _headers(response):
    return apply_page_headers(response)


@bp.before_request
def _csrf():
    """Every form of the web app carries its session's CSRF token (Flask-WTF)."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        current_app.extensions["nextpaper.csrf"].protect()


# --- what the templates show of an answer -----------------------------------------------------


def _preview(text: str | None) -> str:
    text = " ".join((text or "").split())
    if len(text) <= PREVIEW_CHARS:
        return text
    cut = text[:PREVIEW_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",.;:") + "…"


def short_authors(authors: list[str] | None) -> str:
    authors = authors or []
    shown = ", ".join(authors[:SHOWN_AUTHORS])
    return shown + (" et al." if len(authors) > SHOWN_AUTHORS else "")


def buttons(marks: set[str]) -> list[dict[str, Any]]:
    """The Like, Save and Dismiss buttons for a paper with ``marks``: what each posts (the mark,
    or its ``un…`` to take it back), its words and whether it is pressed."""
    shown = []
    for mark, label, done in (
        ("like", "Like", "Liked"),
        ("save", "Save", "Saved"),
        ("dismiss", "Dismiss", "Dismissed"),
    ):
        on = mark in marks
        shown.append(
            {
                "mark": mark,
                "value": f"un{mark}" if on else mark,
                "label": done if on else label,
                "pressed": on,
                "title": f"Undo {label.lower()}" if on else label,
            }
        )
    return shown


def cards(items: list[dict[str, Any]], tab: str | None = None) -> list[dict[str, Any]]:
    """The API's items as the templates show them, with the reader's marks on each paper."""
    marks = storage.paper_marks(get_db(), g.reader.user_id, [i["paper"]["id"] for i in items])
    where = {"from": tab} if tab else {}  # the paper page finds the reason in this tab's answer
    shown = []
    for item in items:
        paper = item["paper"]
        shown.append(
            {
                "paper": paper,
                "href": title_link(paper),
                "page": paper_page(paper["id"], **where),
                "authors": short_authors(paper.get("authors")),
                "date": paper.get("published") or "",
                "preview": _preview(paper.get("abstract")),
                "reasons": [r["text"] for r in item.get("reasons", []) if r.get("text")],
                "buttons": buttons(marks.get(paper["id"], set())),
            }
        )
    return shown


def _answer(tab: str, user_id: str) -> dict[str, Any]:
    """The body of the API route behind a tab."""
    serving, db = parts().serving, get_db()
    if tab == "new":
        return serving.new(db, user_id, since=days_ago(1), n=FEED_N)
    if tab == "trending":
        return serving.trending_papers(db, user_id, days=7, n=FEED_N)
    return serving.recommendations(db, user_id, n=FEED_N)


# --- pages ------------------------------------------------------------------------------------


@bp.get("/")
def home():
    if sessions.reader() is None:
        return render_template("signin.html", next=request.args.get("next", ""))
    tab = request.args.get("tab", "foryou")
    if tab not in TABS:
        abort(400, f"There is no tab {tab!r}; the tabs are {', '.join(TABS)}.")
    items = _answer(tab, g.reader.user_id)["items"]
    return render_template(
        "feed.html",
        tabs=TABS,
        tab=tab,
        cards=cards(items, tab),
        empty=EMPTY[tab],
        here=url_for("web.home", tab=tab) if tab != "foryou" else url_for("web.home"),
    )


@bp.get("/papers/<path:paper_id>")
@sessions.signed_in
def paper(paper_id: str):
    try:
        canonical = normalize_id(paper_id)
    except InvalidPaper:
        abort(404, f"There is no paper {paper_id!r}: that is not a paper id.")
    found = storage.get_paper(get_db(), canonical)
    if found is None:
        abort(404, f"There is no paper {canonical} in this catalog.")
    tab = request.args.get("from", "foryou")
    tab = tab if tab in TABS else "foryou"
    why: list[str] = []  # the reason, when the paper is in the reader's answer
    for item in _answer(tab, g.reader.user_id)["items"]:
        if item["paper"]["id"] == canonical:
            why = [r["text"] for r in item["reasons"] if r.get("text")]
            break
    similar = parts().serving.similar(get_db(), found, n=SIMILAR_N)["items"]
    marks = storage.paper_marks(get_db(), g.reader.user_id, [canonical])
    return render_template(
        "paper.html",
        paper=found,
        links=paper_links(found),
        authors=", ".join(found.get("authors") or []),
        why=why,
        buttons=buttons(marks.get(canonical, set())),
        similar=cards(similar),
        here=request.full_path.rstrip("?"),
    )


@bp.get("/login/<token>")
def login_link(token: str):
    """A one-time link's page: a button that signs in (the GET itself spends nothing)."""
    return render_template("login_link.html", token=token, minutes=login_links.MAX_AGE // 60)
