"""The feed, a paper's page, the mark forms and the HTML error pages, over the test client."""

from __future__ import annotations

import html
import re

import pytest

from server.outside_links import paper_links
from server.store import storage
from server.web.paper_links import title_link
from tests.web.conftest import WebClient

pytestmark = pytest.mark.both_backends

TITLE = re.compile(r'<a class="title" id="[^"]+" href="([^"]+)"[^>]*>([^<]*)</a>')


def titles(page) -> list[str]:
    return [html.unescape(t) for _, t in TITLE.findall(page.get_data(as_text=True))]


def api_titles(client, token: str, path: str) -> list[str]:
    response = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    return [item["paper"]["title"] for item in response.get_json()["items"]]


def api_events(client, token: str) -> list[tuple[str, str]]:
    body = client.get("/api/v1/history", headers={"Authorization": f"Bearer {token}"}).get_json()
    return [(e["type"], e["paper_id"]) for e in reversed(body["events"])]


@pytest.fixture
def alice(client, web, catalog, user_token):
    """Alice, signed in, who opened two papers of one topic and whose friends read others."""
    token = user_token("alice")
    for name, read in (("bob", (0, 6, 12, 18)), ("carol", (0, 6, 12, 24)), ("dan", (12, 30))):
        other = user_token(name)
        events = [
            {
                "id": f"{name}-{i}",
                "type": "open",
                "ts": "2026-01-02T10:00:00Z",
                "paper": {"id": f"seed:p{i}"},
            }
            for i in read
        ]
        client.post(
            "/api/v1/events", json={"events": events}, headers={"Authorization": f"Bearer {other}"}
        )
    events = [
        {
            "id": f"a-{i}",
            "type": "open",
            "ts": "2026-01-02T10:00:00Z",
            "paper": {"id": f"seed:p{i}"},
        }
        for i in (0, 6)
    ]
    client.post(
        "/api/v1/events", json={"events": events}, headers={"Authorization": f"Bearer {token}"}
    )
    web.sign_in(token)
    return token


def test_each_tab_shows_the_apis_answer(client, web, alice):
    for tab, api in (
        ("/", "/api/v1/recommendations"),
        ("/?tab=new", "/api/v1/new?days=1"),
        ("/?tab=trending", "/api/v1/trending?days=7"),
    ):
        page = web.get(tab)
        assert page.status_code == 200
        assert titles(page) == api_titles(client, alice, api), tab
    assert titles(web.get("/"))  # the feed is not empty
    assert 'aria-current="page">Trending' in web.get("/?tab=trending").get_data(as_text=True)
    bad = web.get("/?tab=everything")
    assert bad.status_code == 400 and "There is no tab" in bad.get_data(as_text=True)


def test_a_feed_item_has_its_link_authors_date_preview_and_reason(client, web, alice):
    body = client.get("/api/v1/recommendations", headers={"Authorization": f"Bearer {alice}"})
    first = body.get_json()["items"][0]
    page = web.get("/").get_data(as_text=True)
    item = page[page.index(f'data-paper-id="{first["paper"]["id"]}"') :]
    item = item[: item.index("</li>")]
    assert f'href="{html.escape(title_link(first["paper"]))}"' in item
    assert f'<time datetime="{first["paper"]["published"]}">' in item
    assert html.escape(first["reasons"][0]["text"]) in item
    assert first["paper"]["abstract"].split()[2] in item
    for label in ("Like", "Save", "Dismiss"):
        assert f">{label}</button>" in item


def test_save_then_undo_without_javascript(client, web, alice, db):
    paper_id = "seed:p12"
    saved = web.post_form(
        "/", "/marks", {"type": "save", "paper_id": paper_id, "next": "/?tab=new"}
    )
    assert saved.status_code == 303 and saved.headers["Location"] == "/?tab=new"
    page = web.get("/?tab=new").get_data(as_text=True)
    title = storage.get_paper(db, paper_id)["title"]
    assert f"Saved “{title}”." in page  # the notice names the paper and offers its undo
    assert 'name="type" value="unsave">Undo</button>' in page
    assert api_events(client, alice)[-1] == ("save", paper_id)
    own_buttons = web.get(f"/papers/{paper_id}").get_data(as_text=True).split("</article>")[0]
    assert 'value="unsave" aria-pressed="true"' in own_buttons
    undone = web.post_form("/", "/marks", {"type": "unsave", "paper_id": paper_id})
    assert undone.status_code == 303 and undone.headers["Location"] == "/"
    assert api_events(client, alice)[-1] == ("unsave", paper_id)
    saved_list = client.get("/api/v1/saved", headers={"Authorization": f"Bearer {alice}"})
    assert saved_list.get_json()["total"] == 0
    own_buttons = web.get(f"/papers/{paper_id}").get_data(as_text=True).split("</article>")[0]
    assert 'value="save" aria-pressed="false"' in own_buttons


def test_dismiss_leaves_the_feed_and_undo_brings_it_back(client, web, alice):
    first = titles(web.get("/"))[0]
    page = web.get("/").get_data(as_text=True)
    paper_id = re.search(r'data-paper-id="([^"]+)"', page).group(1)
    web.post_form("/", "/marks", {"type": "dismiss", "paper_id": paper_id})
    assert first not in titles(web.get("/"))
    assert api_events(client, alice)[-1] == ("dismiss", paper_id)
    web.post_form("/", "/marks", {"type": "undismiss", "paper_id": paper_id})
    assert first in titles(web.get("/"))


def test_a_mark_posted_by_script_gets_json_with_the_new_buttons(client, web, alice):
    response = web.post_form(
        "/",
        "/marks",
        {"type": "like", "paper_id": "seed:p1"},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["undo"] == "unlike" and body["paper_id"] == "seed:p1"
    like = next(b for b in body["buttons"] if b["mark"] == "like")
    assert like == {
        "mark": "like",
        "value": "unlike",
        "label": "Liked",
        "pressed": True,
        "title": "Undo like",
    }
    assert api_events(client, alice)[-1] == ("like", "seed:p1")


def test_bad_mark_forms_get_error_pages_and_store_nothing(client, web, alice):
    before = api_events(client, alice)
    for data, status in (
        ({"type": "open", "paper_id": "seed:p1"}, 400),
        ({"type": "save", "paper_id": ""}, 400),
        ({"type": "save", "paper_id": "seed:nowhere"}, 404),
    ):
        response = web.post_form("/", "/marks", data)
        assert response.status_code == status, data
        assert response.mimetype == "text/html"
        assert '<a href="/">Back to NextPaper</a>' in response.get_data(as_text=True)
    assert api_events(client, alice) == before


def test_the_paper_page(client, web, alice):
    body = client.get("/api/v1/recommendations", headers={"Authorization": f"Bearer {alice}"})
    first = body.get_json()["items"][0]
    paper_id = first["paper"]["id"]
    page = web.get(f"/papers/{paper_id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert f'<h1 id="paper-title">{html.escape(first["paper"]["title"])}</h1>' in text
    assert html.escape(first["paper"]["abstract"]) in text
    assert "Why you see it" in text and html.escape(first["reasons"][0]["text"]) in text
    similar = client.get(
        f"/api/v1/papers/{paper_id}/similar", headers={"Authorization": f"Bearer {alice}"}
    )
    assert titles(page) == [i["paper"]["title"] for i in similar.get_json()["items"]]
    # the URL-encoded id of a digest's link is the same page; a paper not in the answer has no "why"
    assert web.get("/papers/" + paper_id.replace(":", "%3A")).status_code == 200
    assert "Why you see it" not in web.get("/papers/seed:p0").get_data(as_text=True)


def test_an_unknown_paper_is_a_404_page(web, alice):
    for path in ("/papers/seed:nowhere", "/papers/not a paper id"):
        response = web.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "There is no paper" in response.get_data(as_text=True)


def test_pages_get_html_errors_and_the_api_keeps_its_json_shape(
    client, web, user_token, monkeypatch
):
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "Page not found" in missing.get_data(as_text=True)
    assert '<a href="/">Back to NextPaper</a>' in missing.get_data(as_text=True)
    assert "default-src 'none'" in missing.headers["Content-Security-Policy"]
    wrong_method = client.put("/")
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "text/html"
    assert "GET" in wrong_method.headers["Allow"]
    for path in ("/api/v1/nowhere", "/feeds/.atom"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    assert client.put("/api/v1/history").get_json()["error"]["code"] == "method_not_allowed"

    web.sign_in(user_token("alice"))

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(storage, "paper_marks", crash)
    failed = web.get("/")
    assert failed.status_code == 500 and failed.mimetype == "text/html"
    assert "Something went wrong" in failed.get_data(as_text=True)
    assert "boom" not in failed.get_data(as_text=True)
    monkeypatch.setattr(storage, "export_user", crash)
    token = user_token("bob")
    api = client.get("/api/v1/export", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 500 and api.get_json()["error"]["code"] == "internal_error"


def test_static_files_and_page_headers(web, user_token):
    page = web.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp and "http" not in csp
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["X-Frame-Options"] == "DENY"
    for name in ("web.css", "web.js", "icon-32.png"):
        with web.get(f"/assets/{name}") as response:
            assert response.status_code == 200
    # no remote code: every script, style sheet and icon comes from this site
    for tag in re.findall(r"<(?:script|link)\b[^>]*>", page.get_data(as_text=True)):
        assert re.search(r'(?:src|href)="/assets/', tag), tag


@pytest.mark.parametrize(
    ("paper", "first"),
    [
        ({"id": "seed:x", "url": "https://journal.example/a"}, "https://journal.example/a"),
        ({"id": "arxiv:2401.00001"}, "https://arxiv.org/abs/2401.00001"),
        ({"id": "arxiv:hep-th/9901001"}, "https://arxiv.org/abs/hep-th/9901001"),
        ({"id": "doi:10.1000/x y"}, "https://doi.org/10.1000/x%20y"),
        ({"id": "openreview:AbC-1"}, "https://openreview.net/forum?id=AbC-1"),
        ({"id": "acl:2023.acl-long.1"}, "https://aclanthology.org/2023.acl-long.1/"),
        ({"id": "url:https://lab.example/p?id=3"}, "https://lab.example/p?id=3"),
        ({"id": "seed:p1", "doi": "10.5/j"}, "https://doi.org/10.5/j"),
        ({"id": "seed:p1", "doi": "10.5/j", "arxiv_id": "2401.7"}, "https://arxiv.org/abs/2401.7"),
        ({"id": "doi:10.5/k", "arxiv_id": "2401.7"}, "https://doi.org/10.5/k"),
        (
            {"id": "seed:p1", "title": "Graph & co"},
            "https://www.semanticscholar.org/search?q=Graph+%26+co",
        ),
        (
            {"id": "seed:p1", "url": "javascript:alert(1)", "title": "T"},
            "https://www.semanticscholar.org/search?q=T",
        ),
    ],
)
def test_every_paper_title_is_a_link(paper, first):
    assert title_link(paper) == first == paper_links(paper)[0][1]  # the page's first link
    assert all(href.startswith("https://") for _, href in paper_links(paper))


def test_a_reader_sees_and_changes_only_their_own_marks(app, client, web, alice, user_token):
    web.post_form("/", "/marks", {"type": "save", "paper_id": "seed:p3"})
    bob = WebClient(app.test_client())
    bob.sign_in(user_token("erin"))
    page = bob.get("/papers/seed:p3").get_data(as_text=True).split("</article>")[0]
    assert 'value="save" aria-pressed="false"' in page  # alice's save is not erin's
    before = api_events(client, alice)
    bob.post_form("/", "/marks", {"type": "unsave", "paper_id": "seed:p3"})
    assert api_events(client, alice) == before
    assert 'value="unsave" aria-pressed="true"' in web.get("/papers/seed:p3").get_data(as_text=True)


@pytest.mark.parametrize(
    "paper_id",
    ["arxiv:2401.00001", "doi:10.1000/a b?c#d%e", "url:https://x.org/p?q=1&r=é", "acl:P19-1001"],
)
@pytest.mark.parametrize("args", [{}, {"from": "new"}])
def test_paper_page_links_are_what_url_for_builds(app, paper_id, args):
    from flask import url_for

    from server.web.paper_links import paper_page

    with app.test_request_context("/", base_url="http://example.org/prefix"):
        assert paper_page(paper_id, **args) == url_for("web.paper", paper_id=paper_id, **args)


def test_links_follow_the_prefix_the_app_is_mounted_under(client, web, alice):
    """Links that never change are remembered, but per mount point: the same app answering
    under ``/np`` and at ``/`` links each page to its own."""
    web.get("/")  # the bar's links remembered at /
    mounted = web.get("/settings", base_url="http://localhost/np").get_data(as_text=True)
    assert 'href="/np/saved"' in mounted and 'href="/np/assets/web.css"' in mounted
    assert 'action="/np/settings"' in mounted
    plain = web.get("/settings").get_data(as_text=True)
    assert 'href="/saved"' in plain and "/np/" not in plain
