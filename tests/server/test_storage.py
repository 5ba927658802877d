"""Storage on SQLite and on PostgreSQL: writers from several processes wait their turn and
never fail, multi-row writes, arrivals, the catalog's version."""

from __future__ import annotations

import threading
import time

import pytest

from server.store import storage
from server.store.db import connect, database_errors, open_database

pytestmark = pytest.mark.both_backends


def test_a_read_then_write_waits_for_another_writer_instead_of_failing(database):
    path = database
    open_database(path).close()
    holder, writer = connect(path), connect(path)
    storage.create_user(writer, "early")  # the writer has read the database before
    held = threading.Event()

    def hold_the_write_lock():
        with storage.write_transaction(holder):
            storage.upsert_papers(holder, [{"paper_id": "seed:a", "title": "A"}])
            held.set()
            time.sleep(0.5)

    thread = threading.Thread(target=hold_the_write_lock)
    thread.start()
    held.wait(5)
    started = time.monotonic()
    storage.create_user(writer, "late")  # reads, then writes: must wait, not raise "locked"
    waited = time.monotonic() - started
    thread.join()
    assert storage.get_user(writer, "late") is not None
    assert waited > 0.2
    holder.close()
    writer.close()


def test_a_failed_write_transaction_leaves_nothing_behind(database):
    db = open_database(database)
    try:
        with storage.write_transaction(db):
            storage.upsert_papers(db, [{"paper_id": "seed:a", "title": "A"}])
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert storage.count_papers(db) == 0
    assert not db.conn.in_transaction
    db.close()


def test_the_catalog_version_moves_on_every_paper_change_from_any_connection(database):
    path = database
    reader, other = open_database(path), connect(path)
    versions = [storage.catalog_version(reader)]

    def moved() -> bool:
        versions.append(storage.catalog_version(reader))
        return versions[-1] != versions[-2]

    storage.upsert_papers(other, [{"paper_id": "seed:a", "title": "A"}])
    assert moved()  # a new paper
    storage.upsert_papers(other, [{"paper_id": "seed:a", "title": "A"}])
    assert not moved()  # the same record again changes no row
    storage.upsert_papers(other, [{"paper_id": "seed:a", "abstract": "Longer text"}])
    assert moved()  # richer metadata
    storage.create_user(other, "alice")
    opened = {"event_id": "e1", "type": "open", "ts": "2026-11-20T10:00:00Z", "dwell_ms": None}
    storage.record_events(
        other, "alice", [{**opened, "paper_id": "seed:b"}], [{"paper_id": "seed:b", "title": "B"}]
    )
    assert moved()  # a paper first seen in an event
    with storage.write_transaction(other):
        other.execute("DELETE FROM papers WHERE paper_id = 'seed:a'")
    assert moved()  # a paper removed
    assert versions == sorted(versions)  # it only grows: an old key never comes back
    reader.close()
    other.close()


def test_the_catalog_version_moves_when_a_removed_papers_row_id_is_given_again(database):
    db = open_database(database)
    storage.upsert_papers(db, [{"paper_id": "seed:a"}, {"paper_id": "seed:b"}])
    versions = [storage.catalog_version(db)]
    with storage.write_transaction(db):
        db.execute("DELETE FROM papers WHERE paper_id = 'seed:b'")
    versions.append(storage.catalog_version(db))
    storage.upsert_papers(db, [{"paper_id": "seed:c"}])  # takes the row id seed:b had
    versions.append(storage.catalog_version(db))
    assert versions == sorted(set(versions))  # three distinct values, growing
    db.close()


def test_papers_are_found_by_date_through_the_index_of_their_kind(database, backend):
    """Dated papers are indexed by ``published`` and undated ones by ``first_seen`` only; a
    paper that gains a date moves from one to the other, and both queries use the indexes."""
    db = open_database(database)
    storage.upsert_papers(
        db,
        [
            {"paper_id": "seed:new", "published": "2025-06-01"},
            {"paper_id": "seed:old", "published": "2019-01-01"},
            {"paper_id": "seed:undated"},
            {"paper_id": "seed:dated-later"},
        ],
    )
    assert set(storage.newest_papers(db, 10, since="2024-01-01")) == {
        "seed:new",
        "seed:undated",
        "seed:dated-later",
    }
    storage.upsert_papers(db, [{"paper_id": "seed:dated-later", "published": "2019-05-01"}])
    if backend != "sqlite":  # the query plans below are SQLite's
        assert storage.newest_papers(db, 10, since="2024-01-01") == ["seed:new", "seed:undated"]
        assert storage.newest_papers(db, 10)[:3] == ["seed:new", "seed:dated-later", "seed:old"]
        db.close()
        return
    statements: list[str] = []
    db.conn.set_trace_callback(statements.append)
    assert storage.newest_papers(db, 10, since="2024-01-01") == ["seed:new", "seed:undated"]
    assert storage.newest_papers(db, 10)[:3] == ["seed:new", "seed:dated-later", "seed:old"]
    db.conn.set_trace_callback(None)
    plans = [
        " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
        for sql in statements
        if sql.startswith("SELECT")
    ]
    assert plans and all("USING" in plan and "INDEX papers_" in plan for plan in plans), plans
    assert any("papers_published" in p for p in plans)
    assert any("papers_first_seen" in p for p in plans)
    db.close()


def event(event_id: str, paper_id: str = "seed:a") -> dict:
    return {
        "event_id": event_id,
        "type": "open",
        "ts": "2026-11-20T10:00:00.000000Z",
        "paper_id": paper_id,
        "dwell_ms": None,
    }


def test_rows_written_several_statements_at_a_time_are_what_row_by_row_writes(
    database, monkeypatch
):
    """Multi-row statements (3 rows each here) store and count what one row at a time did:
    a repeated event id is ignored, and a paper named twice merges as two upserts in turn."""
    monkeypatch.setattr(storage, "MAX_ROWS_PER_STATEMENT", 3)
    db = open_database(database)
    storage.create_user(db, "alice")
    papers = [
        {"paper_id": "seed:a", "title": "A"},
        {"paper_id": "seed:b", "title": "B"},
        {"paper_id": "seed:a", "abstract": "A longer abstract."},
        {"paper_id": "seed:a", "title": ""},  # richer fields are never replaced by poorer
    ]
    ids = ["e1", "e2", "e1", "e3", "e4", "e2", "e5"]  # two repeats, spread over the chunks
    new = storage.record_events(db, "alice", [event(i) for i in ids], papers)
    assert new == 5
    assert storage.record_events(db, "alice", [event(i) for i in ids], []) == 0
    stored = [e["id"] for e in storage.list_events(db, "alice", limit=10, offset=0)]
    assert sorted(stored) == ["e1", "e2", "e3", "e4", "e5"]
    a = storage.get_paper(db, "seed:a")
    assert (a["title"], a["abstract"]) == ("A", "A longer abstract.")
    assert storage.count_papers(db) == 2
    db.close()


def test_events_written_inside_a_transaction_fail_alone_and_leave_nothing(database, monkeypatch):
    """A batch that fails in its last statement leaves none of its events, and the
    transaction's other writes stay (on SQLite without a savepoint when there are no paper
    rows; PostgreSQL needs one)."""
    monkeypatch.setattr(storage, "MAX_ROWS_PER_STATEMENT", 2)
    db = open_database(database)
    storage.create_user(db, "alice")
    storage.upsert_papers(db, [{"paper_id": "seed:a", "title": "A"}])
    with storage.write_transaction(db):
        assert storage.record_event_rows(db, "alice", [storage.event_row(event("ok"))], []) == 1
        bad = [storage.event_row(event(f"b{i}")) for i in range(4)]
        bad.append(storage.event_row(event("b4", paper_id="seed:missing")))  # foreign key fails
        with pytest.raises(database_errors()):
            storage.record_event_rows(db, "alice", bad, [])
        with pytest.raises(database_errors()):  # one statement: undone by SQLite itself
            storage.record_event_rows(db, "alice", bad[-1:], [])
    assert [e["id"] for e in storage.list_events(db, "alice", limit=10, offset=0)] == ["ok"]
    db.close()


def test_the_server_and_the_recommender_know_the_same_event_types():
    from recommender.interactions import EVENT_TYPES

    assert storage.EVENT_TYPES == EVENT_TYPES


def test_arrivals_by_day_count_what_had_arrived_by_each_days_end(database, monkeypatch):
    """Read from rowids at the days' boundaries: a day without arrivals adds nothing, and an
    event deleted since still counts as recorded on its day."""
    db = open_database(database)
    storage.create_user(db, "ada")

    def arrive(moment: str, ids: list[str]) -> None:
        monkeypatch.setattr(storage, "now_iso", lambda: moment)
        storage.upsert_papers(db, [{"paper_id": f"seed:{i}"} for i in ids])
        storage.record_events(db, "ada", [event(i, f"seed:{i}") for i in ids], [])

    arrive("2026-03-01T23:59:59.000000Z", ["a", "b"])
    arrive("2026-03-03T00:00:00.000000Z", ["c", "d", "e"])
    arrive("2026-03-04T12:00:00.000000Z", ["f"])
    assert storage.delete_event(db, "ada", "d")
    days = ["2026-02-28", "2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    assert storage.arrivals_by_day(db, "events", days) == [0, 2, 2, 5, 6]
    assert storage.arrivals_by_day(db, "papers", days) == [0, 2, 2, 5, 6]
    assert storage.arrivals_by_day(db, "events", ["2026-03-05"]) == [6]
    db.close()


def test_a_users_events_since_a_moment_are_theirs_alone_oldest_first(database):
    db = open_database(database)
    for name in ("ada", "bob"):
        storage.create_user(db, name)
    storage.upsert_papers(db, [{"paper_id": "seed:a"}])
    made = [
        ("ada", "1", "2026-05-02T10:00:00.000000Z"),
        ("ada", "2", "2026-04-30T10:00:00.000000Z"),
        ("ada", "3", "2026-05-01T09:00:00.000000Z"),
        ("bob", "4", "2026-05-03T10:00:00.000000Z"),
    ]
    for user, event_id, ts in made:
        storage.record_events(db, user, [{**event(event_id), "ts": ts}], [])
    assert storage.user_events_since(db, "ada", "2026-05-01") == [
        ("2026-05-01T09:00:00.000000Z", "open", "seed:a", None),
        ("2026-05-02T10:00:00.000000Z", "open", "seed:a", None),
    ]
    db.close()


def test_recent_readings_leave_out_a_library_imports_saves(database):
    db = open_database(database)
    for name in ("ada", "bob"):
        storage.create_user(db, name)
    storage.upsert_papers(db, [{"paper_id": "seed:a"}, {"paper_id": "seed:b"}])
    made = [
        ("ada", "opened", "open", "seed:a"),
        ("ada", storage.IMPORTED_EVENT_PREFIX + "seed:b", "save", "seed:b"),
        ("bob", "saved", "save", "seed:b"),
        ("bob", "gone", "dismiss", "seed:a"),
    ]
    for user, event_id, kind, paper_id in made:
        row = {**event(event_id, paper_id), "type": kind, "ts": "2026-05-02T10:00:00.000000Z"}
        storage.record_events(db, user, [row], [])
    readings = storage.recent_readings(db, from_seq=1, since="2026-05-01")
    assert sorted((paper, user) for paper, user, _ in readings) == [
        ("seed:a", "ada"),
        ("seed:b", "bob"),
    ]
    db.close()


def test_papers_read_with_chosen_fields_have_those_alone(database):
    db = open_database(database)
    paper = {"paper_id": "seed:a", "title": "T", "abstract": "A", "doi": "10.1/x"}
    storage.upsert_papers(db, [paper, {"paper_id": "seed:b"}])
    found = storage.get_papers(db, ["seed:a", "seed:b", "seed:gone"], storage.TITLE_FIELDS)
    assert found == {
        "seed:a": {"id": "seed:a", "title": "T", "doi": "10.1/x"},
        "seed:b": {"id": "seed:b", "title": ""},
    }
    assert storage.get_papers(db, ["seed:a"])["seed:a"]["abstract"] == "A"
    db.close()
