"""Data safety: ``nextpaper backup`` while a client posts, restoring that backup, and refusing to
open a database migrated by a newer NextPaper."""

from __future__ import annotations

import http.client
import json
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from server import create_app
from server.store.db import SchemaTooNew, open_database
from tests.conftest import run_cli

from .support import event, make_tokens, request, wait_for


def _count(db_path: Path, user_id: str | None = None) -> int:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        if user_id is None:
            return conn.execute("SELECT count(*) FROM events").fetchone()[0]
        return conn.execute("SELECT count(*) FROM events WHERE user_id = ?", [user_id]).fetchone()[
            0
        ]
    finally:
        conn.close()


@pytest.mark.slow
def test_backup_while_serving_and_restore(live_server, tmp_path):
    home = live_server.home
    [token] = make_tokens(home, "alice")
    server = live_server("--no-retrain")
    acked: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def writer() -> None:
        k = 0
        while not stop.is_set():
            batch = [event(f"b{k}-{j}", {"id": f"seed:b{(k * 7 + j) % 30}"}) for j in range(10)]
            k += 1
            try:
                status, _, body = request(
                    server.port, "POST", "/api/v1/events", token=token, body={"events": batch}
                )
            except (OSError, http.client.HTTPException) as error:
                failures.append(repr(error))
                continue
            if status != 200:
                failures.append(f"{status} {body[:200]!r}")
            else:
                acked.extend(e["id"] for e in batch)

    thread = threading.Thread(target=writer)
    thread.start()
    backup = tmp_path / "backups" / "nextpaper-backup.db"
    backup.parent.mkdir()
    try:
        wait_for(lambda: len(acked) >= 200, timeout=60, what="events before the backup")
        before = len(acked)
        result = run_cli(home, "backup", str(backup))
        during = len(acked)
        wait_for(lambda: len(acked) >= during + 100, timeout=60, what="events after the backup")
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures[:3]  # the backup never made a write fail
    assert result.returncode == 0 and str(backup) in result.stdout
    assert not list(backup.parent.glob("*.partial"))

    # The backup is a consistent snapshot taken during the run.
    conn = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        backed_up = {
            r[0] for r in conn.execute("SELECT event_id FROM events WHERE user_id='alice'")
        }
    finally:
        conn.close()
    assert before <= len(backed_up) <= len(acked)
    assert backed_up <= set(acked)
    assert set(acked[:before]) <= backed_up  # everything acknowledged before it started

    # An existing file is never overwritten without --force.
    again = run_cli(home, "backup", str(backup), check=False)
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "--force" in again.stderr

    # Restore: stop the server, put the backup in place, drop the WAL files, start again.
    server.stop()
    db_path = home / "nextpaper.db"
    assert _count(db_path, "alice") == len(set(acked)) > len(backed_up)
    shutil.copyfile(backup, db_path)
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    restored = live_server("--no-retrain")
    restored_ids: set[str] = set()
    while True:  # page through the history: there may be more than one page
        path = f"/api/v1/history?limit=1000&offset={len(restored_ids)}"
        status, _, body = request(restored.port, "GET", path, token=token)
        assert status == 200  # the token (its hash) came back with the data
        history = json.loads(body)
        restored_ids |= {e["id"] for e in history["events"]}
        if not history["events"]:
            break
    assert history["total"] == len(backed_up)
    assert restored_ids == backed_up
    # Clients resend what the restore lost; nothing is doubled.
    lost = [event(i, {"id": "seed:b1"}) for i in acked if i not in backed_up]
    for start in range(0, len(lost), 1000):
        status, _, body = request(
            restored.port,
            "POST",
            "/api/v1/events",
            token=token,
            body={"events": lost[start : start + 1000]},
        )
        assert status == 200
    assert _count(db_path, "alice") == len(set(acked))


def test_backup_force_overwrites_atomically(tmp_path):
    home = tmp_path / "home"
    make_tokens(home, "alice")
    target = tmp_path / "b.db"
    target.write_bytes(b"old")
    result = run_cli(home, "backup", "--force", str(target))
    assert result.returncode == 0
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("SELECT user_id FROM users").fetchall() == [("alice",)]
    finally:
        conn.close()


def test_backup_to_a_missing_folder_is_a_one_line_error(tmp_path):
    home = tmp_path / "home"
    make_tokens(home, "alice")
    result = run_cli(home, "backup", str(tmp_path / "no" / "such" / "b.db"), check=False)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- a database from a newer NextPaper --------------------------------------------------------


@pytest.fixture
def newer_home(tmp_path):
    home = tmp_path / "newer"
    make_tokens(home, "alice")
    conn = sqlite3.connect(home / "nextpaper.db")
    with conn:
        conn.execute(
            "INSERT INTO _sqlite_migrations (migration_set, name, applied_at) "
            "VALUES ('nextpaper', '9999_from_the_future', '2030-01-01 00:00:00+00:00')"
        )
    conn.close()
    return home


def _snapshot(home: Path):
    conn = sqlite3.connect(f"file:{home / 'nextpaper.db'}?mode=ro", uri=True)
    try:
        return (
            conn.execute("SELECT * FROM users ORDER BY user_id").fetchall(),
            conn.execute("SELECT * FROM _sqlite_migrations ORDER BY id").fetchall(),
            conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall(),
        )
    finally:
        conn.close()


@pytest.mark.parametrize(
    "args",
    [
        ("users", "add", "bob"),
        ("users", "revoke", "alice"),
        ("init",),
        ("train",),
        ("recommend", "alice"),
        ("backup", "BACKUP"),
    ],
    ids=lambda a: " ".join(a),
)
def test_commands_refuse_a_newer_schema(newer_home, tmp_path, args):
    before = _snapshot(newer_home)
    args = tuple(str(tmp_path / "b.db") if a == "BACKUP" else a for a in args)
    result = run_cli(newer_home, *args, check=False)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "9999_from_the_future" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert _snapshot(newer_home) == before  # nothing was migrated, added or changed
    assert not (tmp_path / "b.db").exists()


def test_serve_refuses_a_newer_schema_with_a_one_line_error(newer_home):
    result = run_cli(newer_home, "serve", "--port", "0", "--no-retrain", check=False, timeout=60)
    assert result.returncode == 2, result.stderr[-500:]
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-500:]


def test_serve_does_not_start_on_a_newer_schema(newer_home):
    """Whatever the exit status, the server must not come up on a schema it does not know."""
    result = run_cli(newer_home, "serve", "--port", "0", "--no-retrain", check=False, timeout=60)
    assert result.returncode != 0
    assert "9999_from_the_future" in result.stderr


def test_create_app_refuses_a_newer_schema(newer_home):
    before = _snapshot(newer_home)
    with pytest.raises(SchemaTooNew, match="9999_from_the_future"):
        create_app({"HOME": str(newer_home), "TESTING": True})
    with pytest.raises(SchemaTooNew):
        open_database(newer_home / "nextpaper.db")
    assert _snapshot(newer_home) == before
