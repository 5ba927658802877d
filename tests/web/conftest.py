"""Fixtures for the web app's tests: a signed-in browser-like client over the Flask test client.

``web`` signs a user in through the real sign-in form (with its CSRF token) and keeps the
session cookie, as a browser would.
"""

from __future__ import annotations

import re

import pytest

from server.http import auth
from server.store import storage
from tests.conftest import synthetic_papers

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page_html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = CSRF_FIELD.search(page_html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


class WebClient:
    """A Flask test client used as a person uses the pages: GET a page, post its forms."""

    def __init__(self, client):
        self.client = client

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def post_form(self, page: str, action: str, data: dict, **kwargs):
        """Open ``page``, then post ``data`` to ``action`` with that page's CSRF token."""
        token = csrf_token(self.client.get(page).get_data(as_text=True))
        return self.client.post(action, data={"csrf_token": token, **data}, **kwargs)

    def sign_in(self, token: str, next_path: str = ""):
        return self.post_form("/", "/sign-in", {"token": token, "next": next_path})

    def signed_in_as(self) -> str | None:
        """Whose name the bar shows on ``/``, or None when ``/`` is the sign-in page."""
        page = self.client.get("/").get_data(as_text=True)
        found = re.search(r'<span class="user" title="Signed in as [^"]*">([^<]+)</span>', page)
        return found.group(1) if found else None


@pytest.fixture
def catalog(db):
    """The 60 synthetic papers in the catalog (``seed:p0`` … ``seed:p59``)."""
    storage.upsert_papers(
        db, [{"paper_id": p.pop("id"), **p} for p in synthetic_papers(60, "2026-01-01")]
    )


@pytest.fixture
def user_token(db):
    """``user_token(name, admin=False)`` → a new user's API token."""

    def make(name: str, admin: bool = False) -> str:
        storage.create_user(db, name, is_admin=admin)
        return auth.issue_token(db, name)

    return make


@pytest.fixture
def web(client):
    return WebClient(client)
