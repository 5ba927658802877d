"""Schema migrations: from an empty file, idempotent, and refusing a newer database."""

from __future__ import annotations

import pytest

from server.db import SchemaTooNew, open_database


def test_migrates_an_empty_database(tmp_path):
    db = open_database(tmp_path / "new.db")
    assert {"users", "tokens", "papers", "events"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    again = open_database(tmp_path / "new.db")  # second run applies nothing and keeps data
    applied = again.execute("SELECT name FROM _sqlite_migrations").fetchall()
    assert [row[0] for row in applied] == ["0001_initial", "0002_wal", "0003_history_index"]
    again.close()


def test_refuses_a_database_from_a_newer_release(tmp_path):
    db = open_database(tmp_path / "new.db")
    db["_sqlite_migrations"].insert(
        {"migration_set": "nextpaper", "name": "9999_future", "applied_at": "2099-01-01"}
    )
    db.close()
    with pytest.raises(SchemaTooNew, match="9999_future"):
        open_database(tmp_path / "new.db")
