"""Signing in to the web app (token, one-time link), the session cookie, CSRF, signing out,
and revoking tokens ending web sessions."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from server import create_app, signing
from server.cli import main
from server.web import login_links, sessions
from tests.web.conftest import WebClient, csrf_token

pytestmark = pytest.mark.both_backends

PUBLIC = "https://papers.example.org"


def login_link(home, name: str) -> str:
    """``nextpaper users login-link NAME``'s last line, run in this process."""
    (home / "config.py").write_text(f"PUBLIC_URL = {PUBLIC!r}\n")
    result = CliRunner().invoke(main, ["--home", str(home), "users", "login-link", name])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def test_the_signed_out_home_is_a_sign_in_form(web):
    page = web.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<label for="token">Token</label>' in html
    assert '<button class="primary" type="submit">Sign in</button>' in html
    assert web.signed_in_as() is None


def test_sign_in_with_a_token_sets_a_strict_httponly_session_cookie(web, user_token):
    token = user_token("alice")
    response = web.sign_in(token)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{sessions.COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    assert token not in cookie  # the cookie holds a session id, never the API token
    assert web.signed_in_as() == "alice"


def test_the_session_cookie_is_signed_at_sign_in_and_not_renewed_by_each_page(web, user_token):
    """Its signed age bounds the session: a cookie re-signed on every page would never age."""
    web.sign_in(user_token("alice"))
    web.get("/saved")  # the first page stores the session's CSRF secret: signed once more
    for path in ("/saved", "/history", "/settings"):
        assert "Set-Cookie" not in web.get(path).headers, path


def test_over_tls_the_session_cookie_is_secure(app, user_token):
    token = user_token("alice")
    client = app.test_client()
    page = client.get("/", base_url="https://papers.example.org")
    response = client.post(
        "/sign-in",
        data={"token": token, "csrf_token": csrf_token(page.get_data(as_text=True))},
        base_url="https://papers.example.org",
        headers={"Referer": "https://papers.example.org/"},
    )
    assert response.status_code == 303
    assert "Secure" in response.headers["Set-Cookie"]


def test_a_bad_token_is_refused_with_a_message(web, user_token):
    user_token("alice")
    response = web.sign_in("np_" + "x" * 43)
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert "That token is not valid" in html and 'role="alert"' in html
    assert "Set-Cookie" not in response.headers or "sid" not in response.headers["Set-Cookie"]
    assert web.signed_in_as() is None
    assert "Enter your API token" in web.sign_in("").get_data(as_text=True)


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(web, user_token):
    token = user_token("alice")
    asked = web.get("/papers/seed%3Ap1")
    assert asked.status_code == 303 and asked.headers["Location"].startswith("/?next=")
    assert web.sign_in(token, "/papers/seed:p1").headers["Location"] == "/papers/seed:p1"
    for elsewhere in ("//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com"):
        assert web.sign_in(token, elsewhere).headers["Location"] == "/"


def test_a_login_link_works_once(app, home, web, user_token):
    user_token("alice")
    url = login_link(home, "alice")
    assert url.startswith(f"{PUBLIC}/login/")
    path = url[len(PUBLIC) :]
    confirm = web.get(path)  # opening the link (as a link preview would) spends nothing
    assert confirm.status_code == 200 and "Sign in" in confirm.get_data(as_text=True)
    assert web.signed_in_as() is None
    used = web.post_form(path, path, {})
    assert used.status_code == 303
    assert web.signed_in_as() == "alice"

    again = WebClient(app.test_client())
    refused = again.post_form(path, path, {})
    assert refused.status_code == 410
    assert "used already" in refused.get_data(as_text=True)
    assert again.signed_in_as() is None


def test_an_expired_or_forged_login_link_is_refused(app, home, web, user_token):
    user_token("alice")
    key = signing.home_key(home)
    old = login_links.make_token(key, "alice", issued_at=int(time.time()) - 16 * 60)
    refused = web.post_form(f"/login/{old}", f"/login/{old}", {})
    assert refused.status_code == 410
    assert "expired" in refused.get_data(as_text=True)
    forged = login_links.make_token(b"another home's key, 32 bytes...", "alice")
    refused = web.post_form(f"/login/{forged}", f"/login/{forged}", {})
    assert refused.status_code == 410 and "not valid" in refused.get_data(as_text=True)
    assert web.signed_in_as() is None
    fresh = login_links.make_token(key, "alice", issued_at=int(time.time()) - 14 * 60)
    assert web.post_form(f"/login/{fresh}", f"/login/{fresh}", {}).status_code == 303


def test_login_link_for_an_unknown_user_is_a_one_line_error(app, home):  # app: the database
    result = CliRunner().invoke(main, ["--home", str(home), "users", "login-link", "zed"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: no user 'zed'")  # (the CLI may name the home)
    assert len(result.output.strip().splitlines()) == 1


def test_sign_out_ends_the_session_even_for_a_copied_cookie(app, web, user_token):
    web.sign_in(user_token("alice"))
    copied = web.client.get_cookie(sessions.COOKIE_NAME).value
    response = web.post_form("/", "/sign-out", {})
    assert response.status_code == 303
    assert web.signed_in_as() is None
    replay = WebClient(app.test_client())
    replay.client.set_cookie(sessions.COOKIE_NAME, copied)
    assert replay.signed_in_as() is None  # ended on the server, not only in this browser


def test_revoking_tokens_ends_web_sessions(app, home, web, user_token):
    web.sign_in(user_token("alice"))
    by_link = WebClient(app.test_client())
    path = login_link(home, "alice")[len(PUBLIC) :]
    by_link.post_form(path, path, {})
    assert web.signed_in_as() == by_link.signed_in_as() == "alice"
    result = CliRunner().invoke(main, ["--home", str(home), "users", "revoke", "alice"])
    assert result.exit_code == 0, result.output
    assert web.signed_in_as() is None
    assert by_link.signed_in_as() is None
    # a session begun after the revocation (a new link) works
    path = login_link(home, "alice")[len(PUBLIC) :]
    assert by_link.post_form(path, path, {}).status_code == 303
    assert by_link.signed_in_as() == "alice"
    # and revoking again ends it, though alice has no token left to revoke
    result = CliRunner().invoke(main, ["--home", str(home), "users", "revoke", "alice"])
    assert "Revoked 0 token(s)" in result.output
    assert by_link.signed_in_as() is None


def test_forms_without_their_csrf_token_are_refused_with_a_page(web, user_token):
    token = user_token("alice")
    for data in ({"token": token}, {"token": token, "csrf_token": "forged"}):
        refused = web.client.post("/sign-in", data=data)
        assert refused.status_code == 403
        assert refused.mimetype == "text/html"
        assert "security token" in refused.get_data(as_text=True)
        assert web.signed_in_as() is None
    web.sign_in(token)
    refused = web.client.post("/marks", data={"type": "save", "paper_id": "seed:p1"})
    assert refused.status_code == 403
    assert web.client.post("/sign-out").status_code == 403
    assert web.signed_in_as() == "alice"


def test_the_session_key_comes_from_the_home_key(app, home, tmp_path, web, user_token):
    web.sign_in(user_token("alice"))
    cookie = web.client.get_cookie(sessions.COOKIE_NAME).value
    database = {"DATABASE_URL": app.config["DATABASE_URL"]}  # the same (None: the home's file)
    same_home = create_app({"HOME": str(home), "TESTING": True, **database}).test_client()
    same_home.set_cookie(sessions.COOKIE_NAME, cookie)
    assert "Signed in as alice" in same_home.get("/").get_data(as_text=True)
    other = create_app({"HOME": str(tmp_path / "other"), "TESTING": True, **database})
    assert other.secret_key != same_home.application.secret_key
    other_client = other.test_client()
    other_client.set_cookie(sessions.COOKIE_NAME, cookie)
    assert "Signed in as" not in other_client.get("/").get_data(as_text=True)
    for made in (same_home.application, other):
        made.extensions["nextpaper"].connections.close()
