"""The home's background duties run in one process at a time (server/jobs/duties.py).

On PostgreSQL the duty lock is an advisory lock held by a connection of its own. When that
connection ends while its process lives on (the database restarted, the network failed), the
lock is gone and another server takes it: the first must stop its duties then, or both would
run them, and take them up again once it holds the lock anew. Real PostgreSQL, real threads.
"""

from __future__ import annotations

import logging
import time

import pytest

from server import create_app
from server.jobs.duties import DUTY_LOCK, HomeDuties
from server.store.db import connect

RETRY = 0.05


def wait_for(condition, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def servers(tmp_path, postgres_url):
    """Two processes' duties on one PostgreSQL database (two apps, each with a home of its
    own), not started."""
    made = []

    def make(name: str) -> HomeDuties:
        app = create_app(
            {"HOME": str(tmp_path / name), "TESTING": True, "DATABASE_URL": postgres_url}
        )
        duties = HomeDuties(app, retrain=False, retry_seconds=RETRY)
        made.append((app, duties))
        return duties

    yield make
    for app, duties in made:
        duties.stop()
        app.extensions["nextpaper"].connections.close()


def end_lock_connection(postgres_url: str) -> int:
    """Terminate the connection that holds the duty lock, as a database restart would end it;
    how many were ended."""
    admin = connect(postgres_url)
    try:
        return sum(
            bool(row[0])
            for row in admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                " AND classid = 0 AND objid = ? AND objsubid = 1 AND granted",
                [DUTY_LOCK],
            ).fetchall()
        )
    finally:
        admin.close()


def test_a_holder_whose_lock_connection_ends_stops_its_duties_until_it_holds_the_lock_again(
    servers, postgres_url, caplog
):
    caplog.set_level(logging.INFO, logger="server.jobs.duties")
    first = servers("a")
    first.start()
    wait_for(lambda: first.holding, "the first process to take the duties")
    second = servers("b")
    second.start()
    time.sleep(20 * RETRY)
    assert not second.holding  # one process at a time

    assert end_lock_connection(postgres_url) == 1
    wait_for(lambda: second.holding, "the second process to take the duties over")
    wait_for(lambda: not first.holding, "the first process to stop its duties")
    assert "lost the duty lock" in caplog.text
    time.sleep(20 * RETRY)
    assert second.holding and not first.holding  # the first tries, and the lock is taken

    second.stop()  # the second server ends: the first takes the duties up again
    wait_for(lambda: first.holding, "the first process to take the duties up again")
    started = caplog.text.count("runs the retrains and the daily job")
    assert started == 3  # first, second, first again
