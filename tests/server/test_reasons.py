"""Reasons through the API, on the shared seed catalog: each names the reader's own action,
claims other readers only when two or more contributed, and carries the sentence clients
show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.jobs.training import add_papers_and_publish, train_and_publish
from server.model_versions import ModelStore
from server.serving.reasons import sentence
from server.store import storage
from tests.server.test_api import event, post

SEED = Path(__file__).parents[2] / ".." / "shared" / "data" / "seed-papers.jsonl"

NEW_PAPER = {
    "id": "arxiv:2612.00001",
    "url": "https://arxiv.org/abs/2612.00001",
    "title": "Routing tokens to experts: load-balanced mixture-of-experts serving",
    "abstract": "Mixture-of-experts (MoE) language models route each token to a few experts. "
    "We balance expert load across GPUs when serving MoE LLMs, cutting expert all-to-all "
    "traffic and latency.",
}


@pytest.fixture
def seeded(db, app):
    """The seed catalog, and the text model the server builds over it before any event."""
    if not SEED.is_file():
        pytest.skip(f"shared seed catalog not found at {SEED}")
    papers = [json.loads(line) for line in SEED.read_text(encoding="utf-8").splitlines()]
    storage.upsert_papers(db, [{**paper, "paper_id": paper["id"]} for paper in papers])
    train_and_publish(db, ModelStore(app.config["MODELS"]))
    return papers


def claims_others(reason):
    return "readers" in reason or reason["type"] in ("similar_readers", "popular")


def recommendations(client, headers, n=10):
    response = client.get(f"/api/v1/recommendations?n={n}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_one_open_of_a_new_paper_leads_the_next_answer_and_is_cited(client, make_user, seeded):
    alice = make_user("alice")
    post(client, alice, [event("a1", NEW_PAPER)])
    items = recommendations(client, alice)
    assert items
    lead = items[0]
    assert "expert" in (lead["paper"]["title"] + lead["paper"]["abstract"]).lower()
    (reason,) = lead["reasons"]
    assert reason == {
        "type": "similar_text",
        "paper_id": NEW_PAPER["id"],
        "action": "opened",
        "title": NEW_PAPER["title"],
        "text": f"Close in subject to “{NEW_PAPER['title']}”, which you opened",
    }
    for item in items:  # alone on this server: nobody else is ever claimed
        assert not any(claims_others(r) for r in item["reasons"]), item
        assert all(r["text"] for r in item["reasons"])


def test_the_action_named_is_the_one_that_holds(client, make_user, seeded):
    alice = make_user("alice")
    post(client, alice, [event("a1", NEW_PAPER), event("a2", NEW_PAPER, "save")])
    cited = [r for item in recommendations(client, alice) for r in item["reasons"]]
    assert {r.get("action") for r in cited if r.get("paper_id")} == {"saved"}
    post(client, alice, [event("a3", NEW_PAPER, "unsave")])
    cited = [r for item in recommendations(client, alice) for r in item["reasons"]]
    assert {r.get("action") for r in cited if r.get("paper_id")} == {"opened"}


def test_after_deleting_a_history_former_reads_are_not_called_popular(
    client, make_user, db, app, seeded
):
    alice = make_user("alice")
    read = [paper["id"] for paper in seeded[:5]]
    post(client, alice, [event(f"a{i}", {"id": p}) for i, p in enumerate(read)])
    train_and_publish(db, ModelStore(app.config["MODELS"]))
    assert client.delete("/api/v1/history", headers=alice).status_code == 200
    items = recommendations(client, alice, n=20)
    assert len(items) == 20
    for item in items:
        assert not any(claims_others(r) for r in item["reasons"]), item


def test_popular_counts_only_other_readers(client, make_user, db, app, seeded):
    ids = [paper["id"] for paper in seeded[:3]]
    users = [make_user(f"u{i}") for i in range(3)]
    for i, headers in enumerate(users):  # ids[0] read by all three, ids[1] by u0 and u1
        post(client, headers, [event(f"e{i}-{j}", {"id": ids[j]}) for j in range(2 - i // 2)])
    train_and_publish(db, ModelStore(app.config["MODELS"]))
    newcomer = make_user("newcomer")
    popular = {
        item["paper"]["id"]: r["readers"]
        for item in recommendations(client, newcomer, n=20)
        for r in item["reasons"]
        if r["type"] == "popular"
    }
    assert popular == {ids[0]: 3, ids[1]: 2}
    # u0 read both: their own reading is not counted back to them, and they see neither
    for item in recommendations(client, users[0], n=20):
        assert item["paper"]["id"] not in ids[:2]
        for r in item["reasons"]:
            assert r["type"] != "popular" or r["readers"] >= 2


@pytest.mark.parametrize(
    ("reason", "related", "text"),
    [
        (
            {
                "type": "because_you_read",
                "paper_id": "a",
                "title": "T",
                "action": "liked",
                "readers": 3,
            },
            False,
            "You liked “T”; 3 other readers who read it also read this",
        ),
        (
            {
                "type": "because_you_read",
                "paper_id": "a",
                "title": "T",
                "action": "opened",
                "readers": 4,
                "via_paper_id": "b",
                "via_title": "V",
            },
            False,
            "You opened “T”; 4 other readers who read it also read “V”, close in subject to this",
        ),
        (
            {"type": "because_you_read", "paper_id": "a", "title": "T", "action": "read"},
            False,
            "Related to “T”, which you read",
        ),
        (
            {"type": "similar_text", "paper_id": "a", "title": "", "action": "saved"},
            False,
            "Close in subject to “a”, which you saved",
        ),
        (
            {"type": "similar_text", "terms": ["protein"]},
            False,
            "Shares “protein” with your reading",
        ),
        (
            {"type": "similar_text", "terms": ["a", "b", "c"]},
            True,
            "Shares “a”, “b” and “c” with this paper",
        ),
        (
            {"type": "similar_readers", "readers": 4},
            False,
            "Read by 4 other readers whose reading overlaps yours",
        ),
        (
            {"type": "similar_readers", "readers": 2},
            True,
            "2 other readers who read this paper also read it",
        ),
        ({"type": "popular", "readers": 5}, False, "Read by 5 other readers here"),
        ({"type": "fresh"}, False, "New in the catalog"),
        ({"type": "related"}, True, "Related to this paper"),
        ({"type": "for_you"}, False, "Picked from your reading"),
    ],
)
def test_each_reason_type_has_its_sentence(reason, related, text):
    assert sentence(reason, related=related) == text


def test_a_new_paper_is_recommended_through_what_readers_of_your_reading_read(
    client, make_user, db, app, seeded
):
    """Three readers read a paper on air mobility with one on cell segmentation; a new paper
    on cell segmentation, unread, reaches a reader of the air-mobility paper through them."""
    store = ModelStore(app.config["MODELS"])
    flying = seeded[0]
    cells = next(p for p in seeded if "Cell Instance" in p["title"])
    for i in range(3):
        post(
            client,
            make_user(f"u{i}"),
            [event(f"u{i}-{j}", {"id": p["id"]}) for j, p in enumerate((flying, cells))],
        )
    train_and_publish(db, store)
    today = storage.now_iso()[:10]
    new = {
        "paper_id": "arxiv:2612.09999",
        "title": f"Revisiting {cells['title']}",
        "abstract": cells["abstract"],
        "published": today,
    }
    storage.upsert_papers(db, [new])
    assert add_papers_and_publish(db, store)["added"] == 1
    reader = make_user("reader")
    post(client, reader, [event("r1", {"id": flying["id"]})])
    items = client.get("/api/v1/new?days=1&n=5", headers=reader).get_json()["items"]
    # second only to the paper those readers read with it
    assert [item["paper"]["id"] for item in items[:2]] == [cells["id"], new["paper_id"]]
    assert items[1]["reasons"] == [
        {
            "type": "because_you_read",
            "paper_id": flying["id"],
            "title": flying["title"],
            "action": "opened",
            "readers": 3,
            "via_paper_id": cells["id"],
            "via_title": cells["title"],
            "text": f"You opened “{flying['title']}”; 3 other readers who read it also read "
            f"“{cells['title']}”, close in subject to this",
        }
    ]
