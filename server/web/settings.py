"""The Settings page (``/settings``): who you are, your digest, your Atom feed, your API tokens.

* Email and digest go through :func:`server.store.user_settings.updated`, the checks of
  ``PUT /api/v1/settings`` and ``nextpaper users set``; a refused value is shown on the form.
* The feed URL is :func:`server.http.feeds.feed_url`'s, the one ``nextpaper users feed-url``
  prints (made on first view, as the command makes it); *Replace* gives a new secret and the
  old URL stops working.
* API tokens (for the extension): a new one is shown once, on the answer to the form that made
  it, and never again (only its hash is stored); the list shows each live token's creation
  time; revoking one also ends the reader's other web sessions, since one of them may have
  begun with it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from flask import current_app, flash, g, redirect, render_template, request, url_for

from ..http import auth, feeds
from ..store import storage, user_settings
from ..store.db import get_db
from ..store.validation import Invalid
from . import bp, sessions
from .history import readable_time
from .rows import escaped_row

FIELD_OF_ERROR = {"invalid_email": "email", "email_required": "email", "invalid_digest": "digest"}


# The digest choices as the form shows them: (value, label).
DIGEST_CHOICES = tuple((digest, digest.capitalize()) for digest in user_settings.DIGESTS)


# What the page shows, as attributes rather than dicts: a template reads a dict's keys through a
# failed attribute look-up first, and a missing key (no error on a field) through two.
class _User(NamedTuple):
    user_id: str
    is_admin: bool
    created_at: str | None


class _Form(NamedTuple):
    email: str | None
    digest: str | None


class _Errors(NamedTuple):
    email: str | None = None
    digest: str | None = None


def _page(
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    new_token: str | None = None,
    status: int = 200,
):
    db = get_db()
    reader = g.reader
    user = storage.get_user(db, reader.user_id) or {}
    form = form or user
    tokens = [  # as settings.html's rows unpack them (escaped: server/web/rows.py)
        escaped_row(n, t["token_hash"], t["created_at"], readable_time(t["created_at"]))
        for n, t in enumerate(storage.live_tokens(db, reader.user_id), 1)
    ]
    body = render_template(
        "settings.html",
        nav="settings",
        user=_User(reader.user_id, user.get("is_admin", reader.is_admin), user.get("created_at")),
        form=_Form(form.get("email"), form.get("digest")),
        digests=DIGEST_CHOICES,
        errors=_Errors(**(errors or {})),
        feed_url=feeds.feed_url(db, current_app.config, reader.user_id),
        tokens=tokens,
        new_token=new_token,
    )
    return body, status


@bp.get("/settings")
@sessions.signed_in
def settings():
    return _page()


@bp.post("/settings")
@sessions.signed_in
def save_settings():
    db = get_db()
    user_id = g.reader.user_id
    form = {"email": request.form.get("email", "").strip(), "digest": request.form.get("digest")}
    try:
        checked = user_settings.updated(storage.user_settings(db, user_id), form)
    except Invalid as error:
        field = FIELD_OF_ERROR.get(error.code, "email")
        message = error.message[:1].upper() + error.message[1:]
        return _page(form=form, errors={field: message}, status=400)
    storage.set_user_settings(db, user_id, **checked)
    if checked["digest"] == "off":
        flash("Settings saved: no email digest.")
    else:
        flash(f"Settings saved: a {checked['digest']} digest to {checked['email']}.")
    return redirect(url_for("web.settings"), 303)


@bp.post("/settings/feed")
@sessions.signed_in
def replace_feed():
    feeds.feed_url(get_db(), current_app.config, g.reader.user_id, replace=True)
    flash("Your feed has a new URL; the previous one no longer works.")
    return redirect(url_for("web.settings") + "#feed", 303)


@bp.post("/settings/tokens")
@sessions.signed_in
def create_token():
    token = auth.issue_token(get_db(), g.reader.user_id)
    return _page(new_token=token)


@bp.post("/settings/tokens/revoke")
@sessions.signed_in
def revoke_token():
    revoked = storage.revoke_token(
        get_db(),
        g.reader.user_id,
        request.form.get("token_hash", ""),
        keep_session=sessions.current_hash(),
    )
    flash(
        "Token revoked: it no longer works, and your other web sessions were signed out."
        if revoked
        else "That token was not among your live tokens (revoked already?)."
    )
    return redirect(url_for("web.settings") + "#tokens", 303)
