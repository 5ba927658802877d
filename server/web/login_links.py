"""One-time sign-in links: ``nextpaper users login-link NAME`` prints one, the web app uses it.

A link is ``PUBLIC_URL/login/<token>``, the token ``[user_id, nonce]`` signed with the home's
key and a timestamp by itsdangerous (as :mod:`server.signing` signs one-click links), under a
salt of its own so no other signed value passes for one. It works for :data:`MAX_AGE` seconds
and once: its use is recorded in the database by the nonce's SHA-256 (a second use, even
racing the first, is refused). Opening the link shows a page with a ``Sign in`` button, since
chat apps and mail scanners fetch links they see; only the button's POST uses it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlite_utils
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .. import signing
from ..store import storage

SALT = "nextpaper.login-link"
MAX_AGE = 15 * 60  # seconds a link works


class BadLoginLink(ValueError):
    """A link that is forged, malformed, expired or used already (the message says which)."""


def _serializer(key: bytes, issued_at: int | None = None) -> URLSafeTimedSerializer:
    signer = None if issued_at is None else signing.signer_issued_at(int(issued_at))
    return URLSafeTimedSerializer(key, salt=SALT, signer=signer)


def make_token(key: bytes, user_id: str, *, issued_at: int | None = None) -> str:
    """A new link's signed token; ``issued_at`` (Unix seconds) backdates it."""
    return _serializer(key, issued_at).dumps([user_id, secrets.token_urlsafe(16)])


def login_url(config: Mapping[str, Any], user_id: str) -> str:
    """A new one-time sign-in link for ``user_id``, starting with ``PUBLIC_URL``."""
    token = make_token(signing.home_key(config["HOME"]), user_id)
    return f"{str(config['PUBLIC_URL']).rstrip('/')}/login/{token}"


def read_token(key: bytes, token: str) -> tuple[str, str]:
    """``(user_id, nonce)`` of a well-signed, unexpired token; else :class:`BadLoginLink`."""
    try:
        value = _serializer(key).loads(token, max_age=MAX_AGE)
    except SignatureExpired:
        raise BadLoginLink(
            "This sign-in link has expired. Ask for a new one (nextpaper users login-link)."
        ) from None
    except BadSignature:
        raise BadLoginLink("This sign-in link is not valid.") from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise BadLoginLink("This sign-in link is not valid.")
    return value[0], value[1]


def use(db: sqlite_utils.Database, key: bytes, token: str) -> str:
    """Spend a link: the user it signs in; :class:`BadLoginLink` if it cannot be used."""
    user_id, nonce = read_token(key, token)
    if storage.get_user(db, user_id) is None:
        raise BadLoginLink("This sign-in link's account no longer exists.")
    forget_before = storage.stored_time(datetime.now(UTC) - timedelta(days=1))
    nonce_hash = hashlib.sha256(nonce.encode()).hexdigest()
    if not storage.use_login_link(db, nonce_hash, user_id, forget_before=forget_before):
        raise BadLoginLink(
            "This sign-in link was used already: each link works once. Ask for a new one."
        )
    return user_id
