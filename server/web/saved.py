"""The Saved page (``/saved``): the reader's saved papers, their export, and library import.

The list is the one ``GET /api/v1/saved`` pages through (:func:`server.store.storage.
saved_papers`, newest save first); each paper can be unsaved with the feed's mark form. The
exports are :func:`server.library.export_library`'s BibTeX, RIS and CSL-JSON of every saved
paper, as downloads; an uploaded file goes through :func:`server.library.import_library` with
the event writer, exactly as ``POST /api/v1/library`` does, and the page says what it did:
how many papers were imported, how many were saved already, and each rejected entry by its
position in the file.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g, render_template, request, url_for

from .. import parts
from ..library import FORMATS, LibraryError, NothingImported, export_library, import_library
from ..store import storage
from ..store.db import get_db
from . import bp, sessions
from .pages import short_authors
from .paging import Paging, requested_page
from .paper_links import paper_page, title_link

EXPORTS = ("bibtex", "ris", "csl-json")  # the page's buttons, in this order
ALL = 10**9  # an export holds every saved paper


def _saved_cards(number: int) -> tuple[list[dict[str, Any]], Paging]:
    wanted = Paging(number, 0)  # the page's size and offset (the total comes with the rows)
    rows, total = storage.saved_with_papers(
        get_db(), g.reader.user_id, limit=wanted.size, offset=wanted.offset
    )
    shown = [
        {
            "paper": paper,
            "href": title_link(paper),
            "page": paper_page(paper["id"]),
            "authors": short_authors(paper.get("authors")),
            "date": paper.get("published") or "",
            "saved_at": saved_at,
        }
        for paper, saved_at in rows
    ]
    return shown, Paging(number, total)


def _page(result: dict[str, Any] | None = None, error: str | None = None, status: int = 200):
    number = requested_page()
    shown, paging = _saved_cards(number)
    here = url_for("web.saved", page=number) if number > 1 else url_for("web.saved")
    body = render_template(
        "saved.html",
        nav="saved",
        cards=shown,
        paging=paging,
        exports=[FORMATS[name] for name in EXPORTS],
        result=result,
        error=error,
        here=here,
    )
    return body, status


@bp.get("/saved")
@sessions.signed_in
def saved():
    return _page()


@bp.get("/saved/export/<format_name>")
@sessions.signed_in
def export_saved(format_name: str):
    if format_name not in EXPORTS:
        abort(404, f"There is no export as {format_name!r}; the formats are {', '.join(EXPORTS)}.")
    rows, _ = storage.saved_with_papers(get_db(), g.reader.user_id, limit=ALL, offset=0)
    found = FORMATS[format_name]
    text = export_library(
        [paper for paper, _ in rows],
        format_name,
        saved_at={paper["id"]: saved_at for paper, saved_at in rows},
    )
    response = current_app.response_class(
        text.encode("utf-8"), content_type=f"{found.media_type}; charset=utf-8"
    )
    response.headers["Content-Disposition"] = (
        f'attachment; filename="nextpaper-saved.{found.extension}"'
    )
    return response


@bp.post("/saved/import")
@sessions.signed_in
def import_saved():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(error="Choose a library file to import.", status=400)
    try:
        result = import_library(
            get_db(), g.reader.user_id, upload.read(), record=parts().writer.record
        )
    except NothingImported as error:
        rejected = [problem.describe() for problem in error.rejected]
        return _page(
            result={"imported": 0, "already": 0, "rejected": rejected},
            error="No entry of that file could be imported.",
            status=400,
        )
    except LibraryError as error:
        return _page(
            error=f"That file could not be imported: {error.message.rstrip('.')}.", status=400
        )
    shown = {
        "imported": result.imported,
        "already": result.already,
        "format": FORMATS[result.format].label if result.format in FORMATS else result.format,
        "rejected": [problem.describe() for problem in result.rejected],
    }
    return _page(result=shown)
