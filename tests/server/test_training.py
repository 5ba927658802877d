"""The events a training reads: the log kept for the next training equals a fresh read."""

from __future__ import annotations

import json

import numpy as np

from recommender import build_interactions
from server.jobs.training import read_events
from server.store import storage
from server.store.db import connect, open_database


def _add(db, user, n, start=0, type_="open"):
    storage.import_events(
        db,
        [
            {
                "user_id": user,
                "event_id": f"{user}-{start + i}",
                "type": type_,
                "ts": "2026-11-20T10:00:00Z",
                "paper_id": f"seed:p{(start + i) % 7}",
                "dwell_ms": 1000 * i if type_ == "read" else None,
            }
            for i in range(n)
        ],
    )


def _read(db, path):
    """(what read_events gives, what a fresh read of every event gives), as matrices."""
    with storage.snapshot(db):
        last = storage.last_event_seq(db)
        kept = read_events(db, path, last).interactions()
        fresh = build_interactions(storage.iter_interactions(db, upto=last))
    return kept, fresh


def _same(a, b):
    assert a.user_ids == b.user_ids and a.paper_ids == b.paper_ids
    assert (a.matrix != b.matrix).nnz == 0 and (a.dismissed != b.dismissed).nnz == 0


def test_the_next_training_reads_only_new_events_and_sees_them_all(tmp_path, monkeypatch):
    open_database(tmp_path / "n.db").close()
    db, path = connect(tmp_path / "n.db"), tmp_path / "events.npz"
    _add(db, "ann", 5)
    _add(db, "bob", 3, type_="read")
    first, _ = _read(db, path)
    assert first.matrix.sum() > 0 and path.is_file()
    _add(db, "ann", 4, start=5)
    _add(db, "cat", 2, type_="dismiss")
    read_rows = []
    original = storage.iter_interactions

    def counting(*args, **kwargs):
        for row in original(*args, **kwargs):
            read_rows.append(row)
            yield row

    monkeypatch.setattr(storage, "iter_interactions", counting)
    kept, fresh = _read(db, path)
    _same(kept, fresh)
    assert len(read_rows) == 6 + 14  # the 6 new events, then the fresh read's 14
    assert kept.user_ids == ["ann", "bob", "cat"]


def test_an_erased_history_makes_the_next_training_read_everything(tmp_path):
    open_database(tmp_path / "n.db").close()
    db, path = connect(tmp_path / "n.db"), tmp_path / "events.npz"
    _add(db, "ann", 5)
    _add(db, "bob", 3)
    _read(db, path)
    storage.delete_history(db, "ann")  # in the middle
    kept, fresh = _read(db, path)
    _same(kept, fresh)
    assert "ann" not in kept.user_ids


def test_erasing_the_newest_events_is_seen_even_when_their_seqs_are_reused(tmp_path):
    open_database(tmp_path / "n.db").close()
    db, path = connect(tmp_path / "n.db"), tmp_path / "events.npz"
    _add(db, "ann", 5)
    _add(db, "bob", 3)  # the newest three events
    _read(db, path)
    last = storage.last_event_seq(db)
    storage.delete_history(db, "bob")
    _add(db, "cat", 3, start=2, type_="like")  # SQLite gives them bob's old numbers
    assert storage.last_event_seq(db) == last
    kept, fresh = _read(db, path)
    _same(kept, fresh)
    assert "bob" not in kept.user_ids and "cat" in kept.user_ids


def test_an_unreadable_log_is_read_again_from_the_database(tmp_path):
    open_database(tmp_path / "n.db").close()
    db, path = connect(tmp_path / "n.db"), tmp_path / "events.npz"
    _add(db, "ann", 5)
    path.write_bytes(b"not a log")
    kept, fresh = _read(db, path)
    _same(kept, fresh)
    assert np.isclose(kept.matrix.sum(), fresh.matrix.sum()) and kept.matrix.nnz == 5


def test_erasing_a_history_drops_what_training_kept_of_it(client, make_user, db, app):
    from server.jobs.training import EVENT_LOG, train_and_publish
    from server.model_versions import ModelStore

    store = ModelStore(app.config["MODELS"])
    alice, bob = make_user("alice"), make_user("bob")
    for user, headers in (("alice", alice), ("bob", bob)):
        events = [
            {
                "id": f"{user}{i}",
                "type": "open",
                "ts": "2026-11-20T10:00:00Z",
                "paper": {"id": f"seed:p{i}", "title": f"Paper {i}"},
            }
            for i in range(6)
        ]
        assert (
            client.post("/api/v1/events", json={"events": events}, headers=headers).status_code
            == 200
        )
    train_and_publish(db, store)
    version = store.current_version()
    kept = store.folder(version) / "user_ids.json"
    assert (store.root / EVENT_LOG).is_file() and "alice" in kept.read_text()

    assert client.delete("/api/v1/history", headers=alice).get_json() == {"deleted": 6}
    assert not (store.root / EVENT_LOG).exists() and not kept.exists()
    assert client.get("/api/v1/recommendations", headers=bob).status_code == 200  # still serves
    train_and_publish(db, store)  # ALS afresh, from what is stored now
    folder = store.folder(store.current_version())
    assert "alice" not in (folder / "user_ids.json").read_text()
    assert json.loads((folder / "manifest.json").read_text())["als_warm_start"] is False
