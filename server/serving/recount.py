"""Lists counted from the events, kept, and recounted in the background once stale.

Owns the one mechanism behind the popular list (:mod:`server.serving.popular`) and the trending
lists (:mod:`server.serving.trending`): counting scans many events, so a count is kept. The
first request for a key counts (one at a time); later ones get the kept value while a thread
with its own connection recounts it, once it is older than twenty times the last count took
(within ``floor`` and :data:`MAX_AGE` seconds). A failed recount is logged and the kept value
goes on serving; the next request tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

import sqlite_utils

from ..store import storage

log = logging.getLogger(__name__)

MAX_AGE = 300.0  # seconds a count is served before it is recounted, at most

V = TypeVar("V")


@dataclass
class _Count(Generic[V]):
    value: V
    expires: float
    recounting: bool = False


class Recounted(Generic[V]):
    """Values of ``count(db, key)``, kept for at most ``keys`` keys (the least recently counted
    dropped first). ``generation`` moves with every count, so that whatever is computed from a
    value (a kept response body) can name the value it used."""

    def __init__(
        self,
        count: Callable[[sqlite_utils.Database, Hashable], V],
        *,
        what: str,
        floor: float,
        keys: int = 1,
    ) -> None:
        self._count_of = count
        self.what = what  # for the log
        self.floor = floor
        self.keys = keys
        self._lock = threading.Lock()  # one first count at a time
        self._keep_lock = threading.Lock()
        self._counts: dict[Hashable, _Count[V]] = {}
        self.generation = 0

    def get(self, db: sqlite_utils.Database, key: Hashable = None) -> V:
        """The kept value of ``key``, counted first if there is none; a stale one starts a
        recount in the background and is served meanwhile."""
        kept = self._counts.get(key)
        if kept is None:
            with self._lock:
                kept = self._counts.get(key)
                if kept is None:
                    kept = self._count(db, key)
        elif time.monotonic() >= kept.expires and not kept.recounting:
            kept.recounting = True
            path = storage.database_path(db)
            threading.Thread(target=self._recount, args=(path, key), daemon=True).start()
        return kept.value

    def _count(self, db: sqlite_utils.Database, key: Hashable) -> _Count[V]:
        started = time.monotonic()
        value = self._count_of(db, key)
        took = time.monotonic() - started
        kept = _Count(value, time.monotonic() + min(MAX_AGE, max(self.floor, 20 * took)))
        with self._keep_lock:
            self._counts.pop(key, None)  # re-inserted last: the oldest count is dropped first
            self._counts[key] = kept
            while len(self._counts) > self.keys:
                self._counts.pop(next(iter(self._counts)))
            self.generation += 1
        return kept

    def _recount(self, path: str, key: Hashable) -> None:
        from ..store.db import connect

        try:
            db = connect(path)
            try:
                self._count(db, key)
            finally:
                db.close()
        except Exception:  # the kept value goes on serving; the next request tries again
            log.exception("recounting %s failed", self.what)
            kept = self._counts.get(key)
            if kept is not None:
                kept.recounting = False
