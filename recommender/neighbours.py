"""Sparse item-item neighbourhoods from co-reading (RP3beta, BM25, cosine).

Owns the (papers x papers) top-k similarity matrix ``S``: row ``i`` holds the
papers most related to paper ``i`` by who read both. A user's score for paper ``j``
is ``sum_i h_i * S[i, j]`` over the history ``h``, so scoring touches only the
history rows (fast at any catalog size). Top-k pairs come from implicit's native
``all_pairs_knn`` (an exact chunked scipy version is kept for checks); memory is
``n_papers * k`` entries.
"""

from __future__ import annotations

import math
import os

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from implicit._nearest_neighbours import all_pairs_knn
from implicit.nearest_neighbours import bm25_weight

from .sparse_utils import block_topk, topk_per_row

KINDS = ("rp3beta", "bm25", "cosine")


def item_neighbours(
    user_items: sp.csr_matrix,
    k: int = 100,
    kind: str = "rp3beta",
    beta: float = 0.5,
    alpha: float = 1.0,
    binary: bool = True,
    num_threads: int = 0,
    exact: bool = False,
    max_per_user: int | None = None,
    seed: int = 0,
) -> sp.csr_matrix:
    """Top-``k`` item-item similarity, without self-similarity.

    Parameters
    ----------
    user_items : csr_matrix, shape (n_users, n_papers)
        Confidence matrix.
    k : int
        Neighbours kept per paper.
    kind : {"rp3beta", "bm25", "cosine"}
        ``rp3beta``: 3-step random-walk probability ``P(i -> u -> j)`` divided by
        ``popularity_j ** beta`` (Paudel et al. 2017); ``bm25``: BM25-weighted co-occurrence
        (as implicit's BM25Recommender); ``cosine``: cosine of the item columns.
    beta : float
        RP3beta popularity penalty.
    alpha : float
        RP3beta exponent on the transition probabilities' degree normalisation.
    binary : bool
        Use 0/1 instead of the confidences (recommended for RP3beta).
    exact : bool
        Exact top-k with chunked scipy products (slow; for checks). The default uses
        implicit's native multithreaded ``all_pairs_knn`` (20x faster on citeulike-t).
    max_per_user : int, optional
        Users with more papers count with a random sample of this many (``seed``), as
        Mahout's item similarity samples down ``maxPrefsPerUser``: the work grows with the
        square of a user's papers, so the few heaviest readers dominate it, while each of
        their pairs weighs little (RP3beta divides by the user's degree).

    Returns
    -------
    csr_matrix of float32, shape (n_papers, n_papers)
    """
    if kind not in KINDS:
        raise ValueError(f"unknown neighbourhood kind {kind!r}; expected one of {KINDS}")
    x = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    x.eliminate_zeros()
    if max_per_user is not None:
        x = sample_rows(x, max_per_user, seed)
    n_users, n_items = x.shape
    if binary:
        x.data[:] = 1.0
    if x.nnz == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    item_deg = np.asarray(x.sum(axis=0)).ravel().astype(np.float64)
    user_deg = np.asarray(x.sum(axis=1)).ravel().astype(np.float64)
    if not exact:
        return _native_neighbours(x, k, kind, alpha, beta, item_deg, user_deg, num_threads)
    if kind == "rp3beta":
        # S[i, j] = sum_u (x_ui / deg_i^alpha) (x_uj / deg_u^alpha) / deg_j^beta
        left = x @ sp.diags(np.power(np.maximum(item_deg, 1e-12), -alpha).astype(np.float32))
        right = sp.diags(np.power(np.maximum(user_deg, 1e-12), -alpha).astype(np.float32)) @ x
        right = right @ sp.diags(np.power(np.maximum(item_deg, 1e-12), -beta).astype(np.float32))
    elif kind == "bm25":
        left = right = _bm25(x)
    else:
        left = right = _cosine_columns(x)
    return topk_product(sp.csr_matrix(left), sp.csr_matrix(right), k)


def sample_rows(x: sp.csr_matrix, cap: int, seed: int = 0) -> sp.csr_matrix:
    """``x`` with each row of more than ``cap`` entries cut to a random ``cap`` of them."""
    lengths = np.diff(x.indptr)
    heavy = np.flatnonzero(lengths > cap)
    if heavy.size == 0:
        return x
    rng = np.random.default_rng(seed)
    keep = np.ones(x.nnz, bool)
    for row in heavy:
        start, length = x.indptr[row], lengths[row]
        keep[start + rng.choice(length, length - cap, replace=False)] = False
    indptr = np.concatenate(([0], np.cumsum(np.minimum(lengths, cap))))
    return sp.csr_matrix((x.data[keep], x.indices[keep], indptr), shape=x.shape)


def _bm25(x: sp.csr_matrix) -> sp.csr_matrix:
    return sp.csr_matrix(bm25_weight(x.T, K1=1.2, B=0.75).T, dtype=np.float32)


def _cosine_columns(x: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    return sp.csr_matrix(x @ sp.diags((1.0 / np.maximum(norms, 1e-12)).astype(np.float32)))


def _native_neighbours(x, k, kind, alpha, beta, item_deg, user_deg, num_threads):
    """Top-k via implicit's native ``all_pairs_knn`` (the top-K of each row of a symmetric
    product A'A).

    RP3beta ``S_ij = deg_i^-a C_ij deg_j^-b`` with ``C = X' D_u^-a X`` is not symmetric, but
    within row ``i`` it ranks ``j`` exactly as the symmetric ``M_ij = deg_i^-b C_ij deg_j^-b``
    (``A = D_u^-a/2 X D_i^-b``) does, the two differing by the row's own factor: so the top
    k + 1 of ``M`` (one may be the paper itself) rescaled by ``deg_i^(b - a)`` are RP3beta's
    top k.
    """
    n_items = x.shape[1]
    n_cand = k + 1
    if kind == "rp3beta":
        ru = np.power(np.maximum(user_deg, 1e-12), -alpha / 2.0)
        ci = np.power(np.maximum(item_deg, 1e-12), -beta)
        a = sp.diags(ru) @ sp.csr_matrix(x, dtype=np.float64) @ sp.diags(ci)
    elif kind == "bm25":
        a = _bm25(x)
    else:
        a = _cosine_columns(x)
    a = sp.csr_matrix(a, dtype=np.float64)
    width = min(n_cand, n_items)
    s = all_pairs_knn(a, K=width, num_threads=num_threads, show_progress=False)
    if s.nnz != n_items * width:  # not the fixed-width layout read below
        raise RuntimeError(f"all_pairs_knn gave {s.nnz} entries, not {n_items} x {width}")
    # all_pairs_knn fills ``width`` slots per paper, paper after paper (unused slots hold 0), so
    # its arrays are already (n_items, width) blocks: rescored and cut there, the 50M candidate
    # pairs of 500k papers never go through a COO -> CSR conversion or a sparse top-k.
    val = s.data.reshape(n_items, width).astype(np.float32)
    cols = s.col.reshape(n_items, width)
    del s
    if kind == "rp3beta":  # exact value = M_ij * deg_i^(b - a)
        d = np.maximum(item_deg, 1e-12)
        val *= np.power(d, beta - alpha).astype(np.float32)[:, None]
    val[cols == np.arange(n_items, dtype=cols.dtype)[:, None]] = 0.0  # no self-similarity
    return block_topk(val, cols, k, n_items)


def topk_product(
    left: sp.csr_matrix, right: sp.csr_matrix, k: int, max_chunk_nnz: int = 20_000_000
) -> sp.csr_matrix:
    """Top-``k`` entries per row of ``left.T @ right``, excluding the diagonal.

    Computed in row chunks sized so that no intermediate product holds more than about
    ``max_chunk_nnz`` entries (memory stays bounded on large catalogs).

    Parameters
    ----------
    left, right : csr_matrix, shape (n_users, n_items)

    Returns
    -------
    csr_matrix of float32, shape (n_items, n_items)
    """
    n_items = left.shape[1]
    lt = sp.csr_matrix(left.T, dtype=np.float32)
    right = sp.csr_matrix(right, dtype=np.float32)
    user_nnz = np.diff(right.indptr).astype(np.float64)
    binary_lt = sp.csr_matrix((np.ones(lt.nnz), lt.indices, lt.indptr), shape=lt.shape)
    est = np.minimum(binary_lt @ user_nnz, n_items)
    blocks = []
    start = 0
    while start < n_items:
        stop = start + 1
        budget = est[start]
        while stop < n_items and budget + est[stop] <= max_chunk_nnz and stop - start < 4096:
            budget += est[stop]
            stop += 1
        block = (lt[start:stop] @ right).tocoo()
        off = block.row + start != block.col
        block = sp.csr_matrix(
            (block.data[off], (block.row[off], block.col[off])), shape=(stop - start, n_items)
        )
        blocks.append(topk_per_row(block, k))
        start = stop
    s = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix((0, n_items))
    s = sp.csr_matrix(s, dtype=np.float32)
    s.sort_indices()
    return s


# The most rows LAPACK inverts in one call (1 GiB of float32). SciPy's float32 Cholesky crashed
# the process (a segmentation fault) on matrices of 24,000 and 26,523 rows here, and numpy's
# threaded products on results of that size; 23,000 rows worked (under 2 GiB). Larger matrices
# are inverted a block at a time (:func:`_spd_inverse_by_blocks`).
LAPACK_MAX_ROWS = 16_384


def spd_inverse(g: np.ndarray, max_rows: int = LAPACK_MAX_ROWS) -> np.ndarray:
    """Inverse of a symmetric positive definite float32 matrix via Cholesky (LAPACK
    potrf + potri, about twice as fast as LU); overwrites ``g`` and returns it (a
    C-ordered ``g`` is handed to LAPACK as its transpose, which is the same matrix in
    Fortran order, so no copy is made). Above ``max_rows`` rows, by blocks."""
    if g.shape[0] > max_rows:
        return _spd_inverse_by_blocks(g, max_rows)
    if g.flags.c_contiguous and not g.flags.f_contiguous:
        return spd_inverse(g.T, max_rows).T
    c, info = scipy.linalg.lapack.spotrf(g, lower=False, overwrite_a=True, clean=False)
    if info:
        raise np.linalg.LinAlgError(f"Cholesky factorisation failed ({info})")
    p, info = scipy.linalg.lapack.spotri(c, lower=False, overwrite_c=True)
    if info:
        raise np.linalg.LinAlgError(f"inverse from Cholesky failed ({info})")
    # potri fills the upper triangle only: mirror it block by block (index arrays for the
    # whole triangle would take 16 bytes per entry)
    block = 1024
    for lo in range(0, p.shape[0], block):
        hi = lo + block
        p[lo:hi, :lo] = p[:lo, lo:hi].T
        diagonal = p[lo:hi, lo:hi]
        diagonal[:] = np.triu(diagonal) + np.triu(diagonal, 1).T
    return p


def _spd_inverse_by_blocks(g: np.ndarray, max_rows: int) -> np.ndarray:
    """:func:`spd_inverse` of a matrix too large for one LAPACK call, through the Schur
    complement of its leading block: with ``g = [[A, B], [B', D]]``, ``W = A^-1 B`` and
    ``S = D - B' W``, the inverse is ``[[A^-1 + W S^-1 W', -W S^-1], [-S^-1 W', S^-1]]``.
    ``A`` and ``S`` (half the rows each) go to :func:`spd_inverse` (by blocks again if still
    too large), and no product's result is larger than ``max_rows`` squared
    (:func:`_matmul_by_rows`). Overwrites ``g`` and returns it."""
    m = g.shape[0] // 2
    cap = max_rows * max_rows
    a_inv = spd_inverse(np.array(g[:m, :m]), max_rows)
    w = _matmul_by_rows(a_inv, g[:m, m:], cap)
    schur = g[m:, m:]
    _matmul_by_rows(g[:m, m:].T, w, cap, out=schur, combine=np.subtract)
    s_inv = spd_inverse(np.array(schur), max_rows)
    corner = _matmul_by_rows(w, s_inv, cap)  # W S^-1: minus the top-right block
    _matmul_by_rows(corner, w.T, cap, out=a_inv, combine=np.add)
    del w
    g[:m, :m] = a_inv
    del a_inv
    np.negative(corner, out=g[:m, m:])
    g[m:, :m] = g[:m, m:].T
    g[m:, m:] = s_inv
    return g


def _matmul_by_rows(
    a: np.ndarray,
    b: np.ndarray,
    max_entries: int,
    out: np.ndarray | None = None,
    combine: np.ufunc | None = None,
) -> np.ndarray:
    """``a @ b``, a block of ``a``'s rows at a time so that no product's result holds more
    than ``max_entries`` (numpy's threaded float32 products crashed here on results past
    2 GiB): into ``out`` (a new array when None), or, with ``combine`` (``np.add``,
    ``np.subtract``), combined with what ``out`` holds."""
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    rows = max(1, max_entries // max(1, b.shape[1]))
    for lo in range(0, a.shape[0], rows):
        hi = lo + rows
        if combine is None:
            np.matmul(a[lo:hi], b, out=out[lo:hi])
        else:
            combine(out[lo:hi], a[lo:hi] @ b, out=out[lo:hi])
    return out


# What fitting EASE over n papers holds at its peak, per entry of its n x n dense matrix: the
# float32 matrix itself, the sparse Gram it is made from and the process around it (measured
# on citeulike-t: 3.2 GB at 16,000 papers, 7.8 GB at 25,975).
EASE_BYTES_PER_ENTRY = 12


def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def ease_items_within(memory_bytes: float) -> int:
    """How many papers EASE can cover while its fit stays within ``memory_bytes``."""
    return int(math.sqrt(max(memory_bytes, 0) / EASE_BYTES_PER_ENTRY))


def ease_neighbours(
    user_items: sp.csr_matrix,
    regularization: float = 300.0,
    max_items: int = 8000,
    k: int = 200,
) -> sp.csr_matrix:
    """EASE^R (Steck 2019) restricted to the ``max_items`` most-read papers, sparsified.

    ``B = I - P / diag(P)`` with ``P = (X'X + l I)^-1`` over the head papers only, so the
    dense work is one ``max_items^2`` float32 matrix (256 MB at 8,000), inverted in place,
    whatever the catalog size; each row then keeps its ``k`` largest weights, a block of
    rows at a time. Papers outside the head get no row or column (the RP3beta
    neighbourhood and text cover them).

    Returns
    -------
    csr_matrix of float32, shape (n_papers, n_papers)
    """
    x = sp.csr_matrix(user_items, dtype=np.float32, copy=True)
    x.eliminate_zeros()
    x.data[:] = 1.0
    n_items = x.shape[1]
    counts = np.diff(x.tocsc().indptr)
    head = np.flatnonzero(counts > 0)
    if head.size > max_items:
        head = np.sort(np.argsort(-counts, kind="stable")[:max_items])
    if head.size == 0:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    xh = x[:, head]
    g = np.asarray((xh.T @ xh).toarray(), dtype=np.float32)
    g[np.diag_indices_from(g)] += regularization
    p = spd_inverse(g)  # in place: g is p now
    d = np.diag(p).copy()
    p /= -d[None, :]
    p[np.diag_indices_from(p)] = 0.0
    np.maximum(p, 0.0, out=p)  # negative weights only push down; keep the positive evidence
    if k < head.size:
        block = 1024  # rows at a time: a whole-matrix argpartition would hold n^2 int64
        cut = np.concatenate(
            [
                np.argpartition(p[lo : lo + block], head.size - k, axis=1)[:, head.size - k :]
                for lo in range(0, head.size, block)
            ]
        )
        rows = np.repeat(np.arange(head.size), k)
        vals = np.take_along_axis(p, cut, axis=1).ravel()
        cols = cut.ravel()
    else:
        rows, cols = np.nonzero(p)
        vals = p[rows, cols]
    keep = vals > 0
    out = sp.csr_matrix(
        (vals[keep], (head[rows[keep]], head[cols[keep]])), shape=(n_items, n_items)
    )
    out.sort_indices()
    return sp.csr_matrix(out, dtype=np.float32)
