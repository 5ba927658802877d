"""What every page shares and the web app builds once rather than on each page: the CSRF token
(signed once per session secret), the bar's and the static files' links (once per script
root), and the links templates build with values (once per endpoint, values and script root).
Each is kept under everything it depends on: another session, a new session or another script
root never gets what was built for the first."""

from __future__ import annotations

import html
import itertools
import re
import time

import pytest
from flask import url_for
from itsdangerous import TimestampSigner

from server.store import storage
from server.web.rows import escaped_row
from tests.web.conftest import CSRF_FIELD, WebClient, csrf_token

LINK = re.compile(r'(?:href|src|action)="(/[^"]*)"')


@pytest.fixture
def alice(web, user_token):
    token = user_token("alice")
    web.sign_in(token)
    return token


@pytest.fixture
def clock(monkeypatch):
    """itsdangerous's clock a second later at each look: a token signed anew on each page would
    differ from page to page (within one second it would not)."""
    ticks = itertools.count(int(time.time()))
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: next(ticks))


def tokens_of(page) -> set[str]:
    return set(CSRF_FIELD.findall(page.get_data(as_text=True)))


def save_settings(client, token: str):
    return client.post("/settings", data={"csrf_token": token, "email": "", "digest": "off"})


def test_every_form_of_every_page_of_a_session_carries_one_token_that_works(
    web, alice, catalog, clock
):
    seen: set[str] = set()
    # /papers/… has forms from _cards.html's macros, imported without the page's context
    for path in ("/", "/saved", "/history", "/settings", "/papers/seed:p1", "/settings"):
        page = web.get(path)
        assert page.status_code == 200, path
        seen |= tokens_of(page)
    assert len(seen) == 1
    assert save_settings(web.client, seen.pop()).status_code == 303


def test_a_new_session_gets_a_new_token_and_the_old_one_is_refused(web, alice, clock):
    old = csrf_token(web.get("/settings").get_data(as_text=True))
    assert web.post_form("/settings", "/sign-out", {}).status_code == 303
    web.sign_in(alice)
    new = csrf_token(web.get("/settings").get_data(as_text=True))
    assert new != old
    assert save_settings(web.client, old).status_code == 403
    assert save_settings(web.client, new).status_code == 303


def test_two_sessions_never_share_a_token(app, web, alice, user_token, clock):
    bob = WebClient(app.test_client())
    bob.sign_in(user_token("bob"))
    alices = csrf_token(web.get("/settings").get_data(as_text=True))
    bobs = csrf_token(bob.get("/settings").get_data(as_text=True))
    assert alices != bobs
    assert save_settings(bob.client, alices).status_code == 403
    assert save_settings(web.client, bobs).status_code == 403


def test_with_a_time_limit_each_page_signs_its_token_anew(app, web, alice, clock):
    app.config["WTF_CSRF_TIME_LIMIT"] = 3600  # a token kept a while could outlive its limit
    first = csrf_token(web.get("/settings").get_data(as_text=True))
    second = csrf_token(web.get("/settings").get_data(as_text=True))
    assert first != second
    assert save_settings(web.client, second).status_code == 303


@pytest.mark.parametrize("root", ["", "/np"])
def test_links_are_what_url_for_builds_under_each_script_root(app, web, alice, catalog, root):
    base = f"http://localhost{root}/"
    with app.test_request_context("/", base_url=base):
        on_every_page = {  # the bar's and the static files'
            url_for("web.home"),
            url_for("web.saved"),
            url_for("web.history"),
            url_for("web.settings"),
            url_for("web.sign_out"),
            url_for("web.static", filename="web.css"),
            url_for("web.static", filename="web.js"),
            url_for("web.static", filename="icon-32.png"),
        }
        with_values = {
            url_for("web.save_settings"),
            url_for("web.export_saved", format_name="bibtex"),
            url_for("web.export_saved", format_name="ris"),
        }
    other = "/np" if not root else ""
    # a page under the other root first: what it built must not be what this root gets
    web.get("/saved", base_url=f"http://localhost{other}/")
    links: set[str] = set()
    # the paper page brings a ``links`` of its own (the paper's), which must not hide the bar's
    for path in ("/", "/saved", "/settings", "/history", "/papers/seed:p1"):
        page = web.get(path, base_url=base)
        assert page.status_code == 200
        found = set(LINK.findall(page.get_data(as_text=True)))
        assert on_every_page <= found, path
        links |= found
    assert with_values <= links
    if root:
        assert all(link.startswith(f"{root}/") for link in links)
    else:
        assert not any(link.startswith("/np/") for link in links)


# --- rows written without autoescaping (server/web/rows.py) ----------------------------------


def test_a_row_holds_every_value_escaped_and_none_or_false_as_nothing():
    row = escaped_row('<b class="x">Tom & Jerry\'s</b>', None, False, True, 0, 7, "plain")
    assert row == (
        "&lt;b class=&quot;x&quot;&gt;Tom &amp; Jerry&#x27;s&lt;/b&gt;",
        "",
        "",
        "True",
        "0",
        "7",
        "plain",
    )


def test_history_rows_show_stored_markup_as_text(client, db, web, user_token):
    """A title and an event id holding markup reach the History page as text, never as
    markup, though its rows are written without autoescaping."""
    hostile = '<script>alert("x")</script> & <i>'
    storage.upsert_papers(db, [{"paper_id": "doi:10.1/a&b<c", "title": hostile}])
    token = user_token("alice")
    event = {"id": 'e"1<b>', "type": "open", "ts": "2026-01-02T10:00:00Z"}
    answer = client.post(
        "/api/v1/events",
        json={"events": [{**event, "paper": {"id": "doi:10.1/a&b<c"}}]},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.get_json()["accepted"] == 1
    web.sign_in(token)
    page = web.get("/history").get_data(as_text=True)
    assert "<script>" not in page and "<i>" not in page and '"1<b>' not in page
    assert html.escape(hostile) in page
    assert f'data-event-id="{html.escape(event["id"])}"' in page
    row = page.split("data-event-id=")[1].split("</tr>")[0]
    assert html.unescape(re.sub(r"<[^>]+>", "", row)).count(hostile) == 1


# --- the CSRF secret of a new session --------------------------------------------------------


def test_signing_in_makes_the_new_sessions_csrf_secret_and_its_first_page_uses_it(web, user_token):
    web.get("/")  # the sign-in form: a session with a secret of its own
    with web.client.session_transaction() as before:
        anonymous = before["csrf_token"]
    web.sign_in(user_token("alice"))
    with web.client.session_transaction() as after:
        secret = after.get("csrf_token")
    assert secret and secret != anonymous  # made at sign-in, not left for the first page
    first = web.get("/settings")
    with web.client.session_transaction() as later:
        assert later["csrf_token"] == secret
    assert save_settings(web.client, csrf_token(first.get_data(as_text=True))).status_code == 303
