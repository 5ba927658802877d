import math

import pytest

from recommender.metrics import coverage, ndcg_at_k, recall_at_k


def test_recall_hand_computed():
    assert recall_at_k([1, 2, 3, 4], [2, 9], k=2) == pytest.approx(0.5)
    assert recall_at_k([1, 2, 3, 4], [2, 4], k=4) == pytest.approx(1.0)
    # capped denominator: 3 relevant, k=2, both top-2 hit -> 1.0
    assert recall_at_k([5, 6, 7], [5, 6, 7], k=2) == pytest.approx(1.0)
    assert recall_at_k([1], [], k=5) == 0.0


def test_ndcg_hand_computed():
    # hit at rank 2 of 1 relevant: (1/log2(3)) / 1
    assert ndcg_at_k([1, 2, 3], [2], k=3) == pytest.approx(1 / math.log2(3))
    # hits at ranks 1 and 3 of 2 relevant
    expected = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k([7, 1, 8], [7, 8], k=3) == pytest.approx(expected)
    assert ndcg_at_k([7, 8], [7, 8], k=2) == pytest.approx(1.0)
    assert ndcg_at_k([1, 2], [3], k=2) == 0.0


def test_coverage():
    assert coverage([[0, 1], [1, 2]], 10) == pytest.approx(0.3)
    assert coverage([], 0) == 0.0
