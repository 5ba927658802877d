"""What the serving side keeps between requests: the model's answers and whole response bodies.

Both are keyed by everything their value was computed from, so a kept value is never stale: a
new event, a deleted history, a changed catalog or a new model version makes a new key.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Answer = list[tuple[str, float, tuple[dict, ...]]]


V = TypeVar("V")


class _Kept(Generic[V]):
    """A thread-safe least-recently-used store of computed values, bounded by their total cost
    (:meth:`cost`; one per value unless a subclass weighs them). A value costing more than the
    whole limit is handed out but not kept."""

    LIMIT = 1024

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[Hashable, V] = OrderedDict()
        self._total = 0

    def cost(self, value: V) -> int:
        return 1

    def clear(self) -> None:
        """Forget every kept value."""
        with self._lock:
            self._kept.clear()
            self._total = 0

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            value = self._kept.get(key)
            if value is not None:
                self._kept.move_to_end(key)
                return value
        value = compute()
        cost = self.cost(value)
        with self._lock:
            if key not in self._kept and cost <= self.LIMIT:
                self._kept[key] = value
                self._total += cost
                while self._total > self.LIMIT:
                    self._total -= self.cost(self._kept.popitem(last=False)[1])
        return value


class ModelAnswers(_Kept[Answer]):
    """The model's answers, kept for the same model version and the same question.

    A recommendation is a function of the model, the user's whole current history, ``n`` and
    the ``since`` date, and the key holds exactly those (the history as a 128-bit digest), so a
    kept answer is never stale: a new event, a deleted history or a retrain makes a new key.
    The side panel asks again on every tab switch, mostly with nothing new in between; those
    requests then skip the model. At most ``LIMIT`` answers are kept.
    """

    LIMIT = 4096


class ResponseBodies(_Kept[bytes]):
    """Finished response bodies, kept for the same question asked of the same data.

    Beyond the model's answer, a body holds stored papers, the titles its reasons name and the
    popular or fresh fill-up, so its key adds what those were read from: the catalog's version
    (moved by every change to a paper row, from any process) and the most-read list's
    generation. A repeated question then costs a history read and two lookups instead of
    reading and encoding a few dozen papers. At most ``LIMIT``
    bytes are kept.
    """

    LIMIT = 16 * 1024 * 1024

    def cost(self, value: bytes) -> int:
        return len(value)


def fingerprint(value: object) -> bytes:
    """A 128-bit fingerprint of a picklable value (a history, the texts an answer read), for
    keys: keeping whole histories would cost megabytes for the heaviest readers."""
    return hashlib.blake2b(pickle.dumps(value, protocol=5), digest_size=16).digest()
