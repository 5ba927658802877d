"""When the server retrains on its own: a first model from the catalog's text before any event,
sooner while the deployment is young, after an erased history, and at most every
``RETRAIN_EVENTS`` once it is large."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.jobs.training import (
    RetrainScheduler,
    Trainer,
    add_papers_and_publish,
    train_and_publish,
)
from server.model_versions import ModelStore
from server.serving.holder import load_model
from server.store import storage
from server.store.db import open_database
from tests.conftest import synthetic_papers


@pytest.fixture
def home(tmp_path):
    db = open_database(tmp_path / "nextpaper.db")
    storage.upsert_papers(db, [{**p, "paper_id": p["id"]} for p in synthetic_papers(40)])
    yield tmp_path, db
    db.close()


def scheduler(tmp_path: Path, every_events: int = 1000) -> RetrainScheduler:
    store = ModelStore(tmp_path / "models")
    sched = RetrainScheduler(
        tmp_path / "nextpaper.db",
        store,
        Trainer(tmp_path),
        every_events=every_events,
        every_minutes=60,
    )
    sched.MIN_SPACING_SECONDS = 0.0  # the tests train in well under a second
    sched.SPACING_PER_FIT = 0.0
    return sched


def opens(db, user, papers, start=0):
    storage.import_events(
        db,
        [
            {
                "user_id": user,
                "event_id": f"{user}-{start + i}",
                "type": "open",
                "ts": "2026-12-01T10:00:00Z",
                "paper_id": paper,
                "dwell_ms": None,
            }
            for i, paper in enumerate(papers)
        ],
    )


def test_a_catalog_without_a_model_gets_a_text_model_that_answers(home):
    tmp_path, db = home
    sched = scheduler(tmp_path)
    assert sched.due(db) == "no model yet"
    facts = train_and_publish(db, sched.store)
    assert facts["users"] == 0 and sched.due(db) is None
    from server.serving.service import Serving

    opens(db, "alice", ["seed:p3"])
    answer = Serving(tmp_path / "models").recommendations(db, "alice", n=5)
    assert answer["model_version"] == facts["version"]
    assert answer["items"][0]["reasons"][0]["type"] == "similar_text"


def test_a_young_deployment_retrains_after_a_few_events(home):
    tmp_path, db = home
    sched = scheduler(tmp_path)
    train_and_publish(db, sched.store)
    opens(db, "alice", [f"seed:p{i}" for i in range(4)])
    assert sched.due(db) is None  # four events
    opens(db, "alice", ["seed:p9"], start=4)
    assert sched.due(db) == "5 new events"


def test_a_large_deployment_keeps_to_its_events_budget(home):
    tmp_path, db = home
    sched = scheduler(tmp_path, every_events=30)
    opens(db, "bob", [f"seed:p{i % 40}" for i in range(400)])
    train_and_publish(db, sched.store)
    opens(db, "bob", [f"seed:p{i}" for i in range(29)], start=400)
    assert sched.due(db) is None  # 29 < min(30, 10% of 400)
    opens(db, "bob", ["seed:p1"], start=429)
    assert sched.due(db) == "30 new events"


def test_adding_papers_answers_with_the_release_it_published(home):
    """What an addition of papers returns is the release it published, its publication time
    included, not the facts of the version it started from (a training published long ago)."""
    tmp_path, db = home
    store = ModelStore(tmp_path / "models")
    opens(db, "alice", ["seed:p1", "seed:p2"])
    trained = train_and_publish(db, store)
    path = store.folder(trained["version"]) / "release.json"
    path.write_text(
        json.dumps(
            {**store.release(trained["version"]), "published_at": "2026-01-01T00:00:00+00:00"}
        )
    )
    storage.upsert_papers(db, [{**p, "paper_id": p["id"]} for p in synthetic_papers(42)[40:]])
    added = add_papers_and_publish(db, store)
    assert added["added"] == 2
    assert added == {**store.release(added["version"]), "added": 2}
    assert added["published_at"] != "2026-01-01T00:00:00+00:00"


def test_new_papers_join_the_model_without_a_retrain(home):
    tmp_path, db = home
    sched = scheduler(tmp_path)
    opens(db, "alice", ["seed:p1", "seed:p2"])
    trained = train_and_publish(db, sched.store)
    more = [
        {**p, "id": f"new:{i}", "paper_id": f"new:{i}", "published": "2026-12-06"}
        for i, p in enumerate(synthetic_papers(4))
    ]
    storage.upsert_papers(db, more)
    assert sched.due(db) is None and sched.papers_to_add(db) == 4
    sched.MIN_SPACING_SECONDS = 3600.0  # papers are added at most once per spacing
    assert sched.papers_to_add(db) == 0
    sched.MIN_SPACING_SECONDS = 0.0
    added = add_papers_and_publish(db, sched.store)
    assert added["added"] == 4 and added["version"] != trained["version"]
    assert sched.papers_to_add(db) == 0 and sched.due(db) is None
    release = sched.store.release(added["version"])
    # what the retrain rules measure from is the training's, not the addition's
    before = sched.store.release(trained["version"])
    for fact in ("trained_at", "last_event_seq", "erasures", "users", "fit_seconds"):
        assert release[fact] == before[fact]
    assert release["papers"] == 44 and release["added_papers"] == 4
    # the new papers are in the served answers, found by their date
    from server.serving.service import Serving

    answer = Serving(tmp_path / "models").recommendations(db, "alice", n=10, since="2026-12-01")
    assert answer["model_version"] == added["version"]
    assert {item["paper"]["id"] for item in answer["items"]} == {p["id"] for p in more}
    # nothing new: nothing published
    assert add_papers_and_publish(db, sched.store) == {**added, "added": 0}
    # events still retrain as before
    opens(db, "alice", [f"seed:p{i}" for i in range(3, 8)], start=2)
    assert sched.due(db) == "5 new events"


def test_a_shrunken_catalog_retrains(home):
    tmp_path, db = home
    sched = scheduler(tmp_path)
    train_and_publish(db, sched.store)
    db.execute("DELETE FROM papers WHERE paper_id = 'seed:p39'")
    assert sched.due(db) == "-1 papers"


def test_an_erased_history_retrains_at_once(home):
    tmp_path, db = home
    sched = scheduler(tmp_path)
    opens(db, "alice", ["seed:p1"])
    train_and_publish(db, sched.store)
    sched.MIN_SPACING_SECONDS = 3600.0  # even a model that just started serving
    assert sched.due(db) is None
    storage.delete_history(db, "nobody")  # nothing erased: nothing to forget
    assert sched.due(db) is None
    storage.delete_history(db, "alice")
    assert sched.due(db) == "a history was erased"
    train_and_publish(db, sched.store)
    assert sched.due(db) is None


def test_a_model_this_version_cannot_load_is_replaced(home):
    tmp_path, db = home
    sched = scheduler(tmp_path)
    version = train_and_publish(db, sched.store)["version"]
    manifest = sched.store.folder(version) / "manifest.json"
    old = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**old, "format_version": 1}))
    assert sched.due(db) == "the current model's format is not this version's"


def test_run_waits_for_the_run_that_answers_it_even_behind_one_in_progress(home):
    """The daily job adds the day's papers through the server's trainer: behind a training in
    progress it is queued, and run() returns once that queued run, not the first, is done."""
    path, db = home
    trainer = Trainer(path)
    trainer.start()  # a full training, in progress
    assert trainer.running()
    storage.upsert_papers(db, [{"paper_id": "seed:late", "title": "Routing experts late"}])
    last = trainer.run(new_papers=True)
    assert last is not None and last["ok"], last
    assert trainer.status()["state"] == "idle" and not trainer.status()["queued"]
    store = ModelStore(path / "models")
    assert "seed:late" in load_model(store.folder(store.current_version())).paper_index
