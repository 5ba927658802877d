"""Each user's Atom feed at ``/feeds/<secret>.atom``: the items their digest would hold.

The secret is the feed's own, never the API token (tokens stay out of URLs): derived from a
random per-user nonce with the home's key (:mod:`server.signing`), stored only as a hash, and
replaced by ``nextpaper users feed-url NAME --new``, after which the old URL is a 404. The feed
holds the user's best papers of the last :data:`FEED_DAYS` days and what is trending
(:func:`server.jobs.digest.pick`), each entry linking to the paper, with its reason and the same
one-click links as the digest. Written by ``feedgen``, a maintained Atom generator, so escaping
and the required elements are its job.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

import sqlite_utils
from feedgen.feed import FeedGenerator
from flask import Blueprint, current_app

from .. import parts, signing
from ..jobs import digest
from ..serving.service import days_ago
from ..store import storage
from ..store.db import get_db
from . import auth
from .errors import ApiError

bp = Blueprint("feeds", __name__)

FEED_DAYS = 7
ATOM = "application/atom+xml"
# Characters XML 1.0 does not allow, which a paper's text may still hold.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def feed_url(
    db: sqlite_utils.Database, config: Mapping[str, Any], user_id: str, *, replace: bool = False
) -> str:
    """The user's feed URL, making its secret first if there is none (or ``replace``)."""
    key = signing.home_key(config["HOME"])
    found = storage.user_feed(db, user_id)
    nonce = signing.new_feed_nonce() if found is None or replace else found[0]
    secret = signing.feed_secret(key, nonce)
    if found is None or found != (nonce, auth.hash_token(secret)):
        # new, replaced, or the home's key changed since (the stored hash no longer matches)
        storage.set_feed_secret(db, user_id, nonce, auth.hash_token(secret))
    return f"{_public_url(config)}/feeds/{secret}.atom"


def _public_url(config: Mapping[str, Any]) -> str:
    return str(config["PUBLIC_URL"]).rstrip("/")


def _text(value: Any) -> str:
    return _NOT_XML.sub("", str(value or ""))


@bp.get("/feeds/<secret>.atom")
def feed(secret: str):
    db = get_db()
    user_id = storage.user_for_feed_hash(db, auth.hash_token(secret))
    if user_id is None:
        raise ApiError(
            "feed_not_found", "No feed at this address (it may have been replaced).", 404
        )
    config = current_app.config
    picks = digest.pick(parts().serving, db, user_id, since=days_ago(FEED_DAYS))
    body = atom(config, user_id, f"{_public_url(config)}/feeds/{secret}.atom", picks)
    return current_app.response_class(body, mimetype=ATOM)


def atom(config: Mapping[str, Any], user_id: str, self_url: str, picks: digest.Picks) -> bytes:
    """The Atom document of a user's feed."""
    public_url = _public_url(config)
    composer = digest.Composer(config)
    now = datetime.now(UTC)
    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(_text(f"NextPaper: new papers for {user_id}"))
    fg.subtitle(f"Your best new papers of the last {FEED_DAYS} days, and what is read here")
    fg.author({"name": "NextPaper"})
    fg.link(href=self_url, rel="self", type=ATOM)
    fg.link(href=f"{public_url}/", rel="alternate")
    fg.updated(now)
    for section, items in (("New for you", picks.new), ("Trending here", picks.trending)):
        for item in composer.items(user_id, items):
            paper = item["paper"]
            entry = fg.add_entry(order="append")
            entry.id(f"{public_url}/papers/{quote(paper['id'], safe='')}")
            entry.title(_text(paper.get("title") or paper["id"]))
            entry.link(href=item["url"], rel="alternate")
            entry.updated(_dated(paper, now))
            for name in paper.get("authors") or []:
                entry.author({"name": _text(name) or "?"})
            entry.category(term=section)
            entry.summary(_text(f"{item['why']}. {paper.get('abstract') or ''}".strip()))
            entry.content(_text(_content(item, section)), type="html")
    return fg.atom_str(pretty=True)


def _dated(paper: dict[str, Any], now: datetime) -> datetime:
    """An entry's time: the paper's date at midnight UTC, else now."""
    try:
        day = datetime.fromisoformat(str(paper.get("published"))[:10])
    except ValueError:
        return now
    return day.replace(tzinfo=UTC)


def _content(item: dict[str, Any], section: str) -> str:
    abstract = item["paper"].get("abstract") or ""
    return (
        f"<p><em>{escape(section)}: {escape(item['why'])}</em></p>"
        f"<p>{escape(abstract)}</p>"
        f'<p><a href="{escape(item["url"])}">Read</a> · '
        f'<a href="{escape(item["save_url"])}">Save</a> · '
        f'<a href="{escape(item["dismiss_url"])}">Not interested</a></p>'
    )
