"""The home's secret key, and what is signed or derived with it: one-click links and feed secrets.

The key is 32 random bytes kept in ``HOME/secret-key`` (mode 0600), made the first time a
command or the server needs it and never changed after. It lives beside the database, not in
it, so a leaked database or backup can neither forge a link nor work out a feed's URL. Losing
the file voids the links in digests already sent and changes every feed's URL
(``nextpaper users feed-url`` prints the new one).

* One-click links (digest emails, feed entries) carry ``[user_id, action, paper_id]`` signed
  with a timestamp by :mod:`itsdangerous` (the library Flask itself signs with), so a link
  records its action without a login and stops working after :data:`LINK_MAX_AGE` seconds.
* A feed's secret is an HMAC of a random per-user nonce (stored) under the key; the database
  keeps the nonce and the secret's SHA-256, so a request is looked up by hash and the CLI can
  print the same URL again, while a new nonce revokes the old URL.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

KEY_FILE = "secret-key"
KEY_BYTES = 32
LINK_SALT = "nextpaper.one-click-link"
LINK_MAX_AGE = 30 * 24 * 3600  # a digest's links work for 30 days
LINK_ACTIONS = ("save", "dismiss", "unsubscribe")


def home_key(home: str | Path) -> bytes:
    """The secret key of ``home``, made on first use (two processes racing agree on one)."""
    return _key_at(os.path.join(os.path.abspath(home), KEY_FILE))


@functools.lru_cache(maxsize=8)
def _key_at(path: str) -> bytes:
    target = Path(path)
    if not target.exists():
        # written whole to a temporary file, then linked into place: a racing process either
        # links first (and this one reads its key) or finds the finished file
        tmp = target.with_name(f".{KEY_FILE}.{secrets.token_hex(8)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(KEY_BYTES) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, target)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    try:
        key = bytes.fromhex(target.read_text().strip())
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ValueError(
            f"{target} does not hold a key: restore it, or delete it to make a new one"
        )
    return key


# --- one-click links --------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """What a one-click link asks: ``action`` (one of LINK_ACTIONS) by ``user_id``, on
    ``paper_id`` (None for unsubscribe)."""

    user_id: str
    action: str
    paper_id: str | None


class BadLink(ValueError):
    """A link that was not signed with this home's key, or is malformed; ``expired``: it was,
    but is older than the maximum age."""

    def __init__(self, message: str, *, expired: bool = False):
        super().__init__(message)
        self.expired = expired


def signer_issued_at(moment: int) -> type[TimestampSigner]:
    """A signer whose signatures say they were made at ``moment`` (Unix seconds): backdated
    links, for tests of their expiry."""

    class IssuedAt(TimestampSigner):
        def get_timestamp(self) -> int:
            return moment

    return IssuedAt


def sign_link(key: bytes, link: Link, *, issued_at: int | None = None) -> str:
    """The URL-safe signed token of ``link``; ``issued_at`` (Unix seconds) backdates it."""
    if issued_at is None:
        return LinkSigner(key).sign(link)
    return LinkSigner(key, signer_issued_at(int(issued_at))).sign(link)


class LinkSigner:
    """Signs many links with one key (a digest run signs some thirty per message)."""

    def __init__(self, key: bytes, signer: type[TimestampSigner] | None = None):
        self._serializer = URLSafeTimedSerializer(key, salt=LINK_SALT, signer=signer)

    def sign(self, link: Link) -> str:
        if link.action not in LINK_ACTIONS:
            raise ValueError(f"unknown link action {link.action!r}")
        return self._serializer.dumps([link.user_id, link.action, link.paper_id])


def read_link(key: bytes, token: str, *, max_age: int = LINK_MAX_AGE) -> Link:
    """The link a token signs; :class:`BadLink` if it is forged, malformed or too old."""
    serializer = URLSafeTimedSerializer(key, salt=LINK_SALT)
    try:
        value = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise BadLink("This link has expired.", expired=True) from None
    except BadSignature:
        raise BadLink("This link is not valid.") from None
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], str)
        or value[1] not in LINK_ACTIONS
        or not (value[2] is None or isinstance(value[2], str))
        or (value[2] is None) != (value[1] == "unsubscribe")
    ):
        raise BadLink("This link is not valid.")
    return Link(value[0], value[1], value[2])


# --- feed secrets -----------------------------------------------------------------------------


def new_feed_nonce() -> str:
    return secrets.token_urlsafe(16)


def feed_secret(key: bytes, nonce: str) -> str:
    """The secret in a feed's URL: 256 bits, URL-safe, derived from the user's nonce."""
    digest = hmac.new(key, b"feed:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
