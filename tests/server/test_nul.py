"""Text with a NUL character, on both databases: refused in what is stored, and in URLs."""

from __future__ import annotations

import pytest

from tests.reliability.support import assert_error

pytestmark = pytest.mark.both_backends


def post(client, headers, **paper):
    event = {"id": "e1", "type": "open", "ts": "2026-11-20T10:00:00Z", "paper": paper}
    return client.post("/api/v1/events", json={"events": [event]}, headers=headers)


@pytest.mark.parametrize(
    "paper",
    [
        {"id": "seed:x", "title": "A\x00B"},
        {"id": "seed:x", "abstract": "\x00"},
        {"id": "seed:x", "authors": ["Ada\x00"]},
        {"id": "seed:x", "categories": ["cs.LG\x00"]},
    ],
)
def test_paper_text_with_a_nul_is_refused_and_nothing_stored(client, make_user, paper):
    headers = make_user("alice")
    error = assert_error(post(client, headers, **paper), 400, "invalid_paper")
    assert "NUL character" in error["message"]
    assert_error(client.get("/api/v1/papers/seed:x", headers=headers), 404)
    assert post(client, headers, id="seed:x", title="AB").get_json()["accepted"] == 1


def test_an_event_id_with_a_nul_is_refused(client, make_user):
    headers = make_user("alice")
    event = {"id": "e\x001", "type": "open", "ts": "2026-11-20T10:00:00Z", "paper": {"id": "s:x"}}
    response = client.post("/api/v1/events", json={"events": [event]}, headers=headers)
    assert "NUL character" in assert_error(response, 400, "invalid_event_id")["message"]


@pytest.mark.parametrize("path", ["/api/v1/papers/seed:x%00", "/api/v1/history?limit=1%00"])
def test_a_url_with_a_nul_is_a_400_in_the_error_shape(client, make_user, path):
    assert_error(client.get(path, headers=make_user("alice")), 400)


def test_a_page_url_with_a_nul_is_an_html_400(client):
    response = client.get("/papers/seed:x%00")
    assert response.status_code == 400 and response.mimetype == "text/html"
