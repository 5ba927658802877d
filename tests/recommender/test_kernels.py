"""The compiled loops and the request path's selections against plain numpy and scipy, on
matrices in memory and memory-mapped."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommender import kernels
from recommender.sparse_utils import (
    dense_block,
    largest,
    load_csr,
    member,
    save_csr,
    sparse_row_sum,
)


@pytest.fixture(params=["memory", "mapped"])
def matrix(request, tmp_path) -> sp.csr_matrix:
    m = sp.random(300, 2000, density=0.02, format="csr", dtype=np.float32, random_state=3)
    if request.param == "mapped":
        save_csr(tmp_path / "m", m)
        m = load_csr(tmp_path / "m")
    return m


@pytest.mark.parametrize("ordered", [True, False])
def test_row_sums_equal_scipys_and_leave_the_work_vectors_clean(matrix, ordered):
    rng = np.random.default_rng(0)
    for size in (0, 1, 7, 120, 300):
        rows = rng.choice(300, size, replace=False)
        weights = rng.random(size)
        cols, sums = sparse_row_sum(matrix, rows, weights, ordered=ordered)
        expected = np.asarray(weights @ matrix[rows].toarray(), np.float64).ravel()
        touched = np.flatnonzero(np.diff(matrix[rows].tocsc().indptr))
        assert sorted(cols.tolist()) == touched.tolist()
        if ordered:
            assert np.all(np.diff(cols) > 0)
        np.testing.assert_allclose(sums, expected[cols], rtol=1e-12)
        work, marks = kernels.scratch(matrix.shape[1])
        assert not work.any() and not marks.any()


def test_blocks_equal_scipys_for_columns_in_any_order(matrix):
    rng = np.random.default_rng(1)
    rows = rng.choice(300, 40, replace=False)
    cols = rng.choice(2000, 90, replace=False)  # not sorted
    np.testing.assert_array_equal(dense_block(matrix, rows, cols), matrix[rows][:, cols].toarray())
    assert (kernels.slots(matrix.shape[1]) == -1).all()
    assert dense_block(matrix, rows, cols[:0]).shape == (40, 0)


def test_common_counts_count_the_columns_two_rows_share(matrix):
    rng = np.random.default_rng(2)
    a, b = rng.integers(0, 300, 50), rng.integers(0, 300, 50)
    counts = kernels.common_counts(matrix.indptr, matrix.indices, a, b)
    for i in range(50):
        shared = set(matrix[a[i]].indices) & set(matrix[b[i]].indices)
        assert counts[i] == len(shared)


def test_largest_keeps_the_k_largest_and_breaks_ties_by_position():
    rng = np.random.default_rng(4)
    for _ in range(300):
        values = rng.integers(0, 6, int(rng.integers(0, 40))).astype(np.float64)  # many ties
        k = int(rng.integers(0, 45))
        expected = np.sort(np.lexsort((np.arange(values.size), -values))[:k])
        np.testing.assert_array_equal(largest(values, k), expected)


def test_member_is_isin():
    rng = np.random.default_rng(5)
    for _ in range(200):
        x = rng.integers(0, 50, int(rng.integers(0, 30)))
        values = rng.integers(0, 50, int(rng.integers(0, 30)))  # unsorted, repeated
        np.testing.assert_array_equal(member(x, values), np.isin(x, values))


def test_a_function_numba_cannot_cache_is_compiled_without_a_cache():
    namespace: dict = {}
    exec("def twice(x):\n    return 2 * x\n", namespace)  # no file: nowhere to keep a cache
    assert kernels.compiled(namespace["twice"])(21) == 42


def test_each_thread_keeps_one_work_vector_per_name_and_length():
    import threading

    first = kernels.work_vector("test-query", 50, np.float32)
    assert first.dtype == np.float32 and first.shape == (50,) and not first.any()
    first[3] = 1.0  # a caller that did not clean up: the same vector comes back as it was left
    assert kernels.work_vector("test-query", 50, np.float32) is first
    assert kernels.work_vector("test-slots", 50, np.int32, -1).tolist() == [-1] * 50
    # one over papers and one over terms live side by side
    other = kernels.work_vector("test-query", 60, np.float32)
    assert other.shape == (60,) and kernels.work_vector("test-query", 50, np.float32) is first
    elsewhere = []
    thread = threading.Thread(
        target=lambda: elsewhere.append(kernels.work_vector("test-query", 60, np.float32))
    )
    thread.start()
    thread.join()
    assert elsewhere[0] is not other
