"""The Settings page: who you are, email and digest (the API's checks, errors on the form),
the Atom feed's URL (the CLI's) and its replacement, and API tokens: create, list, revoke."""

from __future__ import annotations

import html
import re

import pytest

from server.http import auth
from server.store import storage
from tests.conftest import run_cli
from tests.web.conftest import WebClient

pytestmark = pytest.mark.both_backends

FEED_URL = re.compile(r'id="feed-url" class="copy" type="text" readonly value="([^"]+)"')
NEW_TOKEN = re.compile(r'id="new-token" class="copy" type="text" readonly value="([^"]+)"')
REVOKE = re.compile(r'name="token_hash" value="([0-9a-f]{64})"')


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def alice(web, user_token):
    token = user_token("alice")
    web.sign_in(token)
    return token


def test_the_page_says_who_you_are(web, alice):
    page = web.get("/settings").get_data(as_text=True)
    assert '<strong class="whoami">alice</strong>' in page
    assert 'aria-current="page">Settings</a>' in page


def test_email_and_digest_are_saved_as_the_api_saves_them(client, web, alice):
    saved = web.post_form(
        "/settings", "/settings", {"email": "  Alice@Example.ORG ", "digest": "weekly"}
    )
    assert saved.status_code == 303 and saved.headers["Location"] == "/settings"
    assert client.get("/api/v1/settings", headers=bearer(alice)).get_json() == {
        "email": "Alice@example.org",
        "digest": "weekly",
    }
    page = web.get("/settings").get_data(as_text=True)
    assert "Settings saved: a weekly digest to Alice@example.org." in page
    assert 'value="Alice@example.org"' in page and '<option value="weekly" selected>' in page


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"email": "not an address", "digest": "off"}, "email", "is not valid"),
        ({"email": "", "digest": "daily"}, "email", "A digest needs an email address"),
        ({"email": "a@example.org", "digest": "hourly"}, "digest", "Digest must be one of"),
    ],
)
def test_a_refused_setting_is_shown_on_the_form_and_nothing_changes(
    client, web, alice, form, field, message
):
    before = client.get("/api/v1/settings", headers=bearer(alice)).get_json()
    response = web.post_form("/settings", "/settings", form)
    assert response.status_code == 400
    page = html.unescape(response.get_data(as_text=True))
    error = re.search(rf'<p class="field-error" id="{field}-error" role="alert">([^<]+)</p>', page)
    assert error and message in error.group(1), page
    assert f'aria-invalid="true" aria-describedby="{field}-error"' in page
    if form["email"]:
        assert f'value="{form["email"]}"' in page  # what was typed stays in the field
    assert client.get("/api/v1/settings", headers=bearer(alice)).get_json() == before


def test_the_feed_url_is_the_clis_and_can_be_replaced(client, web, alice, home):
    shown = FEED_URL.search(web.get("/settings").get_data(as_text=True)).group(1)
    cli = run_cli(home, "users", "feed-url", "alice").stdout.strip().splitlines()[-1]
    assert shown == cli
    path = shown.split("://", 1)[1].split("/", 1)[1]
    assert client.get(f"/{path}").status_code == 200
    replaced = web.post_form("/settings", "/settings/feed", {})
    assert replaced.status_code == 303
    page = web.get("/settings").get_data(as_text=True)
    assert "the previous one no longer works" in page
    new = FEED_URL.search(page).group(1)
    assert new != shown
    assert client.get(f"/{path}").status_code == 404
    assert client.get("/" + new.split("://", 1)[1].split("/", 1)[1]).status_code == 200


def test_a_new_token_is_shown_once_works_and_can_be_revoked(app, client, web, alice, db):
    made = web.post_form("/settings", "/settings/tokens", {})
    assert made.status_code == 200
    token = NEW_TOKEN.search(made.get_data(as_text=True)).group(1)
    assert client.get("/api/v1/settings", headers=bearer(token)).status_code == 200
    page = web.get("/settings").get_data(as_text=True)
    assert token not in page and alice not in page  # the list never shows a secret
    hashes = REVOKE.findall(page)
    assert hashes == [auth.hash_token(token), auth.hash_token(alice)]  # newest first
    assert (
        len(re.findall(r'<time datetime="\d{4}-\d\d-\d\dT', page.split("API tokens</h2>")[1])) == 2
    )

    other_session = WebClient(app.test_client())
    other_session.sign_in(alice)
    revoked = web.post_form("/settings", "/settings/tokens/revoke", {"token_hash": hashes[0]})
    assert revoked.status_code == 303
    assert client.get("/api/v1/settings", headers=bearer(token)).status_code == 401
    assert client.get("/api/v1/settings", headers=bearer(alice)).status_code == 200
    page = web.get("/settings").get_data(as_text=True)  # this session goes on
    assert "Token revoked" in page and REVOKE.findall(page) == [hashes[1]]
    assert other_session.signed_in_as() is None  # the others are signed out


def test_a_reader_cannot_see_or_revoke_another_users_tokens(app, client, web, alice, user_token):
    bob_token = user_token("bob")
    bob = WebClient(app.test_client())
    bob.sign_in(bob_token)
    bob_page = bob.get("/settings").get_data(as_text=True)
    assert REVOKE.findall(bob_page) == [auth.hash_token(bob_token)]
    assert auth.hash_token(alice) not in bob_page
    assert FEED_URL.search(bob_page).group(1) != FEED_URL.search(
        web.get("/settings").get_data(as_text=True)
    ).group(1)
    web.post_form(
        "/settings", "/settings/tokens/revoke", {"token_hash": auth.hash_token(bob_token)}
    )
    assert client.get("/api/v1/settings", headers=bearer(bob_token)).status_code == 200
    assert "was not among your live tokens" in web.get("/settings").get_data(as_text=True)
    assert bob.signed_in_as() == "bob"


def test_revoking_with_the_cli_ends_this_session(home, web, alice, db):
    storage.revoke_tokens(db, "alice")
    assert web.signed_in_as() is None
