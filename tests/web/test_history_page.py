"""The History page: the API's history a page at a time, deleting one event (an erasure the
next retrain honours), deleting all after a confirmation, and the export download."""

from __future__ import annotations

import json
import re

import pytest

from server.jobs import training
from server.store import storage
from tests.web.conftest import WebClient

pytestmark = pytest.mark.both_backends


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def post_events(client, token: str, prefix: str, numbers, event_type: str = "open") -> None:
    events = [
        {
            "id": f"{prefix}-{n}",
            "type": event_type,
            "ts": f"2026-01-02T10:{n % 60:02d}:00Z",
            "paper": {"id": f"seed:p{n}"},
        }
        for n in numbers
    ]
    response = client.post("/api/v1/events", json={"events": events}, headers=bearer(token))
    assert response.get_json()["accepted"] == len(events)


def shown_ids(page) -> list[str]:
    return re.findall(r'<tr data-event-id="([^"]+)">', page.get_data(as_text=True))


@pytest.fixture
def alice(client, web, catalog, user_token):
    token = user_token("alice")
    post_events(client, token, "a", (1, 2, 3))
    web.sign_in(token)
    return token


def api_ids(client, token: str) -> list[str]:
    body = client.get("/api/v1/history?limit=1000", headers=bearer(token)).get_json()
    return [e["id"] for e in body["events"]]


def test_the_history_is_the_apis_newest_first_with_time_type_and_paper(client, web, alice, db):
    web.post_form("/history", "/marks", {"type": "like", "paper_id": "seed:p2"})
    page = web.get("/history")
    assert page.status_code == 200
    assert shown_ids(page) == api_ids(client, alice)
    body = page.get_data(as_text=True)
    assert 'aria-current="page">History</a>' in body and "4 events" in body
    row = body.split('<tr data-event-id="a-1">')[1].split("</tr>")[0]
    assert '<time datetime="2026-01-02T10:01:00.000000Z">2026-01-02 10:01 UTC</time>' in row
    assert "Opened" in row and storage.get_paper(db, "seed:p1")["title"] in row
    assert 'href="/papers/seed:p1"' in row
    assert "Liked" in body.split("<tbody>")[1].split("</tr>")[0]  # the newest first


def test_the_history_is_paginated(client, web, alice):
    post_events(client, alice, "b", range(10, 60))
    first, second = web.get("/history"), web.get("/history?page=2")
    assert len(shown_ids(first)) == 50 and shown_ids(second) == ["a-3", "a-2", "a-1"]
    assert "Page 2 of 2" in second.get_data(as_text=True)
    assert web.get("/history?page=nope").status_code == 400


def test_deleting_one_event_erases_it_for_training_too(app, client, web, alice, db, user_token):
    bob = user_token("bob")
    post_events(client, bob, "a", (1,))  # the same client id, another user's event
    erased = storage.erasures(db)
    kept = app.extensions["nextpaper"].serving.store.root / training.EVENT_LOG
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"the events the last training read")
    response = web.post_form("/history", "/history/delete", {"event_id": "a-2", "page": "1"})
    assert not kept.exists()  # training's own copy of the events is dropped
    assert response.status_code == 303 and response.headers["Location"] == "/history"
    assert api_ids(client, alice) == ["a-3", "a-1"]
    assert storage.erasures(db) == erased + 1  # a retrain is due, and forgets it
    assert "Deleted one event from your history." in web.get("/history").get_data(as_text=True)
    web.post_form("/history", "/history/delete", {"event_id": "a-1"})
    assert api_ids(client, bob) == ["a-1"]  # alice deleted only her own a-1
    again = web.post_form("/history", "/history/delete", {"event_id": "a-1"})
    assert again.status_code == 303
    assert "was not in your history" in web.get("/history").get_data(as_text=True)
    assert storage.erasures(db) == erased + 2


def test_deleting_all_asks_first_then_erases_only_the_readers_history(
    client, web, alice, user_token
):
    bob = user_token("bob")
    post_events(client, bob, "b", (4, 5))
    assert 'href="/history/erase">Delete all…</a>' in web.get("/history").get_data(as_text=True)
    confirm = web.get("/history/erase")
    assert confirm.status_code == 200
    assert "Delete all 3 events" in confirm.get_data(as_text=True)
    assert len(api_ids(client, alice)) == 3  # asking erased nothing
    done = web.post_form("/history/erase", "/history/erase", {})
    assert done.status_code == 303
    page = web.get("/history").get_data(as_text=True)
    assert "Deleted your whole history: 3 events." in page and "Nothing recorded" in page
    assert api_ids(client, alice) == [] and api_ids(client, bob) == ["b-5", "b-4"]


def test_the_export_is_the_apis_export_as_a_download(client, web, alice):
    response = web.get("/history/export")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="nextpaper-export.json"'
    api = client.get("/api/v1/export", headers=bearer(alice))
    assert response.get_data() == api.get_data()
    assert [e["id"] for e in json.loads(response.get_data())["events"]] == ["a-1", "a-2", "a-3"]


def test_another_reader_sees_none_of_the_history(app, web, alice, user_token):
    bob = WebClient(app.test_client())
    bob.sign_in(user_token("bob"))
    assert shown_ids(bob.get("/history")) == []
    assert json.loads(bob.get("/history/export").get_data())["events"] == []
