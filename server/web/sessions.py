"""Web sessions: the signed cookie, who is signed in, signing in and out.

The cookie is Flask's signed session (itsdangerous, keyed by a ``SECRET_KEY`` derived from the
home's key, so every process of a home agrees and no constant key ships with the code):
HttpOnly, SameSite=Strict, and Secure whenever the request came over TLS. It holds a random
session id; the database keeps only the id's SHA-256 (:func:`server.store.storage.
start_web_session`), so a session is checked on every request and can end on the server:

* signing out ends it;
* revoking the user's tokens (``nextpaper users revoke``) ends every session that began before;
* it lasts at most :data:`SESSION_DAYS` days (the cookie's signed age).

Signing in takes an API token, checked as the API checks it (:func:`server.http.auth.
authenticate`), or a one-time link (:mod:`.login_links`). Either way the old session's values
are dropped first, so a session id planted before signing in is never the signed-in one.

The session also holds its forms' CSRF secret (Flask-WTF's): :func:`csrf_token` gives the
signed token every form carries, and signing in makes the new session's secret at once.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer

from .. import signing
from ..store import storage
from ..store.db import get_db

SESSION_DAYS = 30
COOKIE_NAME = "nextpaper_session"


@dataclass(frozen=True)
class Reader:
    """The signed-in user of a page."""

    user_id: str
    is_admin: bool


class _TlsAwareSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with ``Secure`` set when the request came over TLS (a
    plain-HTTP deployment on 127.0.0.1 still gets its cookie back)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(request.is_secure or super().get_cookie_secure(app))


def secret_key(home: str) -> str:
    """The app's ``SECRET_KEY``: derived from the home's key, for this use only."""
    return hmac.new(signing.home_key(home), b"web-session", hashlib.sha256).hexdigest()


def configure(app: Flask) -> None:
    """Key and flags of the session cookie."""
    app.secret_key = secret_key(app.config["HOME"])
    app.session_interface = _TlsAwareSessions()
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE_NAME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        PERMANENT_SESSION_LIFETIME=timedelta(days=SESSION_DAYS),
        # the cookie is signed once, at sign-in: its signed age bounds the session (re-signing
        # it on every page would also make the bound slide forever)
        SESSION_REFRESH_EACH_REQUEST=False,
    )


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_in(user_id: str) -> None:
    """Start a new session for ``user_id`` in this response's cookie."""
    session_id = secrets.token_urlsafe(32)
    storage.start_web_session(get_db(), _hash(session_id), user_id)
    session.clear()
    session.permanent = True
    session["sid"] = session_id
    # the new session's CSRF secret, made (and its token signed) now rather than on the
    # first page: every page after signing in has forms
    g.pop("csrf_field", None)
    g.pop(current_app.config["WTF_CSRF_FIELD_NAME"], None)  # Flask-WTF's token of this request
    csrf_token()


def sign_out() -> None:
    session_id = session.get("sid")
    if isinstance(session_id, str):
        storage.end_web_session(get_db(), _hash(session_id))
    session.clear()


def current_hash() -> str | None:
    """What the database keeps of this request's session id (None: no session)."""
    session_id = session.get("sid")
    return _hash(session_id) if isinstance(session_id, str) else None


def reader() -> Reader | None:
    """Who is signed in on this request (checked once per request), or None."""
    if "reader" not in g:
        session_id = session.get("sid")
        found = None
        if isinstance(session_id, str):
            found = storage.web_session_user(get_db(), _hash(session_id))
            if found is None:  # signed out elsewhere, revoked, or from another home
                session.pop("sid", None)
        g.reader = Reader(*found) if found else None
    return g.reader


def signed_in(view):
    """Run ``view`` for a signed-in reader (``g.reader``); else send the browser to sign in."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if reader() is None:
            return redirect(url_for("web.home", next=request.full_path.rstrip("?")), 303)
        return view(*args, **kwargs)

    return wrapped


def csrf_token() -> str:
    """The forms' CSRF token, Flask-WTF's: the session's random secret, signed with the app's
    key. Looked up once per request (a page has a form on every card), and signed once per
    session secret (:func:`_signed_csrf`) rather than on every page: with no time limit on a
    token (``WTF_CSRF_TIME_LIMIT = None``), one signed while the session lasts checks as well
    as a fresh one, and signing costs as much as the rest of a small page. So every page of a
    session carries the same token; a new session (signing in or out clears it) gets a new
    secret, made by Flask-WTF, and so a new token."""
    token = g.get("csrf_field")
    if token is None:
        config = current_app.config
        if config["WTF_CSRF_TIME_LIMIT"] is not None:  # tokens expire: sign each page's anew
            token = generate_csrf()
        else:
            field = config["WTF_CSRF_FIELD_NAME"]
            if not isinstance(session.get(field), str):
                generate_csrf()  # the session's first form: Flask-WTF makes its secret
            key = config.get("WTF_CSRF_SECRET_KEY", current_app.secret_key)
            token = _signed_csrf(key, session[field])
        g.csrf_field = token
    return token


@functools.lru_cache(maxsize=4096)
def _signed_csrf(key: str | bytes, secret: str) -> str:
    """``secret`` signed as Flask-WTF's ``generate_csrf`` signs it (same salt and serializer,
    so its ``validate_csrf`` accepts it)."""
    return URLSafeTimedSerializer(key, salt="wtf-csrf-token").dumps(secret)
