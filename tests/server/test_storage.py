"""Storage under concurrency: writers from several processes wait their turn, never fail."""

from __future__ import annotations

import threading
import time

from server import storage
from server.db import connect, open_database


def test_a_read_then_write_waits_for_another_writer_instead_of_failing(tmp_path):
    path = tmp_path / "nextpaper.db"
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


def test_a_failed_write_transaction_leaves_nothing_behind(tmp_path):
    db = open_database(tmp_path / "nextpaper.db")
    try:
        with storage.write_transaction(db):
            storage.upsert_papers(db, [{"paper_id": "seed:a", "title": "A"}])
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert storage.count_papers(db) == 0
    assert not db.conn.in_transaction
    db.close()


def test_the_catalog_version_moves_on_every_paper_change_from_any_connection(tmp_path):
    path = tmp_path / "nextpaper.db"
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
