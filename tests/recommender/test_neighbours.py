import numpy as np
import pytest
import scipy.sparse as sp

from recommender.neighbours import (
    KINDS,
    ease_neighbours,
    item_neighbours,
    sample_rows,
    spd_inverse,
)
from recommender.sparse_utils import block_topk, topk_per_row

X = sp.csr_matrix(
    np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]], dtype=np.float32)
)


def test_rp3beta_hand_computed():
    s = item_neighbours(X, k=3, kind="rp3beta", alpha=1.0, beta=0.5)
    # P(0 -> u -> 1) = sum over readers u of 0 (u0, u1, each read 2 papers) of
    # (1/deg_0) * (1/deg_u) = 1/2 * (1/2 + 1/2) = 0.5, divided by deg_1^0.5 = sqrt(3)
    assert s[0, 1] == pytest.approx(0.5 / np.sqrt(3), rel=1e-5)
    assert s[0, 2] == 0 and s[0, 3] == 0  # never co-read
    assert np.all(s.diagonal() == 0)


def _reads(n_users, n_papers, density, seed):
    """A random 0/1 users x papers matrix."""
    x = sp.random(n_users, n_papers, density=density, format="csr", random_state=seed)
    x.data[:] = 1.0
    return sp.csr_matrix(x, dtype=np.float32)


@pytest.mark.parametrize("kind", KINDS)
def test_native_matches_exact(kind):
    x = _reads(300, 80, 0.06, seed=1)
    full_native = item_neighbours(x, k=200, kind=kind)
    full_exact = item_neighbours(x, k=200, kind=kind, exact=True)
    np.testing.assert_allclose(full_native.toarray(), full_exact.toarray(), rtol=1e-4, atol=1e-6)
    a = item_neighbours(x, k=8, kind=kind)
    assert np.diff(a.indptr).max() <= 8 and np.all(a.diagonal() == 0)


@pytest.mark.parametrize("kind", KINDS)
def test_native_top_k_holds_the_exact_top_k_values(kind):
    x = _reads(400, 120, 0.05, seed=2)
    native = item_neighbours(x, k=8, kind=kind)
    exact = item_neighbours(x, k=8, kind=kind, exact=True)
    assert native.nnz == exact.nnz > 0
    for i in range(120):  # the same values in each row (tied papers may differ)
        got = np.sort(native.data[native.indptr[i] : native.indptr[i + 1]])
        want = np.sort(exact.data[exact.indptr[i] : exact.indptr[i + 1]])
        np.testing.assert_allclose(got, want, rtol=1e-4)


def test_topk_per_row_ties_by_column():
    m = sp.csr_matrix(np.array([[3, 1, 3, 0, 2], [0, 0, 0, 0, 0], [1, 2, 0, 0, 0]], np.float32))
    assert topk_per_row(m, 2).toarray().tolist() == [[3, 0, 3, 0, 0], [0] * 5, [1, 2, 0, 0, 0]]


@pytest.mark.parametrize("n", [50, 2500])  # within one block of the mirroring, and across three
def test_spd_inverse(n):
    a = np.random.default_rng(0).random((n, n)).astype(np.float32)
    g = a @ a.T + n * np.eye(n, dtype=np.float32)
    work = g.copy()
    inverse = spd_inverse(work)
    assert np.shares_memory(inverse, work)  # in place: no second n x n matrix
    np.testing.assert_allclose(inverse, inverse.T)
    np.testing.assert_allclose(inverse, np.linalg.inv(g.astype(np.float64)), rtol=1e-3, atol=1e-9)


@pytest.mark.parametrize("n, max_rows", [(300, 100), (301, 150), (7, 1)])
def test_spd_inverse_by_blocks(n, max_rows):
    """A matrix with more rows than one LAPACK call takes (SciPy's LAPACK crashed on 24,000
    float32 rows) is inverted through Schur complements, in place, to the same inverse."""
    a = np.random.default_rng(1).random((n, n)).astype(np.float32)
    g = a @ a.T + n * np.eye(n, dtype=np.float32)
    work = g.copy()
    inverse = spd_inverse(work, max_rows=max_rows)
    assert np.shares_memory(inverse, work)
    np.testing.assert_allclose(inverse, inverse.T, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(inverse, np.linalg.inv(g.astype(np.float64)), rtol=1e-3, atol=1e-9)


def test_ease_head_only_covers_most_read_papers():
    x = sp.csr_matrix(np.array([[1, 1, 1, 0]] * 3 + [[1, 1, 0, 1]], np.float32))
    e = ease_neighbours(x, regularization=1.0, max_items=2, k=5)
    assert set(zip(*e.nonzero(), strict=False)) <= {(0, 1), (1, 0)}
    assert e[0, 1] > 0


def test_topk_per_row_in_chunks_equals_one_block(monkeypatch):
    import recommender.sparse_utils as sparse_utils

    m = sp.random(300, 200, density=0.1, random_state=0, format="csr", dtype=np.float32)
    m.data = np.round(m.data * 5) / 5  # many ties
    whole = topk_per_row(m, 7)
    monkeypatch.setattr(sparse_utils, "MAX_PADDED_CELLS", 100)  # a few rows per chunk
    chunked = topk_per_row(m, 7)
    assert (whole != chunked).nnz == 0
    assert np.diff(chunked.indptr).max() == 7


@pytest.mark.parametrize("cells", [None, 100])  # one chunk; a few rows per chunk
def test_block_topk_equals_topk_per_row(monkeypatch, cells):
    import recommender.sparse_utils as sparse_utils

    rng = np.random.default_rng(3)
    n_rows, width, n_cols, k = 200, 12, 40, 5
    cols = np.stack([rng.choice(n_cols, width, replace=False) for _ in range(n_rows)])
    vals = np.round(rng.random((n_rows, width)) * 4) / 4  # many ties, and zeros (empty slots)
    vals[:20, 3:] = 0  # rows with fewer than k entries
    rows = (vals.ravel().copy(), cols.ravel().copy(), np.arange(0, n_rows * width + 1, width))
    expected = topk_per_row(sp.csr_matrix(rows, shape=(n_rows, n_cols)), k)
    expected.eliminate_zeros()
    if cells:
        monkeypatch.setattr(sparse_utils, "MAX_PADDED_CELLS", cells)
    got = block_topk(vals, cols, k, n_cols)
    assert got.dtype == np.float32 and got.has_sorted_indices
    assert np.array_equal(got.indptr, expected.indptr)
    assert np.array_equal(got.indices, expected.indices)
    np.testing.assert_array_equal(got.data, expected.data.astype(np.float32))


def test_heavy_readers_count_with_a_sample_of_their_papers():
    x = _reads(50, 400, 0.05, seed=3).tolil()
    x[0, :300] = 1.0  # one reader of 300+ papers
    x = sp.csr_matrix(x)
    capped = sample_rows(x, 40, seed=1)
    lengths = np.diff(capped.indptr)
    assert lengths[0] == 40 and np.array_equal(lengths[1:], np.minimum(np.diff(x.indptr), 40)[1:])
    assert (capped.multiply(x) != capped).nnz == 0  # a subset of the reader's own papers
    assert (sample_rows(x, 40, seed=1) != capped).nnz == 0  # the same sample for a seed
    light = x[1:]
    assert (item_neighbours(light, k=5) != item_neighbours(light, k=5, max_per_user=40)).nnz == 0
