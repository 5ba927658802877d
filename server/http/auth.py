"""API tokens: making them, storing only their hashes, and checking a request's bearer token.

Tokens are 256-bit random strings; only their SHA-256 is stored. A presented token is hashed
and its stored twin compared in constant time, so neither the database nor the timing of a
refusal tells anything about a live token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

import sqlite_utils

from ..store import storage

TOKEN_PREFIX = "np_"
_TOKEN_SHAPE = re.compile(r"^np_[A-Za-z0-9_-]{43}$")
USER_ID_SHAPE = re.compile(r"^[^\s/\\\x00-\x1f\x7f]{1,128}$")


@dataclass(frozen=True)
class Caller:
    """Who made a request."""

    user_id: str
    is_admin: bool


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """What the database keeps of a secret (an API token, a feed's secret) and looks it up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_token(db: sqlite_utils.Database, user_id: str) -> str:
    """Make a token for ``user_id``, store its hash, and return the token (shown once)."""
    token = new_token()
    storage.add_token(db, user_id, hash_token(token))
    return token


def authenticate(db: sqlite_utils.Database, token: str) -> Caller | None:
    """The caller a token belongs to, or None for a malformed, unknown or revoked token."""
    if not _TOKEN_SHAPE.match(token):
        return None
    presented = hash_token(token)
    found = storage.user_for_token_hash(db, presented)
    if found is None:
        return None
    stored, user_id, is_admin = found
    if not hmac.compare_digest(stored, presented):
        return None
    return Caller(user_id, is_admin)


def valid_user_id(user_id: str) -> bool:
    return bool(USER_ID_SHAPE.match(user_id))
