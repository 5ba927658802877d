"""Compiled loops of the request path: the sparse gathers a recommendation is made of.

An answer walks a few hundred rows of sparse matrices (the history's neighbour rows, the
profile's postings, the blocks its reasons read, the readers of cited papers). Written with
numpy, each walk is a dozen array calls, and an answer paid for about two thousand of them;
compiled with numba, each walk is one call over the entries it touches. Everything here works
on the raw CSR arrays (``indptr``, ``indices``, ``data``), memory-mapped or not, and
releases the GIL, so the server's threads score in parallel.

The functions are compiled on first use and the machine code is kept in numba's cache
(beside this file, or in the user's cache folder when that is not writable; see
:func:`compiled`), so only the first process after an install pays the compilation. (A
candidate's exact text score stays with scipy: that loop is bound by memory, and scipy's is
faster there.) :func:`work_vector` hands each thread its own work vectors (:func:`scratch`,
:func:`slots`, the text model's query).
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

_local = threading.local()


def compiled(function):
    """``function`` compiled by numba (no GIL held), its machine code cached where numba finds
    a writable folder; where it finds none (a read-only install, a home-less service user),
    compiled anew in each process rather than failing to import."""
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(nogil=True)(function)


def work_vector(name: str, n: int, dtype: type, fill: float = 0) -> np.ndarray:
    """This thread's work vector ``name`` of length ``n``, made holding ``fill``: whoever uses
    it leaves it holding ``fill`` again, so no request pays for allocating and clearing one
    over every paper (or term). One per name, length and thread: a request uses the same
    name over papers and over terms."""
    pool = getattr(_local, "pool", None)
    if pool is None:
        pool = _local.pool = {}
    found = pool.get((name, n))
    if found is None:
        found = pool[(name, n)] = np.full(n, fill, dtype)
    return found


def scratch(n: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's zeroed work vectors of length ``n`` (float64 sums, uint8 marks) for
    :func:`add_rows`; :func:`take` leaves them zeroed again."""
    return work_vector("sums", n, np.float64), work_vector("marks", n, np.uint8)


def slots(n: int) -> np.ndarray:
    """This thread's work vector of length ``n`` holding -1, for :func:`block`."""
    return work_vector("slots", n, np.int32, -1)


@compiled
def add_rows(indptr, indices, data, rows, weights, sums, marks):  # pragma: no cover (compiled)
    """Add ``weights @ m[rows]`` into ``sums`` (in the order of ``rows``), marking the
    columns touched in ``marks``: the columns touched, in the order first met. :func:`take`
    reads the sums and zeroes both work vectors again."""
    total = 0
    for i in range(rows.size):
        total += indptr[rows[i] + 1] - indptr[rows[i]]
    touched = np.empty(min(total, sums.size), np.int64)
    t = 0
    for i in range(rows.size):
        r = rows[i]
        w = weights[i]
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            if marks[c] == 0:
                marks[c] = 1
                touched[t] = c
                t += 1
            sums[c] += w * np.float64(data[p])
    return touched[:t]


@compiled
def take(sums, marks, cols):  # pragma: no cover (compiled)
    """The sums at ``cols`` (every column :func:`add_rows` touched), zeroing the work vectors."""
    vals = np.empty(cols.size, np.float64)
    for k in range(cols.size):
        c = cols[k]
        vals[k] = sums[c]
        sums[c] = 0.0
        marks[c] = 0
    return vals


@compiled
def block(indptr, indices, data, rows, cols, slots):  # pragma: no cover (compiled)
    """``m[rows][:, cols]`` as a dense float32 array (``cols`` distinct); ``slots``: a work
    vector over the columns holding -1, left so again."""
    out = np.zeros((rows.size, cols.size), np.float32)
    for k in range(cols.size):
        slots[cols[k]] = k
    for i in range(rows.size):
        r = rows[i]
        for p in range(indptr[r], indptr[r + 1]):
            k = slots[indices[p]]
            if k >= 0:
                out[i, k] = data[p]
    for k in range(cols.size):
        slots[cols[k]] = -1
    return out


@compiled
def common_counts(indptr, indices, a, b):  # pragma: no cover (compiled)
    """For each pair ``(a[i], b[i])`` of rows, how many columns both have (rows' columns
    sorted and distinct)."""
    out = np.zeros(a.size, np.int64)
    for i in range(a.size):
        p, p_end = indptr[a[i]], indptr[a[i] + 1]
        q, q_end = indptr[b[i]], indptr[b[i] + 1]
        n = 0
        while p < p_end and q < q_end:
            x, y = indices[p], indices[q]
            if x == y:
                n += 1
                p += 1
                q += 1
            elif x < y:
                p += 1
            else:
                q += 1
        out[i] = n
    return out
