"""Small sparse-matrix helpers: per-row top-k pruning and CSR files.

CSR matrices are stored as three ``.npy`` files (data, indices, indptr) plus the
shape, so that loading can memory-map them instead of decompressing.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from . import kernels

MAX_PADDED_CELLS = 20_000_000  # topk_per_row pads rows to a dense block of at most this size


def topk_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of every row (ties broken by column).

    Parameters
    ----------
    m : csr_matrix, shape (n_rows, n_cols)
    k : int

    Returns
    -------
    csr_matrix, shape (n_rows, n_cols), at most ``k`` entries per row, indices sorted.
    """
    m = sp.csr_matrix(m)
    m.sort_indices()
    lengths = np.diff(m.indptr)
    if lengths.size == 0 or lengths.max() <= k:
        return m
    n_rows = m.shape[0]
    width = int(lengths.max())
    step = max(1, MAX_PADDED_CELLS // width)
    kept_rows, kept_cols, kept_vals = [], [], []
    for start in range(0, n_rows, step):  # padded rows, one vectorised stable sort per chunk
        stop = min(n_rows, start + step)
        lo, hi = int(m.indptr[start]), int(m.indptr[stop])
        lens = lengths[start:stop]
        rows = np.repeat(np.arange(stop - start), lens)
        pos = np.arange(hi - lo) - np.repeat(m.indptr[start:stop] - lo, lens)
        vals = np.full((stop - start, width), -np.inf)
        vals[rows, pos] = m.data[lo:hi]
        cols = np.zeros((stop - start, width), dtype=m.indices.dtype)
        cols[rows, pos] = m.indices[lo:hi]
        order = np.argsort(-vals, axis=1, kind="stable")[:, :k]
        v = np.take_along_axis(vals, order, axis=1)
        keep = np.isfinite(v)
        kept_vals.append(v[keep])
        kept_cols.append(np.take_along_axis(cols, order, axis=1)[keep])
        kept_rows.append((start + np.repeat(np.arange(stop - start), k).reshape(-1, k))[keep])
    out = sp.csr_matrix(
        (
            np.concatenate(kept_vals).astype(m.dtype),
            (np.concatenate(kept_rows), np.concatenate(kept_cols)),
        ),
        shape=m.shape,
    )
    out.sort_indices()
    return out


def block_topk(vals: np.ndarray, cols: np.ndarray, k: int, n_cols: int) -> sp.csr_matrix:
    """Rows given as fixed-width blocks -> CSR of each row's ``k`` largest positive entries.

    Parameters
    ----------
    vals : ndarray of float, shape (n_rows, width)
        Row ``i``'s candidate values; entries <= 0 are empty slots.
    cols : ndarray of int, shape (n_rows, width)
        Their columns (distinct within a row wherever the value is positive).
    k : int
    n_cols : int

    Returns
    -------
    csr_matrix of float32, shape (n_rows, n_cols), indices sorted; ties at the k-th value are
    broken by column, as :func:`topk_per_row` does. A partition finds each row's k-th value;
    only the columns of the entries tied with it are sorted. Works through chunks of at most
    ``MAX_PADDED_CELLS`` cells.
    """
    n_rows, width = vals.shape
    if n_rows == 0:
        return sp.csr_matrix((0, n_cols), dtype=np.float32)
    step = max(1, MAX_PADDED_CELLS // max(width, 1))
    counts, kept_vals, kept_cols = [], [], []
    for start in range(0, n_rows, step):
        v = np.asarray(vals[start : start + step], dtype=np.float32)
        c = cols[start : start + step]
        keep = v > 0
        if width > k:
            kth = np.partition(v, width - k, axis=1)[:, width - k : width - k + 1]
            keep &= v >= kth
            over = np.flatnonzero(keep.sum(axis=1) > k)  # ties at the k-th value (> 0)
            if over.size:  # keep the lowest columns among the ties, as many as there is room
                vo, co, kth_o = v[over], c[over], kth[over]
                tied = vo == kth_o
                room = k - np.count_nonzero(vo > kth_o, axis=1)
                tied_cols = np.sort(np.where(tied, co, np.iinfo(co.dtype).max), axis=1)
                last = np.take_along_axis(tied_cols, (room - 1)[:, None], axis=1)
                keep[over] = (vo > kth_o) | (tied & (co <= last))
        counts.append(keep.sum(axis=1))
        kept_vals.append(v[keep])
        kept_cols.append(c[keep])
    indptr = np.concatenate(([0], np.cumsum(np.concatenate(counts))))
    out = sp.csr_matrix(
        (np.concatenate(kept_vals), np.concatenate(kept_cols), indptr), shape=(n_rows, n_cols)
    )
    out.sort_indices()
    return out


def l2_rows(m: sp.spmatrix) -> sp.csr_matrix:
    """Rows scaled to unit L2 norm (zero rows stay zero); float32 CSR, same shape."""
    m = sp.csr_matrix(m, dtype=np.float32)
    sq = np.bincount(
        np.repeat(np.arange(m.shape[0]), np.diff(m.indptr)), weights=m.data**2, minlength=m.shape[0]
    )
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    m.data /= np.repeat(norms, np.diff(m.indptr)).astype(np.float32)
    return m


def dense_topk_rows(x: np.ndarray, k: int) -> sp.csr_matrix:
    """The ``k`` largest positive entries of each row of a dense array, as CSR."""
    n_rows, n_cols = x.shape
    k = min(k, n_cols)
    if k <= 0:
        return sp.csr_matrix(x.shape, dtype=np.float32)
    top = np.argpartition(-x, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(x, top, axis=1)
    keep = vals > 0
    rows = np.repeat(np.arange(n_rows), k).reshape(n_rows, k)
    return sp.csr_matrix((vals[keep].astype(np.float32), (rows[keep], top[keep])), shape=x.shape)


def row_positions(m: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the entries of ``m[rows]`` lie in ``m.data`` / ``m.indices``, row after row, and
    how many each row has: (positions, lengths)."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = np.asarray(m.indptr[rows], dtype=np.int64)
    lens = np.asarray(m.indptr[rows + 1], dtype=np.int64) - starts
    total = int(lens.sum())
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
    return offsets + np.arange(total), lens


def weighted_row_sum(
    m: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray, n_cols: int | None = None
) -> np.ndarray:
    """``weights @ m[rows]`` as a dense vector (:func:`sparse_row_sum` laid out over the
    columns).

    Parameters
    ----------
    m : csr_matrix, shape (n_rows, n_cols)
    rows : ndarray of int, shape (r,)
    weights : ndarray of float, shape (r,)

    Returns
    -------
    ndarray of float32, shape (n_cols,)
    """
    out = np.zeros(m.shape[1] if n_cols is None else n_cols, np.float32)
    cols, sums = sparse_row_sum(m, rows, weights, ordered=False)
    out[cols] = sums
    return out


def largest(values: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest ``values``, ties to the earlier position, in order of
    position: a partition, not a sort (the same as ``np.sort(np.lexsort((positions,
    -values))[:k])``)."""
    if values.size <= k:
        return np.arange(values.size)
    if k <= 0:
        return np.empty(0, np.int64)
    kth = np.partition(values, values.size - k)[values.size - k]
    above = np.flatnonzero(values > kth)
    tied = np.flatnonzero(values == kth)[: k - above.size]
    return np.sort(np.concatenate([above, tied]))


def sorted_lookup(keys: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``x`` is in the sorted ``keys``, by binary search: (positions, found);
    a position where ``found`` is False is only somewhere valid to read."""
    if keys.size == 0:
        return np.zeros(np.shape(x), np.int64), np.zeros(np.shape(x), bool)
    at = np.minimum(np.searchsorted(keys, x), keys.size - 1)
    return at, keys[at] == x


def member(x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin(x, values)`` for integer arrays, by binary search (several times faster on
    the request path's arrays of a few thousand)."""
    return sorted_lookup(np.sort(np.asarray(values)), x)[1]


def unique_ints(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array (``np.unique`` is several times slower on
    the request path's arrays of tens of thousands)."""
    x = np.sort(np.asarray(x, dtype=np.int64))
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size else x


def sparse_row_sum(
    m: sp.csr_matrix, rows: np.ndarray, weights: np.ndarray, ordered: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """``weights @ m[rows]`` as (columns, float64 sums) of the columns it touches: sorted
    columns, or, when not ``ordered``, in the order first met (saves a sort)."""
    sums, marks = kernels.scratch(m.shape[1])
    rows = np.asarray(rows, np.int64)
    weights = np.asarray(weights, np.float64)
    cols = kernels.add_rows(m.indptr, m.indices, m.data, rows, weights, sums, marks)
    if ordered:
        cols = np.sort(cols)  # numpy's sort is several times faster than a compiled one
    return cols, kernels.take(sums, marks, cols)


def dense_block(m: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``m[rows][:, cols]`` as a dense float32 array, shape (len(rows), len(cols)); ``cols``
    must be distinct."""
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    return kernels.block(m.indptr, m.indices, m.data, rows, cols, kernels.slots(m.shape[1]))


def grown(m: sp.csr_matrix, rows: int, cols: int) -> sp.csr_matrix:
    """``m`` widened to ``(rows, cols)`` with empty rows and columns after its own."""
    extra = rows - m.shape[0]
    indptr = np.concatenate([np.asarray(m.indptr), np.full(extra, m.indptr[-1], m.indptr.dtype)])
    return sp.csr_matrix(
        (np.asarray(m.data), np.asarray(m.indices), indptr), shape=(rows, cols), copy=False
    )


def save_csr(prefix: Path, m: sp.csr_matrix) -> None:
    """Write ``m`` as ``<prefix>.data.npy``, ``.indices.npy``, ``.indptr.npy``, ``.shape.json``."""
    m = sp.csr_matrix(m)
    np.save(f"{prefix}.data.npy", m.data)
    np.save(f"{prefix}.indices.npy", m.indices)
    np.save(f"{prefix}.indptr.npy", m.indptr)
    Path(f"{prefix}.shape.json").write_text(json.dumps(list(m.shape)), encoding="utf-8")


def load_csr(prefix: Path, mmap: bool = True) -> sp.csr_matrix:
    """Read a matrix written by :func:`save_csr` (memory-mapped when ``mmap``)."""
    mode = "r" if mmap else None
    shape = tuple(json.loads(Path(f"{prefix}.shape.json").read_text(encoding="utf-8")))
    data = np.load(f"{prefix}.data.npy", mmap_mode=mode)
    indices = np.load(f"{prefix}.indices.npy", mmap_mode=mode)
    indptr = np.load(f"{prefix}.indptr.npy", mmap_mode=mode)
    return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)
