"""``server.serving.recount.Recounted``, the kept counts behind the popular and trending lists:
counted once, served while fresh, recounted in the background once stale (with its own
connection), a failed recount logged while the kept value goes on serving, and at most
``keys`` keys kept."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from server.serving.recount import Recounted
from server.store.db import open_database


@pytest.fixture
def database(tmp_path):
    db = open_database(tmp_path / "nextpaper.db")
    yield db
    db.close()


class Counter:
    """A count function that says how often, with which connection and key it ran."""

    def __init__(self, fail_from: int | None = None) -> None:
        self.calls: list[tuple[int, object]] = []  # (thread id, key)
        self.fail_from = fail_from
        self.done = threading.Event()

    def __call__(self, db, key):
        self.calls.append((threading.get_ident(), key))
        self.done.set()
        if self.fail_from is not None and len(self.calls) >= self.fail_from:
            raise RuntimeError("the database went away")
        return f"{key} #{len(self.calls)}"


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_fresh_count_is_kept_and_served(database):
    count = Counter()
    kept = Recounted(count, what="test", floor=60.0)
    assert kept.get(database, "a") == "a #1"
    assert kept.get(database, "a") == "a #1"
    assert [key for _, key in count.calls] == ["a"]
    assert kept.generation == 1


def test_a_stale_count_is_served_while_a_thread_recounts_it(database):
    count = Counter()
    kept = Recounted(count, what="test", floor=0.0)
    assert kept.get(database, "a") == "a #1"
    time.sleep(0.01)
    assert kept.get(database, "a") == "a #1"  # stale: still served, recounted behind it
    wait_until(lambda: kept.generation == 2)
    assert kept.get(database, "a") == "a #2"
    (first, _), (second, _) = count.calls[:2]
    assert first == threading.get_ident() and second != first


def test_a_failed_recount_is_logged_and_the_next_request_tries_again(database, caplog):
    count = Counter(fail_from=2)
    kept = Recounted(count, what="the test list", floor=0.0)
    assert kept.get(database, "a") == "a #1"
    time.sleep(0.01)
    with caplog.at_level(logging.ERROR, logger="server.serving.recount"):
        assert kept.get(database, "a") == "a #1"
        wait_until(lambda: "recounting the test list failed" in caplog.text)
    wait_until(lambda: not kept._counts["a"].recounting)
    assert kept.get(database, "a") == "a #1"  # served on, and a new recount started
    wait_until(lambda: len(count.calls) == 3)


def test_at_most_keys_counts_are_kept_the_oldest_dropped_first(database):
    count = Counter()
    kept = Recounted(count, what="test", floor=60.0, keys=2)
    for key in ("a", "b", "c"):
        kept.get(database, key)
    assert kept.get(database, "c") == "c #3"
    assert kept.get(database, "b") == "b #2"
    assert kept.get(database, "a") == "a #4"  # dropped when c came, counted again
    assert [key for _, key in count.calls] == ["a", "b", "c", "a"]
