"""``GET /api/v1/trending`` and ``GET /api/v1/new`` through the test client, on a real SQLite
home: distinct readers other than the caller, the TRENDING_MIN_READERS floor, decay by age,
the window, and new papers ranked for a reader with a history and for one without."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest

from server import create_app
from server.http import auth
from server.jobs.training import train_and_publish
from server.model_versions import ModelStore
from server.store import storage
from server.store.db import open_database
from tests.conftest import synthetic_papers


def ago(**delta) -> str:
    return (datetime.now(UTC) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def read(client, headers, *paper_ids: str, ts: str | None = None, type_: str = "open"):
    events = [
        {
            "id": f"{type_}-{paper_id}-{ts}",
            "type": type_,
            "ts": ts or ago(minutes=5),
            "paper": {"id": paper_id},
        }
        for paper_id in paper_ids
    ]
    response = client.post("/api/v1/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["rejected"] == []


def catalog(db, count: int = 30, published: str | None = None) -> list[str]:
    published = published or date.today().isoformat()
    papers = [{"paper_id": p.pop("id"), **p} for p in synthetic_papers(count, published=published)]
    storage.upsert_papers(db, papers)
    return [p["paper_id"] for p in papers]


def trending(client, headers, query: str = "") -> list[tuple[str, int]]:
    response = client.get(f"/api/v1/trending{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    for item in body["items"]:
        (reason,) = item["reasons"]
        assert reason["type"] == "popular" and reason["days"] >= 1
        assert reason["text"].startswith(f"Read by {reason['readers']} other readers here")
    return [(item["paper"]["id"], item["reasons"][0]["readers"]) for item in body["items"]]


def test_trending_counts_distinct_other_readers_from_two_on(client, make_user, db):
    ids = catalog(db)
    alice, bob, carol, dave = (make_user(name) for name in ("alice", "bob", "carol", "dave"))
    read(client, alice, ids[0], ids[1], ids[2])
    read(client, alice, ids[0], type_="read")  # a second event of one reader is one reader
    read(client, bob, ids[0], ids[1])
    read(client, carol, ids[0])
    read(client, carol, ids[3], type_="dismiss")  # not reading
    read(client, dave, ids[3], type_="dismiss")
    # ids[2] has one reader: listing it would point at alice
    assert trending(client, make_user("eve")) == [(ids[0], 3), (ids[1], 2)]
    # a reader never sees what they read, so the readers counted for them are other people:
    # carol sees ids[1] (alice, bob); ids[0]'s readers include her, and it is hers already
    assert trending(client, carol) == [(ids[1], 2)]
    # for bob, ids[2] has one other reader (alice): not listed
    assert trending(client, bob) == []


def test_a_library_import_is_not_reading_of_the_window(client, make_user):
    alice, bob, carol = (make_user(name) for name in ("alice", "bob", "carol"))
    for reader in (alice, bob):  # two libraries without dates: their saves are dated today
        response = client.post(
            "/api/v1/library",
            data={"file": (io.BytesIO(b"2401.00001\n2401.00002\n"), "papers.txt")},
            headers=reader,
            content_type="multipart/form-data",
        )
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["imported"] == 2
    assert trending(client, carol) == []
    read(client, alice, "arxiv:2401.00002")  # reading in the window counts, library or not
    read(client, bob, "arxiv:2401.00002", type_="save")
    # (another window: the 7 days' count is kept for a while)
    assert trending(client, carol, "?days=3") == [("arxiv:2401.00002", 2)]


def test_trending_min_readers_is_a_setting_but_never_below_two(home, tmp_path):
    for setting, expected in ((3, ["seed:p0"]), (1, ["seed:p0", "seed:p1"])):
        app = create_app(
            {
                "HOME": str(tmp_path / f"home-{setting}"),
                "TESTING": True,
                "MODEL_CHECK_SECONDS": 0,
                "TRENDING_MIN_READERS": setting,
            }
        )
        client = app.test_client()
        db = open_database(app.config["DATABASE"])
        ids = catalog(db)
        headers = {}
        for name in ("alice", "bob", "carol", "eve"):
            storage.create_user(db, name)
            headers[name] = {"Authorization": f"Bearer {auth.issue_token(db, name)}"}
        read(client, headers["alice"], ids[0], ids[1], ids[2])
        read(client, headers["bob"], ids[0], ids[1])
        read(client, headers["carol"], ids[0])
        assert [p for p, _ in trending(client, headers["eve"])] == expected
        db.close()


def test_trending_decays_by_age_and_keeps_to_the_window(client, make_user, db):
    ids = catalog(db)
    readers = [make_user(f"r{i}") for i in range(4)]
    for headers in readers[:3]:  # three readers of ids[0], six days ago
        read(client, headers, ids[0], ts=ago(days=6))
    for headers in readers[:2]:  # two readers of ids[1], today
        read(client, headers, ids[1])
    for headers in readers:  # four readers of ids[2], ten days ago: outside a 7-day window
        read(client, headers, ids[2], ts=ago(days=10))
    newcomer = make_user("newcomer")
    # over 7 days (half-life 3.5 days), 3 readers of 6 days ago count 0.9, 2 of today 2
    assert trending(client, newcomer) == [(ids[1], 2), (ids[0], 3)]
    # over 30 days the half-life is 15 days: 4 readers of 10 days ago count 2.5, 3 of 6 days
    # ago 2.3, 2 of today 2
    assert trending(client, newcomer, "?days=30") == [(ids[2], 4), (ids[0], 3), (ids[1], 2)]
    assert trending(client, newcomer, "?days=1") == [(ids[1], 2)]
    assert trending(client, newcomer, "?days=30&n=1") == [(ids[2], 4)]


def test_trending_forgets_an_erased_history(client, make_user, db):
    ids = catalog(db)
    alice, bob = make_user("alice"), make_user("bob")
    read(client, alice, ids[0])
    read(client, bob, ids[0])
    eve = make_user("eve")
    assert trending(client, eve) == [(ids[0], 2)]
    assert client.delete("/api/v1/history", headers=bob).status_code == 200
    assert trending(client, eve, "?days=8") == []  # a window not counted before


@pytest.mark.parametrize("route", ["/api/v1/trending", "/api/v1/new"])
@pytest.mark.parametrize("query", ["days=0", "days=366", "days=x", "n=0", "n=101"])
def test_days_and_n_are_checked(client, make_user, route, query):
    response = client.get(f"{route}?{query}", headers=make_user("alice"))
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_parameter"


def test_new_for_a_reader_without_history_is_trending_then_fresh(client, make_user, db):
    old = catalog(db, 12, published="2020-01-01")
    new = [p["paper_id"] for p in _papers(db, 12, date.today().isoformat(), prefix="n")]
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    read(client, alice, new[3], new[5], old[0])
    read(client, bob, new[3], new[5], old[0])
    read(client, carol, new[5], old[0])
    response = client.get("/api/v1/new?days=1&n=6", headers=make_user("newcomer"))
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert len(items) == 6
    kinds = [(item["paper"]["id"], item["reasons"][0]["type"]) for item in items]
    # the most read new papers first (old[0], read most, is not new), the newest in between
    assert kinds[0] == (new[5], "popular")
    assert (new[3], "popular") in kinds
    assert {kind for _, kind in kinds} == {"popular", "fresh"}
    assert all(item["paper"]["id"] in new for item in items)
    assert items[0]["reasons"][0]["readers"] == 3 and items[0]["reasons"][0]["days"] == 7


def test_new_for_a_reader_with_history_is_their_ranking_among_new_papers(
    client, make_user, db, app
):
    old = catalog(db, 24, published="2020-01-01")
    new = [p["paper_id"] for p in _papers(db, 24, date.today().isoformat(), prefix="n")]
    readers = [make_user(f"r{i}") for i in range(4)]
    for i, headers in enumerate(readers):  # co-reading across old and new papers
        read(client, headers, old[i % 6], old[6 + i % 6], new[i % 6], new[6 + (i % 6)])
    alice = make_user("alice")
    read(client, alice, old[0], new[0])  # a graph reader (topics repeat every 6 papers)
    train_and_publish(db, ModelStore(app.config["MODELS"]))
    body = client.get("/api/v1/new?days=3&n=10", headers=alice).get_json()
    assert body["model_version"] is not None
    ids = [item["paper"]["id"] for item in body["items"]]
    assert ids and set(ids) <= set(new) - {new[0]}  # only new papers, never a seen one
    personal = {"because_you_read", "similar_text", "similar_readers"}
    top = body["items"][0]
    assert top["reasons"][0]["type"] in personal
    assert top["paper"]["id"] in {new[i] for i in range(0, 24, 6)}  # the graph papers
    # a newcomer's answer over the same papers is not personal
    other = client.get("/api/v1/new?days=3&n=10", headers=make_user("newcomer")).get_json()
    assert {item["reasons"][0]["type"] for item in other["items"]} <= {"popular", "fresh"}


def _papers(db, count: int, published: str, prefix: str) -> list[dict]:
    papers = []
    for paper in synthetic_papers(count, published=published):
        paper["paper_id"] = paper.pop("id").replace("seed:p", f"seed:{prefix}")
        papers.append(paper)
    storage.upsert_papers(db, papers)
    return papers
