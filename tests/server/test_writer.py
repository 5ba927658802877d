"""Group commit: concurrent batches through one writer are all stored, once, and answered."""

from __future__ import annotations

import threading
import time

import pytest

from server.store import storage
from server.store.db import open_database
from server.store.writer import IDLE_SECONDS, EventWriter


def events_for(thread: int, count: int) -> tuple[list[tuple], list[tuple]]:
    """Event and paper rows, as the API hands them to the writer."""
    events = [
        {
            "event_id": f"t{thread}-{i}",
            "type": "open",
            "ts": "2026-11-20T10:00:00.000000Z",
            "paper_id": f"seed:p{i}",
            "dwell_ms": None,
        }
        for i in range(count)
    ]
    papers = [{"paper_id": f"seed:p{i}", "title": f"Paper {i}"} for i in range(count)]
    return rows(events, papers)


def rows(events: list[dict], papers: list[dict]) -> tuple[list[tuple], list[tuple]]:
    return [storage.event_row(e) for e in events], [storage.paper_row(p) for p in papers]


def test_concurrent_batches_are_all_stored_once(tmp_path):
    path = tmp_path / "nextpaper.db"
    db = open_database(path)
    for user in ("alice", "bob"):
        storage.create_user(db, user)
    writer = EventWriter(path)
    answers: dict[tuple[str, int], int] = {}

    def post(user: str, thread: int) -> None:
        events, papers = events_for(thread, 50)
        answers[(user, thread)] = writer.record(user, events, papers)
        answers[(user, thread, "again")] = writer.record(user, events, papers)

    threads = [
        threading.Thread(target=post, args=(user, t)) for user in ("alice", "bob") for t in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(v for k, v in answers.items() if len(k) == 2) == [50] * 8
    assert sorted(v for k, v in answers.items() if len(k) == 3) == [0] * 8
    assert storage.count_events(db) == 400
    assert storage.count_papers(db) == 50
    db.close()


@pytest.mark.parametrize("with_papers", [True, False], ids=["with-papers", "events-only"])
def test_a_failing_batch_fails_alone(tmp_path, with_papers):
    """Events only (their papers already stored) take no savepoint, and still fail alone."""
    path = tmp_path / "nextpaper.db"
    db = open_database(path)
    storage.create_user(db, "alice")
    writer = EventWriter(path)
    good_events, good_papers = events_for(0, 3)
    bad_events, bad_papers = events_for(1, 3)
    if not with_papers:
        storage.upsert_papers(
            db, [{"paper_id": f"seed:p{i}", "title": f"Paper {i}"} for i in range(3)]
        )
        good_papers = bad_papers = []
    errors: list[BaseException] = []
    results: list[int] = []

    def bad() -> None:
        try:
            writer.record("nobody", bad_events, bad_papers)  # no such user: foreign key fails
        except Exception as error:
            errors.append(error)

    def good() -> None:
        results.append(writer.record("alice", good_events, good_papers))

    threads = [threading.Thread(target=f) for f in (bad, good, bad, good)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 2
    assert sorted(results) == [0, 3]
    assert storage.count_events(db) == 3
    assert storage.count_events(db, "nobody") == 0
    db.close()


def test_the_log_is_copied_back_off_the_write_path(tmp_path):
    """The checkpoint thread copies the writer's log into the database file soon after: below
    SQLite's own 1,000-page threshold, and with this test's connection still open, nothing
    else would (the file keeps its size while the new pages sit only in the log)."""
    path = tmp_path / "nextpaper.db"
    db = open_database(path)
    storage.create_user(db, "alice")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    writer = EventWriter(path)
    for t in range(3):
        assert writer.record("alice", *events_for(t, 200)) == 200
    deadline = time.monotonic() + IDLE_SECONDS - 1  # before the idle writer closes and copies
    while path.stat().st_size == size:
        assert time.monotonic() < deadline, "the log was never copied back"
        time.sleep(0.1)
    assert db.execute("SELECT count(*) FROM events").fetchone()[0] == 600
    db.close()


def _job(user: str, events: list[dict], papers: list[dict]):
    from server.store.writer import _Job

    return _Job(user, *rows(events, papers))


def test_a_paper_record_is_written_again_after_another_connection_changed_it(tmp_path):
    """The writer skips a paper record it stored last time, but not once another connection
    committed: the record's title wins again, as it would without the skip."""
    from server.store.db import connect
    from server.store.writer import _KnownPapers

    path = tmp_path / "nextpaper.db"
    db = open_database(path)
    storage.create_user(db, "alice")
    writer_db = connect(path)
    known = _KnownPapers()
    paper = {"paper_id": "seed:p0", "title": "From the page"}

    def post(n: int) -> None:
        events = [
            {
                "event_id": f"e{n}",
                "type": "open",
                "ts": "2026-11-20T10:00:00.000000Z",
                "paper_id": "seed:p0",
                "dwell_ms": None,
            }
        ]
        job = _job("alice", events, [dict(paper)])
        EventWriter._write(writer_db, [job], known)
        assert job.error is None and job.accepted == 1

    post(0)
    post(1)  # skipped: the same record as last time
    storage.upsert_papers(db, [{"paper_id": "seed:p0", "title": "From an import"}])
    post(2)
    assert storage.get_paper(db, "seed:p0")["title"] == "From the page"
    assert storage.count_events(db, "alice") == 3
    writer_db.close()
    db.close()


def test_papers_of_a_failed_batch_are_not_taken_as_stored(tmp_path):
    """A batch rolled back to its savepoint stored no paper: a later batch in the same commit
    that names the same paper still writes it (or its event would point nowhere)."""
    from server.store.db import connect
    from server.store.writer import _Job, _KnownPapers

    path = tmp_path / "nextpaper.db"
    db = open_database(path)
    storage.create_user(db, "alice")
    writer_db = connect(path)
    known = _KnownPapers()
    events, papers = events_for(0, 3)
    bad = _Job("nobody", events, papers)  # no such user: foreign key fails
    good = _Job("alice", [("g" + e[0], *e[1:]) for e in events], papers)
    again = _Job("alice", [("a" + e[0], *e[1:]) for e in events], papers)
    EventWriter._write(writer_db, [bad, good, again], known)
    assert bad.error is not None
    assert (good.error, good.accepted, again.error, again.accepted) == (None, 3, None, 3)
    assert storage.count_papers(db) == 3
    assert storage.count_events(db, "alice") == 6
    writer_db.close()
    db.close()


def test_a_long_record_is_not_remembered_and_replaces_what_was():
    """Records with long text (an abstract) are not kept in memory; one written after a short
    record of the same paper makes the writer forget the short one, which may no longer
    describe what is stored."""
    from server.store.writer import MAX_KNOWN_CHARS, _KnownPapers

    known = _KnownPapers()
    short = storage.paper_row({"paper_id": "seed:p0", "title": "Short"})
    long = storage.paper_row(
        {"paper_id": "seed:p0", "title": "Long", "abstract": "x" * MAX_KNOWN_CHARS}
    )
    known.remember({"seed:p0": short})
    assert known.unseen([tuple(list(short))], {}) == ([], {})
    known.remember({"seed:p0": long})
    assert known.unseen([tuple(list(short))], {}) == ([short], {"seed:p0": short})
    assert known.unseen([tuple(list(long))], {}) == ([long], {"seed:p0": long})


def test_the_writer_remembers_at_most_its_limit_of_records_forgetting_the_oldest(monkeypatch):
    from server.store import writer
    from server.store.writer import _KnownPapers

    monkeypatch.setattr(writer, "MAX_KNOWN_PAPERS", 3)
    known = _KnownPapers()
    rows = {f"seed:p{i}": storage.paper_row({"paper_id": f"seed:p{i}"}) for i in range(5)}

    def remembered() -> set[str]:
        return {pid for pid, row in rows.items() if not known.unseen([row], {})[0]}

    for i in range(3):
        known.remember({f"seed:p{i}": rows[f"seed:p{i}"]})
    known.remember({"seed:p0": rows["seed:p0"]})  # stored again: now the newest
    known.remember({"seed:p3": rows["seed:p3"]})
    assert remembered() == {"seed:p2", "seed:p0", "seed:p3"}  # p1 was the oldest
    known.remember({"seed:p4": rows["seed:p4"]})
    assert remembered() == {"seed:p0", "seed:p3", "seed:p4"}
