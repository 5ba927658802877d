"""Schema migrations: from an empty file, idempotent, and refusing a newer database; the
per-thread connections the server keeps."""

from __future__ import annotations

import threading

import pytest

from server.store.db import Connections, SchemaTooNew, open_database


def test_migrates_an_empty_database(tmp_path):
    db = open_database(tmp_path / "new.db")
    assert {"users", "tokens", "papers", "events"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    again = open_database(tmp_path / "new.db")  # second run applies nothing and keeps data
    applied = again.execute("SELECT name FROM _sqlite_migrations").fetchall()
    assert [row[0] for row in applied] == [
        "0001_initial",
        "0002_wal",
        "0003_history_index",
        "0004_catalog_version",
        "0005_leaner_paper_inserts",
        "0006_erasures",
        "0007_arxiv_sync",
        "0008_digests",
        "0009_web_sessions",
    ]
    again.close()


def test_refuses_a_database_from_a_newer_release(tmp_path):
    db = open_database(tmp_path / "new.db")
    db["_sqlite_migrations"].insert(
        {"migration_set": "nextpaper", "name": "9999_future", "applied_at": "2099-01-01"}
    )
    db.close()
    with pytest.raises(SchemaTooNew, match="9999_future"):
        open_database(tmp_path / "new.db")


def test_connections_are_kept_per_thread_and_released_clean(tmp_path):
    path = tmp_path / "nextpaper.db"
    open_database(path).close()
    connections = Connections(path)
    db = connections.get()
    assert connections.get() is db  # the same thread gets its connection back
    other = []
    thread = threading.Thread(target=lambda: other.append(connections.get()))
    thread.start()
    thread.join()
    assert other[0] is not db
    # a request that failed inside a transaction leaves none behind for the next one
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO users (user_id, is_admin, created_at) VALUES ('x', 0, 'now')")
    connections.release(db)
    assert not db.conn.in_transaction
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    db.execute("BEGIN IMMEDIATE")  # and a new write can start at once
    db.execute("ROLLBACK")
