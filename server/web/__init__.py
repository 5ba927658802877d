"""The web app: server-rendered pages at ``/`` for people without (or beside) the extension.

One blueprint, ``web``, with its templates and static files beside it. Its modules, by job:

* :mod:`.sessions` — the signed session cookie, who is signed in, sign-in and sign-out;
* :mod:`.login_links` — one-time sign-in links (``nextpaper users login-link``);
* :mod:`.pages` — the pages (sign in, the feed, a paper);
* :mod:`.actions` — the forms that record Like, Save, Dismiss and their undo;
* :mod:`.saved` — the saved papers, their export and library import by upload;
* :mod:`.history` — what was recorded, deleting one event or all, and its export;
* :mod:`.settings` — digest settings, the Atom feed's URL and the reader's API tokens;
* :mod:`.pictures` — what the pictures show (reading by week, topics, the catalog's growth and
  events by day), drawn by :mod:`.charts`;
* :mod:`.paging` — pages of a long list;
* :mod:`.paper_links` — where a paper's title and links lead;
* :mod:`.errors` — HTML error pages outside ``/api/`` (the API keeps its JSON error shape).

:func:`install` wires them into an app: the session's ``SECRET_KEY`` (derived from the home's
key), the cookie's flags, CSRF protection on every form (Flask-WTF's ``CSRFProtect``), the
pages' own Content-Security-Policy, and the error pages. Pages read answers from the same
:class:`~server.serving.service.Serving` the API uses, and record events through the same
validation and event writer; nothing here speaks SQL.
"""

from __future__ import annotations

import functools

from flask import Blueprint, Flask, g, request, url_for
from flask_wtf.csrf import CSRFProtect, generate_csrf

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",  # the app keeps /static (Flask adds it for every app)
)

# Pages load their own CSS and script and nothing else; forms post only to this site.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def install(app: Flask) -> None:
    """Register the web app on ``app`` (after the API's error handlers, which it wraps)."""
    # their routes join ``bp``
    from . import (  # noqa: F401
        actions,
        admin,
        errors,
        history,
        pages,
        pictures,
        saved,
        sessions,
        settings,
    )

    sessions.configure(app)
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # checked by ``bp`` alone: the API has tokens
    app.config["WTF_CSRF_TIME_LIMIT"] = None  # a form is good as long as its session
    app.extensions["nextpaper.csrf"] = CSRFProtect(app)
    # after CSRFProtect's own context processor, whose ``csrf_token`` would otherwise win
    app.context_processor(lambda: {"csrf_token": _csrf_field, "url_for": _url_for})
    errors.install(app)
    app.register_blueprint(bp)


def _url_for(endpoint: str, **values: str) -> str:
    """Flask's ``url_for`` for templates, remembering the links that never change (the bar's,
    the forms' actions, the static files'): a page has a dozen, and building each costs a
    URL-map lookup. Links with other values (a page number, a tab) are built every time."""
    if values.keys() - {"filename"}:
        return url_for(endpoint, **values)
    return _fixed_url(request.script_root, endpoint, values.get("filename"))


@functools.lru_cache(maxsize=256)
def _fixed_url(script_root: str, endpoint: str, filename: str | None) -> str:
    return url_for(endpoint, **({"filename": filename} if filename else {}))


def _csrf_field() -> str:
    """The form's CSRF token, looked up once per request: a page has a form on every card and
    row, and Flask-WTF's own ``csrf_token()`` reads its settings again on every call."""
    if "csrf_field" not in g:
        g.csrf_field = generate_csrf()
    return g.csrf_field


def apply_page_headers(response):
    """A page's own security headers (before the app's defaults, which fill in the rest):
    its CSP (unless the response brings its own, as pictures do), and a Referer sent to this
    site alone, which Flask-WTF checks over HTTPS."""
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers["Referrer-Policy"] = "same-origin"
    return response
