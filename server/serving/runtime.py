"""How the serving process uses memory and threads.

The heap: few malloc arenas, and free pages handed back to the system. glibc gives each new
thread an arena of its own (up to eight per core) and keeps the memory freed in each for its
next allocations. A request allocates and frees megabytes of numpy arrays, so with eight
waitress threads each arena settled at the largest request it had served.
:func:`limit_arenas` makes the threads share two arenas, and :class:`Trimmer` hands whole free
pages back every ten seconds, which glibc by itself does only for free memory at the top of an
arena.

Where the C library is not glibc both do nothing.

Its model and threads: :func:`settle_heap` keeps a newly loaded model out of later garbage
collections, and :func:`limit_blas_threads` gives each request thread a single BLAS thread.
"""

from __future__ import annotations

import ctypes
import gc
import threading

M_ARENA_MAX = -8  # mallopt's parameter number in glibc's <malloc.h>
# Two, not one: SQLite allocates outside the interpreter lock (the event writer's inserts) while
# request threads allocate inside it. With one, batched ingest ran at 17.6k and 19.7k events/s
# against 19.6k-19.9k; with two, 19.1k and 19.8k.
ARENAS = 2
TRIM_SECONDS = 10.0


def _glibc() -> ctypes.CDLL | None:
    libc = ctypes.CDLL(None)  # the symbols the process has loaded, its C library's among them
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def supported() -> bool:
    """Whether the allocator is glibc's, which this module tunes."""
    return _LIBC is not None


def limit_arenas(count: int = ARENAS) -> bool:
    """Let threads share at most ``count`` arenas (a thread takes its arena at its first
    allocation, so call this before starting any); True if applied."""
    return bool(_LIBC is not None and _LIBC.mallopt(M_ARENA_MAX, count))


def trim() -> bool:
    """Hand the heap's whole free pages back to the system; True if any were."""
    return bool(_LIBC is not None and _LIBC.malloc_trim(0))


class Trimmer(threading.Thread):
    """Calls :func:`trim` every ``seconds`` until stopped (a call takes a few ms at large
    scale, during which other threads' allocations wait)."""

    def __init__(self, seconds: float = TRIM_SECONDS):
        super().__init__(name="heap-trim", daemon=True)
        self.seconds = seconds
        self.trims = 0
        self._stopping = threading.Event()

    def run(self) -> None:
        while not self._stopping.wait(self.seconds):
            trim()
            self.trims += 1

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=5)


def settle_heap() -> None:
    """Collect once, then keep everything now in memory out of later garbage collections.

    A full collection walks every container object, with the GIL held: with a large model
    loaded (its paper list and index, the vocabulary) that takes tens of milliseconds, and the
    requests' allocations bring one every few thousand requests, so it showed in the p99 of
    every route. Called after a model is loaded: the collection frees what the previous one
    left (models hold no reference cycles, so dropping one frees it anyway), and ``gc.freeze``
    moves the survivors, the new model among them, where later collections do not look.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def limit_blas_threads() -> None:
    """One BLAS thread per request thread: under concurrent requests more threads only contend.

    Must run after ``implicit`` is imported, since it loads its own OpenBLAS.
    """
    import faiss
    import implicit  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    faiss.omp_set_num_threads(1)
