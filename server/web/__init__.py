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
* :mod:`.paging` — pages of a long list; :mod:`.rows` — a long table's rows, escaped once;
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
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Flask, current_app, g, get_flashed_messages, request, session, url_for
from flask_wtf.csrf import CSRFProtect

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",  # the app keeps /static (Flask adds it for every app)
)

from . import sessions  # noqa: E402  (its CSRF token is a template global; it needs no ``bp``)

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
    # as globals, for the macros a template imports without its context (_cards.html); and
    # ``csrf_token`` in the context too, after CSRFProtect's own context processor, whose
    # ``csrf_token`` would otherwise win over the global
    app.jinja_env.globals.update(csrf_token=sessions.csrf_token, url_for=_url_for)
    app.context_processor(_template_context)
    errors.install(app)
    app.register_blueprint(bp)


def _template_context() -> dict[str, Any]:
    """What every template may use besides the globals: ``csrf_token()``, ``site`` (base.html's
    links), the signed-in ``reader`` (None: the bar shows no menu), and the messages a form
    left for this page, taken here (shown once): ``flashes`` and the reader's ``notice`` (what
    a mark did, with Undo)."""
    reader = g.get("reader")
    return {
        "csrf_token": sessions.csrf_token,
        "site": _site_links(request.script_root),
        "reader": reader,
        "notice": session.pop("notice", None) if reader else None,
        "flashes": get_flashed_messages(),
    }


class SiteLinks(SimpleNamespace):
    """Every link of the web app that takes no values, named as its view (``site.settings``,
    ``site.save_settings``, ``site.retrain`` …), and the static files base.html loads
    (``site.icon``, ``site.css``, ``site.js``): the same for every page and reader under one
    script root, so built once from the URL map rather than by a URL-map lookup per link on
    each page. (Macros imported without the context, in _cards.html and _paging.html, use the
    ``url_for`` global.)"""


@functools.lru_cache(maxsize=16)
def _site_links(script_root: str) -> SiteLinks:
    endpoints = {
        rule.endpoint
        for rule in current_app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{bp.name}.") and not rule.arguments
    }
    static = functools.partial(url_for, f"{bp.name}.static")
    return SiteLinks(
        **{endpoint.partition(".")[2]: url_for(endpoint) for endpoint in endpoints},
        icon=static(filename="icon-32.png"),
        css=static(filename="web.css"),
        js=static(filename="web.js"),
    )


def _url_for(endpoint: str, **values: Any) -> str:
    """Flask's ``url_for`` for templates, remembering the links it built: a link is the same
    for the same endpoint and values (under one script root), a page has a dozen (the forms'
    actions, the exports'), and building each costs a URL-map lookup. Links with options
    (``_external``, ``_anchor``…) or other values than text and numbers are built every time."""
    if not values:
        return _built_url(request.script_root, endpoint, ())
    if all(type(value) in (str, int) and name[:1] != "_" for name, value in values.items()):
        return _built_url(request.script_root, endpoint, tuple(values.items()))
    return url_for(endpoint, **values)


@functools.lru_cache(maxsize=1024)
def _built_url(script_root: str, endpoint: str, values: tuple[tuple[str, Any], ...]) -> str:
    return url_for(endpoint, **dict(values))


def apply_page_headers(response):
    """A page's own security headers (before the app's defaults, which fill in the rest):
    its CSP (unless the response brings its own, as pictures do), and a Referer sent to this
    site alone, which Flask-WTF checks over HTTPS."""
    response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
    response.headers["Referrer-Policy"] = "same-origin"
    return response
